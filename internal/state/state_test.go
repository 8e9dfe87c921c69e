package state

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/whalewatch/whalewatch/event"
)

func msg(i int, dests ...string) Message {
	return Message{ID: fmt.Sprint("id", i), Data: []byte(fmt.Sprint(i)), Dests: dests}
}

func TestOutboxIsFIFOAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i := range 5 {
		res, err := s.Commit([]Message{msg(i, "a", "b")}, Snapshot{}, 4, now)
		if err != nil || (i < 4 && len(res.Full) > 0) || (i == 4 && len(res.Full) != 2) {
			t.Fatalf("commit %d: %+v err=%v", i, res, err)
		}
	}
	e, ok, _ := first(s, "a")
	if !ok || string(e.Data) != "0" {
		t.Fatalf("first = %q", e.Data)
	}
	if err := s.Remove("a", e.Seq); err != nil {
		t.Fatal(err)
	}
	snap := Snapshot{Cursors: map[string]int64{"h": 42}, Running: map[string]map[string]*event.Container{"h": {"c1": {Name: "web"}, "c2": {Name: "db"}}},
		Core: map[string][]byte{"loop/a": []byte(`{"count":1}`), "loop/b": []byte(`{}`)}}
	if _, err := s.Commit(nil, snap, 4, now); err != nil {
		t.Fatal(err)
	}
	// The next commit carries only changes: c2 stopped, loop/b deleted.
	snap = Snapshot{Running: map[string]map[string]*event.Container{"h": {"c2": nil}}, Core: map[string][]byte{"loop/b": nil}}
	if _, err := s.Commit(nil, snap, 4, now); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMute("web-*", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Len("a") != 3 || s.Len("b") != 4 {
		t.Errorf("lengths after reopen: a=%d b=%d", s.Len("a"), s.Len("b"))
	}
	if e, _, _ := first(s, "a"); string(e.Data) != "1" {
		t.Errorf("first after reopen = %q", e.Data)
	}
	got, err := s.LoadSnapshot()
	if err != nil || got.Cursors["h"] != 42 || len(got.Running["h"]) != 1 || got.Running["h"]["c1"].Name != "web" ||
		len(got.Core) != 1 || string(got.Core["loop/a"]) != `{"count":1}` {
		t.Errorf("snapshot = %+v %v", got, err)
	}
	mutes, _ := s.Mutes(time.Now())
	if _, ok := mutes["web-*"]; !ok {
		t.Errorf("mutes = %v", mutes)
	}
	if m, _ := s.Mutes(time.Now().Add(2 * time.Hour)); len(m) != 0 {
		t.Errorf("expired mute still in force: %v", m)
	}
}

// An id already queued, or delivered within IDTTL, is refused; after the
// TTL it is accepted again.
func TestCommitRefusesKnownIDsForTheirTTL(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	commit := func(at time.Time) Outcome {
		t.Helper()
		res, err := s.Commit([]Message{msg(1, "a")}, Snapshot{}, 10, at)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	if res := commit(now); res.Queued["a"] != 1 {
		t.Fatalf("first: %+v", res)
	}
	if res := commit(now); res.Duplicate != 1 || res.Queued["a"] != 0 {
		t.Errorf("while queued: %+v", res)
	}
	e, _, _ := first(s, "a")
	_ = s.Remove("a", e.Seq) // delivered
	if res := commit(now.Add(time.Hour)); res.Duplicate != 1 {
		t.Errorf("an hour after delivery: %+v", res)
	}
	if res := commit(now.Add(IDTTL + time.Minute)); res.Queued["a"] != 1 {
		t.Errorf("after the TTL: %+v", res)
	}
}

// A file from a newer whalewatch is refused with a clear message; a
// format-1 file keeps its outbox and drops its old checkpoints.
func TestFormatVersion(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "whalewatch.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		out, _ := tx.CreateBucket(bucketOutbox)
		q, _ := out.CreateBucket([]byte("stdout"))
		_ = q.Put(key(1), []byte(`{"ID":"msg_1","Rule":"CRASHED"}`))
		cur, _ := tx.CreateBucket(bucketCursor)
		return cur.Put([]byte("h"), []byte(`{"cursor":42,"running":{}}`))
	})
	_ = db.Close()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !s.Upgraded || s.Len("stdout") != 1 {
		t.Errorf("upgrade: upgraded=%v outbox=%d", s.Upgraded, s.Len("stdout"))
	}
	if _, _, err := first(s, "stdout"); err == nil {
		t.Error("a format-1 entry was read before its upgrade")
	}
	refuse := func([]byte) ([]byte, error) { return nil, errors.New("not a notification") }
	if err := s.UpgradeOutbox(refuse); err == nil || !strings.Contains(err.Error(), "outbox entry 1 of stdout") {
		t.Errorf("refused upgrade: %v", err)
	}
	if err := s.UpgradeOutbox(func(old []byte) ([]byte, error) { return append([]byte("v2:"), old...), nil }); err != nil {
		t.Fatal(err)
	}
	if e, _, err := first(s, "stdout"); err != nil || !strings.HasPrefix(string(e.Data), "v2:") {
		t.Errorf("after the upgrade: %q %v", e.Data, err)
	}
	if snap, err := s.LoadSnapshot(); err != nil || len(snap.Cursors) != 0 {
		t.Errorf("old checkpoint kept: %+v %v", snap, err)
	}
	_ = s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketMeta).Put([]byte("format"), []byte("99")) })
	s.Close()
	if _, err := Open(dir); err == nil || !strings.Contains(err.Error(), "newer whalewatch (state format 99") {
		t.Errorf("newer file: %v", err)
	}
}

// A button is taken once, survives a reopen, and not after it expires.
func TestButtonsAreSingleUseAndDurable(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	now := time.Now()
	_ = s.PutButton("t1", []byte("start web"), now.Add(time.Hour))
	_ = s.PutButton("t2", []byte("stop web"), now.Add(time.Hour))
	s.Close()
	s, _ = Open(dir)
	defer s.Close()
	if data, ok, err := s.TakeButton("t1", now); !ok || err != nil || string(data) != "start web" {
		t.Errorf("take after reopen: %q %v %v", data, ok, err)
	}
	if _, ok, _ := s.TakeButton("t1", now); ok {
		t.Error("taken twice")
	}
	if _, ok, _ := s.TakeButton("t2", now.Add(2*time.Hour)); ok {
		t.Error("expired button taken")
	}
}

func TestTemporaryStateIsRemoved(t *testing.T) {
	s, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	if s.Durable() {
		t.Error("temporary state claims to be durable")
	}
	if _, err := s.Commit([]Message{msg(1, "a")}, Snapshot{}, 10, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// A format-2 file keeps its checkpoint: each host's running set becomes a
// key per container, and the core's one-piece state stays for the core to
// read (and replace by entries at its next commit).
func TestFormat2CheckpointIsKept(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "whalewatch.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		_ = meta.Put([]byte("format"), []byte("2"))
		_, _ = tx.CreateBucket(bucketOutbox)
		cur, _ := tx.CreateBucket(bucketCursor)
		_ = cur.Put([]byte("h"), []byte("42"))
		run, _ := tx.CreateBucket(bucketRunning)
		_ = run.Put([]byte("h"), []byte(`{"c1":{"name":"web","image":"shop/web"}}`))
		core, _ := tx.CreateBucket(bucketCore)
		return core.Put([]byte("state"), []byte(`{"version":1}`))
	})
	_ = db.Close()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.LoadSnapshot()
	if err != nil || snap.Cursors["h"] != 42 || snap.Running["h"]["c1"] == nil || snap.Running["h"]["c1"].Image != "shop/web" || string(snap.Core["state"]) != `{"version":1}` {
		t.Errorf("after the upgrade: %+v %v", snap, err)
	}
}

// first is the oldest entry of a destination's queue.
func first(s *Store, dest string) (Entry, bool, error) {
	entries, err := s.Entries(dest, 0, 1)
	if err != nil || len(entries) == 0 {
		return Entry{}, false, err
	}
	return entries[0], true, nil
}

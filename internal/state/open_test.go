package state

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

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

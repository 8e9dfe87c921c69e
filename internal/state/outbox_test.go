package state

import (
	"fmt"
	"testing"
	"time"

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

// first is the oldest entry of a destination's queue.
func first(s *Store, dest string) (Entry, bool, error) {
	entries, err := s.Entries(dest, 0, 1)
	if err != nil || len(entries) == 0 {
		return Entry{}, false, err
	}
	return entries[0], true, nil
}

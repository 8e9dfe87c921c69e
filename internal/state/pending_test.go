package state

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

// disk is a fault seam: while err holds an error, every write fails with it.
type disk struct{ err atomic.Value }

func (d *disk) fail(err error) { d.err.Store(&err) }
func (d *disk) heal()          { var none error; d.err.Store(&none) }
func (d *disk) before(string) error {
	if p, _ := d.err.Load().(*error); p != nil {
		return *p
	}
	return nil
}

func datas(entries []Entry) []string {
	var out []string
	for _, e := range entries {
		out = append(out, string(e.Data))
	}
	return out
}

// While the file cannot be written, commits and removals are kept in
// memory, in order: the queue is read from memory, a delivered entry is
// never given again, ids are still refused; once the disk heals, Flush
// writes it all and the file holds exactly what sequential commits would
// have left.
func TestUnwritableStateKeepsCommitsInMemoryInOrder(t *testing.T) {
	for _, fault := range []error{syscall.ENOSPC, syscall.EIO, syscall.EROFS} {
		t.Run(fault.Error(), func(t *testing.T) {
			dir := t.TempDir()
			d := &disk{}
			s, err := OpenWith(dir, Options{BeforeWrite: d.before})
			if err != nil {
				t.Fatal(err)
			}
			now := time.Now()
			commit := func(m Message, snap Snapshot) Outcome {
				t.Helper()
				res, err := s.Commit([]Message{m}, snap, 10, now)
				if err != nil {
					t.Fatalf("commit %s: %v", m.ID, err)
				}
				return res
			}
			commit(msg(1, "a"), Snapshot{Cursors: map[string]int64{"h": 1}, Running: map[string]map[string]*event.Container{"h": {"c1": {Name: "one"}}},
				Core: map[string][]byte{"k1": []byte("v1")}})
			d.fail(fault)
			commit(msg(2, "a"), Snapshot{Cursors: map[string]int64{"h": 2}, Running: map[string]map[string]*event.Container{"h": {"c1": nil, "c2": {Name: "two"}}},
				Core: map[string][]byte{"k1": nil, "k2": []byte("v2")}})
			if !errors.Is(s.WriteError(), fault) {
				t.Fatalf("WriteError = %v, want %v", s.WriteError(), fault)
			}
			commit(msg(3, "a"), Snapshot{Cursors: map[string]int64{"h": 3}, Core: map[string][]byte{"k2": []byte("v2'")}})
			entries, _ := s.Entries("a", 0, 10)
			if got := datas(entries); !slices.Equal(got, []string{"1", "2", "3"}) {
				t.Fatalf("entries while unwritable = %v", got)
			}
			if err := s.Remove("a", entries[0].Seq, entries[1].Seq); err != nil {
				t.Fatal(err)
			}
			if got, _ := s.Entries("a", 0, 10); !slices.Equal(datas(got), []string{"3"}) {
				t.Errorf("delivered entries given again: %v", datas(got))
			}
			if s.Len("a") != 1 {
				t.Errorf("Len = %d, want 1", s.Len("a"))
			}
			if res := commit(msg(2, "a"), Snapshot{}); res.Duplicate != 1 {
				t.Errorf("a known id queued again while unwritable: %+v", res)
			}
			if snap, _ := s.LoadSnapshot(); snap.Cursors["h"] != 3 || !slices.Equal(slices.Sorted(maps.Keys(snap.Running["h"])), []string{"c2"}) || string(snap.Core["k2"]) != "v2'" || snap.Core["k1"] != nil {
				t.Errorf("snapshot while unwritable = %+v", snap)
			}
			if err := s.Flush(); !errors.Is(err, fault) {
				t.Errorf("Flush on a failing disk: %v", err)
			}
			d.heal()
			if err := s.Flush(); err != nil || s.WriteError() != nil {
				t.Fatalf("Flush after healing: %v (%v)", err, s.WriteError())
			}
			commit(msg(4, "a"), Snapshot{Cursors: map[string]int64{"h": 4}})
			s.Close()

			s, err = Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if got, _ := s.Entries("a", 0, 10); !slices.Equal(datas(got), []string{"3", "4"}) {
				t.Errorf("after reopen: %v", datas(got))
			}
			if s.Len("a") != 2 {
				t.Errorf("Len after reopen = %d", s.Len("a"))
			}
			snap, err := s.LoadSnapshot()
			if err != nil || snap.Cursors["h"] != 4 || len(snap.Running["h"]) != 1 || snap.Running["h"]["c2"].Name != "two" ||
				!maps.EqualFunc(snap.Core, map[string][]byte{"k2": []byte("v2'")}, func(a, b []byte) bool { return string(a) == string(b) }) {
				t.Errorf("snapshot after reopen = %+v %v", snap, err)
			}
			for i := 1; i <= 3; i++ {
				if res, _ := s.Commit([]Message{msg(i, "a")}, Snapshot{}, 10, now); res.Duplicate != 1 {
					t.Errorf("id %d queued again after the flush: %+v", i, res)
				}
			}
			// Sequence numbers go on after those handed out in memory.
			s.Commit([]Message{{ID: "new", Data: []byte("5"), Dests: []string{"a"}}}, Snapshot{}, 10, now)
			if got, _ := s.Entries("a", 0, 10); len(got) != 3 || got[2].Seq <= got[1].Seq {
				t.Errorf("entries %v", got)
			}
		})
	}
}

// A removal that fails (the disk filled after delivery) waits in memory:
// the entry is not given again while the process lives, and Flush
// removes it.
func TestFailedRemovalIsNotResent(t *testing.T) {
	d := &disk{}
	s, err := OpenWith(t.TempDir(), Options{BeforeWrite: func(op string) error {
		if op == "remove" {
			return d.before(op)
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3 {
		s.Commit([]Message{msg(i, "a")}, Snapshot{}, 10, time.Now())
	}
	d.fail(syscall.EIO)
	entries, _ := s.Entries("a", 0, 10)
	if err := s.Remove("a", entries[0].Seq); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Entries("a", 0, 10); fmt.Sprint(datas(got)) != "[1 2]" {
		t.Errorf("after a failed removal: %v", datas(got))
	}
	d.heal()
	if err := s.Flush(); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Entries("a", 0, 10); fmt.Sprint(datas(got)) != "[1 2]" || s.Len("a") != 2 {
		t.Errorf("after the flush: %v (len %d)", datas(got), s.Len("a"))
	}
}

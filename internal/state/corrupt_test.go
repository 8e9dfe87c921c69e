package state

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// realFile writes a state file with queued notifications, a checkpoint,
// threads and mutes, and returns its bytes and page size.
func realFile(t testing.TB, entries int) ([]byte, int) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("x"), 300)
	for i := 0; i < entries; i += 500 {
		var msgs []Message
		for j := i; j < min(i+500, entries); j++ {
			msgs = append(msgs, Message{ID: fmt.Sprint("id", j), Data: data, Dests: []string{"a", "b"}})
		}
		if _, err := s.Commit(msgs, Snapshot{Cursors: map[string]int64{"h": int64(i)}, Core: map[string][]byte{fmt.Sprint("k", i): data}}, 1<<30, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.SaveThread("g", Thread{Channel: "C", TS: "1"})
	_ = s.SetMute("web-*", time.Now().Add(time.Hour))
	pageSize := s.db.Info().PageSize
	s.Close()
	file, err := os.ReadFile(filepath.Join(dir, FileName))
	if err != nil {
		t.Fatal(err)
	}
	return file, pageSize
}

// use reads and writes everything the way whalewatch does after a start.
func use(s *Store) error {
	var errs []error
	for _, d := range []string{"a", "b"} {
		for after := uint64(0); ; {
			entries, err := s.Entries(d, after, 256)
			if err != nil {
				errs = append(errs, err)
				break
			}
			if len(entries) == 0 {
				break
			}
			after = entries[len(entries)-1].Seq
			errs = append(errs, s.Remove(d, after))
		}
	}
	_, err := s.LoadSnapshot()
	errs = append(errs, err)
	_, err = s.Commit([]Message{msg(1, "a")}, Snapshot{Cursors: map[string]int64{"h": 1}}, 1<<30, time.Now())
	errs = append(errs, err)
	_, err = s.Mutes(time.Now())
	errs = append(errs, err)
	s.Thread("g")
	return errors.Join(errs...)
}

// A damaged state file never panics whalewatch: Open moves it aside
// (whalewatch.db.corrupt-<time>), says why, and starts fresh; the fresh
// file works. Over: zero length, half the file, each page overwritten
// with garbage in turn, and a file that is not bbolt at all.
func TestCorruptFileIsMovedAsideNeverPanics(t *testing.T) {
	file, pageSize := realFile(t, 400)
	rng := rand.New(rand.NewSource(1))
	garbage := func(n int) []byte { b := make([]byte, n); rng.Read(b); return b }
	type tc struct {
		name string
		data []byte
	}
	cases := []tc{
		{"zero-length", nil},
		{"half", file[:len(file)/2]},
		{"not bbolt", []byte("this is not a bbolt file, it is a shopping list\n" + strings.Repeat("eggs\n", 2000))},
	}
	for p := 0; p*pageSize < len(file); p++ {
		damaged := bytes.Clone(file)
		copy(damaged[p*pageSize:], garbage(pageSize))
		cases = append(cases, tc{fmt.Sprintf("page %d of %d", p, len(file)/pageSize), damaged})
	}
	moved := 0
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, c.data, 0o600); err != nil {
				t.Fatal(err)
			}
			var s *Store
			var err error
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("Open panicked: %v", r)
					}
				}()
				s, err = Open(dir)
			}()
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			defer s.Close()
			if r := s.Recovered; r != nil {
				moved++
				if !strings.HasPrefix(filepath.Base(r.MovedTo), FileName+".corrupt-") || r.Reason == "" {
					t.Errorf("recovery = %+v", r)
				}
				if got, err := os.ReadFile(r.MovedTo); err != nil || !bytes.Equal(got, c.data) {
					t.Errorf("the damaged file was not kept as it was at %s: %v", r.MovedTo, err)
				}
				if s.Len("a") != 0 {
					t.Errorf("fresh file holds %d entries", s.Len("a"))
				}
			}
			func() {
				defer func() {
					if r := recover(); r != nil {
						t.Fatalf("using the store panicked: %v", r)
					}
				}()
				_ = use(s) // errors are fine; panics are not
			}()
			if c.data == nil || c.name == "half" || c.name == "not bbolt" {
				if s.Recovered == nil {
					t.Errorf("%s: started without a word", c.name)
				}
			}
		})
	}
	t.Logf("%d cases, %d moved aside", len(cases), moved)
}

// A damaged page found while running (after Open's check) costs the
// entries on it, counted and reported, never the queue: Entries recovers
// bbolt's panic, and SkipUnreadable steps past the damage.
func TestUnreadableOutboxPageIsSkipped(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("y"), 300)
	var msgs []Message
	for i := range 2000 {
		msgs = append(msgs, Message{ID: fmt.Sprint(i), Data: data, Dests: []string{"a"}})
	}
	if _, err := s.Commit(msgs, Snapshot{}, 1<<30, time.Now()); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// Damage one leaf page of the outbox in the middle of the queue.
	path := filepath.Join(dir, FileName)
	file, _ := os.ReadFile(path)
	pageSize := os.Getpagesize()
	damaged := -1
	for p := 2; p*pageSize < len(file); p++ {
		if bytes.Contains(file[p*pageSize:(p+1)*pageSize], data[:100]) && p > len(file)/pageSize/2 {
			damaged = p
			break
		}
	}
	if damaged < 0 {
		t.Fatal("no leaf page found")
	}
	for i := range pageSize {
		file[damaged*pageSize+i] = 0xff
	}
	_ = os.WriteFile(path, file, 0o600)
	s, err = OpenWith(dir, Options{SkipCheck: true}) // as if it broke after the check
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	read, lost := 0, 0
	for after := uint64(0); ; {
		entries, err := s.Entries("a", after, 256)
		var bad *UnreadableError
		if errors.As(err, &bad) {
			next := s.SkipUnreadable("a", after)
			if next <= after+1 {
				t.Fatalf("no progress")
			}
			lost += int(next - after - 1)
			after = next - 1
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) == 0 {
			break
		}
		read += len(entries)
		after = entries[len(entries)-1].Seq
	}
	if read == 0 || read+lost != 2000 || lost == 0 {
		t.Errorf("read %d, lost %d of 2000", read, lost)
	}
	t.Logf("read %d, skipped %d", read, lost)
}

package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

// BenchmarkOutboxGroupCommit queues notifications as the alert core does
// in a burst: 512 per transaction (one fsync), each about the size of a
// crash card. Per-op figures are per notification.
func BenchmarkOutboxGroupCommit(b *testing.B) {
	s, err := Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	data := make([]byte, 900)
	const batch = 512
	msgs := make([]Message, batch)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		msgs[i%batch] = Message{ID: fmt.Sprintf("msg_%024d", i), Data: data, Dests: []string{"webhook"}}
		i++
		if i%batch == 0 {
			if _, err := s.Commit(msgs, Snapshot{}, 1<<30, time.Now()); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if err := s.Remove("webhook", seqs(s, batch)...); err != nil { // keep the queue short, untimed
				b.Fatal(err)
			}
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queued/s")
}

func seqs(s *Store, n int) []uint64 {
	entries, _ := s.Entries("webhook", 0, n)
	out := make([]uint64, len(entries))
	for i, e := range entries {
		out[i] = e.Seq
	}
	return out
}

// BenchmarkCheckpoint is one commit of a checkpoint after one container
// started, with 100 or 25,000 running: its cost must not follow the number
// of running containers.
func BenchmarkCheckpoint(b *testing.B) {
	for _, running := range []int{100, 25000} {
		b.Run(fmt.Sprintf("running=%d", running), func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			all := map[string]*event.Container{}
			for i := range running {
				all[fmt.Sprintf("%064d", i)] = &event.Container{Name: fmt.Sprintf("app-%d", i), Image: "shop/app:1"}
			}
			if _, err := s.Commit(nil, Snapshot{Running: map[string]map[string]*event.Container{"h": all}}, 1, time.Now()); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				i++
				id := fmt.Sprintf("%064d", i%running)
				snap := Snapshot{Cursors: map[string]int64{"h": int64(i)}, Running: map[string]map[string]*event.Container{"h": {id: all[id]}},
					Core: map[string][]byte{"incident/h|" + id: []byte(`{"info":{"id":"inc_1"}}`)}}
				if _, err := s.Commit(nil, snap, 1, time.Now()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkOpenCheck50k: what the consistency check at open (every page
// read, then tx.Check) costs on a file with 50,000 outbox entries of the
// size of a crash card.
func BenchmarkOpenCheck50k(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 900)
	for i := 0; i < 50_000; i += 1000 {
		msgs := make([]Message, 0, 1000)
		for j := i; j < i+1000; j++ {
			msgs = append(msgs, Message{ID: fmt.Sprintf("msg_%024d", j), Data: data, Dests: []string{"webhook"}})
		}
		if _, err := s.Commit(msgs, Snapshot{}, 1<<30, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	s.Close()
	for _, check := range []bool{false, true} {
		b.Run(fmt.Sprintf("check=%v", check), func(b *testing.B) {
			for b.Loop() {
				s, err := OpenWith(dir, Options{SkipCheck: !check})
				if err != nil || s.Recovered != nil {
					b.Fatal(err, s.Recovered)
				}
				s.Close()
			}
		})
	}
}

// BenchmarkCommit queues notifications of the size of a crash card in
// commits of `batch` (one transaction, one fsync each) to a file that
// already knows `known` ids (a busy day's delivered notifications): the
// known-id set must not make each queued notification dearer. Per-op
// figures are per notification.
func BenchmarkCommit(b *testing.B) {
	for _, c := range []struct{ known, batch int }{{0, 512}, {200_000, 512}, {200_000, 1}} {
		b.Run(fmt.Sprintf("known=%d/batch=%d", c.known, c.batch), func(b *testing.B) {
			s, err := Open(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			preload(b, s, c.known)
			data := make([]byte, 900)
			msgs := make([]Message, c.batch)
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				msgs[i%c.batch] = Message{ID: randomID(b.N + i), Data: data, Dests: []string{"webhook"}}
				i++
				if i%c.batch == 0 {
					if _, err := s.Commit(msgs, Snapshot{}, 1<<30, time.Now()); err != nil {
						b.Fatal(err)
					}
					b.StopTimer()
					if err := s.Remove("webhook", seqs(s, c.batch)...); err != nil { // keep the queue short, untimed
						b.Fatal(err)
					}
					b.StartTimer()
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queued/s")
		})
	}
}

// preload queues and delivers n notifications: their ids stay known.
func preload(b *testing.B, s *Store, n int) {
	for i := 0; i < n; i += 1000 {
		msgs := make([]Message, 0, 1000)
		for j := i; j < min(i+1000, n); j++ {
			msgs = append(msgs, Message{ID: randomID(-j - 1), Data: []byte("x"), Dests: []string{"webhook"}})
		}
		if _, err := s.Commit(msgs, Snapshot{}, 1<<30, time.Now()); err != nil {
			b.Fatal(err)
		}
		if err := s.Remove("webhook", seqs(s, len(msgs))...); err != nil {
			b.Fatal(err)
		}
	}
}

// randomID is the i-th of ids scattered as notify.New's hashes are.
func randomID(i int) string { return fmt.Sprintf("msg_%024x", uint64(i)*0x9e3779b97f4a7c15) }

package notify

import (
	"context"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
)

type counting struct{ n atomic.Int64 }

func (c *counting) Notify(context.Context, Notification) (bool, error) {
	c.n.Add(1)
	return false, nil
}

// BenchmarkDispatcher10k queues 10,000 notifications in a durable outbox
// (STATE_DIR on disk, fsync per queued notification) and delivers them all
// to an instant destination: the throughput of the outbox and the memory
// it takes while 10k wait.
func BenchmarkDispatcher10k(b *testing.B) {
	const n = 10000
	for b.Loop() {
		b.StopTimer()
		store, err := state.Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		dst := &counting{}
		d := NewDispatcher(quietLog(), metrics.New(), store, n, Destination{Name: "d", Notifier: dst})
		notes := make([]Notification, n)
		for i := range notes {
			notes[i] = note(fmt.Sprint("BENCH", i))
		}
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		b.StartTimer()
		began := time.Now()
		for _, note := range notes {
			send(b, d, note, nil)
		}
		queued := time.Since(began)
		runtime.ReadMemStats(&after)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { _ = d.Run(ctx); close(done) }()
		for dst.n.Load() < n {
			time.Sleep(time.Millisecond)
		}
		total := time.Since(began)
		b.StopTimer()
		cancel()
		<-done
		store.Close()
		b.ReportMetric(float64(n)/queued.Seconds(), "queued/s")
		b.ReportMetric(float64(n)/(total-queued).Seconds(), "delivered/s")
		b.ReportMetric(float64(after.HeapAlloc-min(before.HeapAlloc, after.HeapAlloc))/1e6, "heapMB-with-10k-queued")
		b.StartTimer()
	}
}

// BenchmarkCommitBurst queues notifications as the alert core does in a
// burst: 512 per Commit, one transaction (one fsync) with the checkpoint.
// Per-op figures are per notification, JSON encoding included.
func BenchmarkCommitBurst(b *testing.B) {
	store, err := state.Open(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	d := NewDispatcher(quietLog(), metrics.New(), store, 1<<30, Destination{Name: "d", Notifier: &counting{}})
	const batch = 512
	out := make([]Outgoing, 0, batch)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		out = append(out, Outgoing{N: note(fmt.Sprint("BURST", i))})
		i++
		if len(out) == batch {
			if err := d.Commit(out, state.Snapshot{Cursors: map[string]int64{"h": int64(i)}}); err != nil {
				b.Fatal(err)
			}
			out = out[:0]
			b.StopTimer()
			entries, _ := store.Entries("d", 0, batch)
			seqs := make([]uint64, len(entries))
			for j, e := range entries {
				seqs[j] = e.Seq
			}
			_ = store.Remove("d", seqs...) // keep the queue short, untimed
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "queued/s")
}

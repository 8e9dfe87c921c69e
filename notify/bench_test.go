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

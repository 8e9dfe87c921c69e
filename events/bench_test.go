package events

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	mobyevents "github.com/moby/moby/api/types/events"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// BenchmarkStreams is the cost of one event from a daemon's stream to the
// shared queue, with one daemon and with three streaming at once into it:
// the multi-host path must cost no more per event than one stream.
func BenchmarkStreams(b *testing.B) {
	for _, hosts := range []int{1, 3} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			queue := make(chan event.Item, b.N+hosts) // never full: a drop would not be measured
			m := metrics.New()
			ctx, cancel := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			feeds := make([]chan mobyevents.Message, hosts)
			for h := range hosts {
				feeds[h] = make(chan mobyevents.Message, 1024)
				src := NewSource(fmt.Sprint("host-", h), &fakeDocker{messages: feeds[h]}, Options{Log: quiet(), Metrics: m})
				wg.Go(func() { _ = src.Run(ctx, queue) })
			}
			<-queue // each host's container list
			for range hosts - 1 {
				<-queue
			}
			b.ReportAllocs()
			b.ResetTimer()
			done := make(chan struct{})
			go func() {
				for range b.N {
					<-queue
				}
				close(done)
			}()
			for i := range b.N {
				feeds[i%hosts] <- mobyevents.Message{Type: "container", Action: "exec_start", TimeNano: int64(i + 1),
					Actor: mobyevents.Actor{ID: "c1", Attributes: map[string]string{"name": "web-1", "image": "shop/web"}}}
			}
			<-done
			b.StopTimer()
			cancel()
			wg.Wait()
		})
	}
}

// BenchmarkDecode is what every event costs before anything else: the
// JSON line as the daemon sends it decoded (as the SDK does) and turned
// into an Event.
func BenchmarkDecode(b *testing.B) {
	line := []byte(`{"Type":"container","Action":"exec_start: sh -c true","Actor":{"ID":"5734525877f57bf40aadd8c2aac5cff5618dec925ecfcda0de8ffcb97148a115","Attributes":{"image":"shop/app:1.0","name":"app-007","com.docker.compose.project":"shop","execID":"e1"}},"scope":"local","time":1795601537,"timeNano":1795601537741382096}`)
	b.ReportAllocs()
	for b.Loop() {
		var m mobyevents.Message
		if err := json.Unmarshal(line, &m); err != nil {
			b.Fatal(err)
		}
		FromMessage("h", m)
	}
}

package alert_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/alert"
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

// BenchmarkCore is the alert core's cost per event (built-in rules, a
// commit per 512 events into a real state file), from one host and from
// three: the cursor and running set are per host, the rest is shared.
// Every 100th event is a crash.
func BenchmarkCore(b *testing.B) {
	for _, hosts := range []int{1, 3} {
		b.Run(fmt.Sprintf("hosts=%d", hosts), func(b *testing.B) {
			store, err := state.OpenUnsynced(b.TempDir())
			if err != nil {
				b.Fatal(err)
			}
			defer store.Close()
			engine, err := rules.Compile(rules.Defaults())
			if err != nil {
				b.Fatal(err)
			}
			disp := notify.NewDispatcher(quiet(), metrics.New(), store, 1<<30, notify.Destination{Name: "sink"})
			core := alert.New(alert.Config{Rules: engine}, disp, store, quiet(), metrics.New())
			now := time.Unix(1_700_000_000, 0)
			b.ReportAllocs()
			for i := range b.N {
				ev := event.Event{Host: fmt.Sprint("host-", i%hosts), Type: event.ContainerType, Action: "exec_start",
					ActorID: fmt.Sprint("c", i%300), Name: "web", ExitCode: -1, TimeNano: int64(i + 1), Time: now}
				if i%100 == 99 {
					ev.Action, ev.ExitCode = "die", 1
				}
				core.Handle(event.Item{Event: ev}, now)
				if i%512 == 511 {
					if err := core.Commit(true); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// BenchmarkTrackAhead is the core's cost per event while earlier events
// stay held for settling, so every event is handed on ahead of the cursor
// (a storm: tens of thousands ahead at once): each held one released
// moves the cursor past the oldest kept, and every 512 events are
// committed (the checkpoint encoded). The cost per event must not grow
// with the events ahead: compare ahead=10000 with ahead=100000 (it was
// linear in them: 0.8 and 2.4 ms per event). Run it with -benchtime
// 10000x, so that the cursor passes a stored key at every event in both.
func BenchmarkTrackAhead(b *testing.B) {
	for _, n := range []int{10_000, 100_000} {
		b.Run(fmt.Sprint("ahead=", n), func(b *testing.B) {
			engine, err := rules.Compile(rules.Defaults())
			if err != nil {
				b.Fatal(err)
			}
			core := alert.New(alert.Config{Rules: engine}, discard{}, noMutes{}, quiet(), metrics.New())
			now := time.Unix(1_700_000_000, 0)
			item := func(i int) event.Item {
				return event.Item{Ahead: true, Event: event.Event{Host: "h", Type: event.ContainerType, Action: "exec_start",
					ActorID: fmt.Sprint("c", i%300), Name: "web", ExitCode: -1, TimeNano: int64(i + 1), Time: now}}
			}
			for i := range n {
				core.Handle(item(i), now)
			}
			if err := core.Commit(true); err != nil { // the storm so far, in the checkpoint
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				core.Handle(item(n+i), now)
				if i%64 == 63 {
					// A held event released: the cursor passes the oldest 64.
					core.Handle(event.Item{Event: event.Event{Host: "h"}, Cursor: int64(i + 2)}, now)
				}
				if i%512 == 511 {
					if err := core.Commit(true); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

// discard is an outbox that keeps nothing (the checkpoint is still encoded).
type discard struct{}

func (discard) Commit([]notify.Outgoing, state.Snapshot) error { return nil }

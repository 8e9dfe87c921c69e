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

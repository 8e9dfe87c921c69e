package events

import (
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobyevents "github.com/moby/moby/api/types/events"

	"github.com/whalewatch/whalewatch/event"
)

// While a death is held for its evidence, what passes ahead of it does not
// move the cursor past it, but the cursor comes up to it: the core then
// forgets what it kept as handled ahead before (under a storm some death
// is always held, and the cursor would stay where the storm began).
func TestTheCursorComesUpToTheOldestHeldEvent(t *testing.T) {
	d := &logsDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)},
		logs: multiplexed([2]string{"stderr", "panic\n"}), slow: "slow"}
	d.ctr.State = &container.State{ExitCode: 1, FinishedAt: "2026-11-29T10:02:30Z"}
	_, out := evidenceSource(t, d)
	d.messages <- msg("die", "slow", 10, map[string]string{"exitCode": "1"})
	d.messages <- msg("die", "c1", 20, map[string]string{"exitCode": "3"})
	var cursor int64
	timeout := time.After(10 * time.Second)
	for {
		var it event.Item
		select {
		case it = <-out:
		case <-timeout:
			t.Fatalf("timed out; cursor %d", cursor)
		}
		switch {
		case it.Cursor != 0:
			if it.Cursor > 10 {
				t.Fatalf("the cursor passed the held death: %d", it.Cursor)
			}
			cursor = it.Cursor
		case it.Event.ActorID == "c1":
			if !it.Ahead {
				t.Fatal("c1 handed on while slow is held, not marked ahead")
			}
		case it.Event.ActorID == "slow":
			if cursor != 10 || len(it.AtCursor) != 0 {
				t.Fatalf("before the held death: cursor %d; want 10 (naming no event)", cursor)
			}
			return
		}
	}
}

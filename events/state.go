package events

import (
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/seen"
)

// streamState is what a Source remembers across reconnects. Only the
// Run goroutine touches it.
type streamState struct {
	cursor    int64 // highest timeNano seen
	connected bool
	dropped   int
	seen      *seen.Set
	running   map[string]containerInfo
	killed    map[string]time.Time // last kill event per container
	oom       map[string]time.Time // last oom event per container
	lateOOM   map[string]bool      // containers whose oom event was stood in for
}

func newStreamState(since int64) *streamState {
	return &streamState{
		cursor:  since,
		seen:    seen.New(4096, 0),
		running: map[string]containerInfo{},
		killed:  map[string]time.Time{},
		oom:     map[string]time.Time{},
		lateOOM: map[string]bool{},
	}
}

// accept turns a message into an annotated event.Event. It reports false for
// a duplicate (already seen), which must not be passed on.
func (st *streamState) accept(host string, m events.Message, intentWindow time.Duration) (event.Event, bool) {
	ev := FromMessage(host, m)
	if !st.seen.Add(ev.Key(), time.Time{}) {
		return ev, false
	}
	if ev.Type == event.ContainerType && ev.Action == "oom" && st.lateOOM[ev.ActorID] {
		delete(st.lateOOM, ev.ActorID) // already stood in for
		return ev, false
	}
	st.observe(&ev, intentWindow)
	return ev, true
}

// observe updates what we know from one new event and annotates it.
func (st *streamState) observe(ev *event.Event, intentWindow time.Duration) {
	if ev.TimeNano > st.cursor {
		st.cursor = ev.TimeNano
	}
	if ev.Type != event.ContainerType {
		return
	}
	id := ev.ActorID
	switch ev.Action {
	case "start":
		st.running[id] = containerInfo{name: ev.Name, image: ev.Image, labels: ev.Labels}
	case "kill":
		st.killed[id] = ev.Time
	case "oom":
		st.oom[id] = ev.Time
	case "die":
		ev.Intentional = within(st.killed[id], ev.Time, intentWindow)
		ev.OOMKilled = within(st.oom[id], ev.Time, intentWindow)
		delete(st.running, id)
		delete(st.killed, id)
		delete(st.oom, id)
	case "destroy":
		delete(st.lateOOM, id)
		delete(st.running, id)
		delete(st.killed, id)
		delete(st.oom, id)
	}
}

func within(earlier, t time.Time, window time.Duration) bool {
	return !earlier.IsZero() && !t.Before(earlier) && t.Sub(earlier) <= window
}

// reconcileList compares a fresh container list with what we believed was
// running. It returns the containers we thought running that no longer are
// (only when reconnecting) and starts tracking every running one.
func (st *streamState) reconcileList(host string, list []container.Summary, reconnect bool) map[string]containerInfo {
	nowRunning := make(map[string]container.Summary, len(list))
	for _, c := range list {
		if c.State == container.StateRunning || c.State == container.StatePaused || c.State == container.StateRestarting {
			nowRunning[c.ID] = c
		}
	}
	missing := map[string]containerInfo{}
	if reconnect {
		for id, info := range st.running {
			if _, ok := nowRunning[id]; !ok {
				missing[id] = info
			}
		}
	}
	for id, c := range nowRunning {
		if _, ok := st.running[id]; !ok {
			st.running[id] = infoFromSummary(c)
		}
	}
	return missing
}

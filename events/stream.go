package events

import (
	"context"
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
)

// stream is what one Run hands the core, and what it remembers while it
// does (streamState): it owns the hand-off that never blocks the reader —
// routine events shed while the queue is nearly full, urgent ones kept in
// order in a backlog, a fresh container list to make up for what was
// shed. It lives as long as Run: the backlog and a list owed survive a
// reconnect. Only the Run goroutine touches it.
type stream struct {
	*streamState
	src *Source
	out chan<- event.Item

	// backlog holds urgent items (deaths, OOM kills, unhealthy reports,
	// container lists, whalewatch's own notices) while the queue is full,
	// in order; relist asks for a fresh container list once it is empty,
	// to make up for the routine events shed meanwhile (relistOwed).
	backlog    []event.Item
	dropped    int // urgent items lost since the last report
	relistOwed bool
	listing    bool // a container list runs beside the reader
	lastRelist time.Time
}

func newStream(src *Source, out chan<- event.Item) *stream {
	return &stream{streamState: newStreamState(), src: src, out: out}
}

// maxBacklog bounds the urgent items kept while the queue is full.
const maxBacklog = 10000

// emit hands ev on without ever blocking the stream reader.
func (st *stream) emit(ev event.Event) { st.send(event.Item{Event: ev}) }

// send hands it on without ever blocking the stream reader. When the
// queue is nearly full, routine events (starts, healthy reports, …) are
// shed and a fresh container list makes up for them later; urgent ones
// wait in order in a backlog, and are lost (counted, logged, announced)
// only when that is full too.
func (st *stream) send(it event.Item) {
	s := st.src
	it.Event.Engine = s.Engine()
	st.flushBacklog()
	urgent := isUrgent(it)
	if len(st.backlog) == 0 && (urgent || len(st.out) < cap(st.out)*3/4) {
		select {
		case st.out <- it:
			return
		default:
		}
	}
	switch {
	case !urgent:
		st.relistOwed = true
		s.m.EventsSkipped.WithLabelValues(s.Host, "shed").Inc()
	case len(st.backlog) < maxBacklog:
		st.backlog = append(st.backlog, it)
	default:
		if st.dropped == 0 {
			s.log.Error("event queue and backlog full; dropping deaths until they drain", "capacity", cap(st.out), "backlog", maxBacklog)
		}
		st.dropped++
		s.m.EventsDropped.WithLabelValues(s.Host).Inc()
	}
}

// isUrgent: what must reach the core even in a storm.
func isUrgent(it event.Item) bool {
	ev := it.Event
	switch {
	case it.Listed != nil, it.Cursor != 0, ev.Type == event.SelfType:
		return true
	case ev.Type != event.ContainerType:
		return ev.Scope == "swarm" // node down, a service rolling back
	}
	// A destroy ends incidents, crash loops and cooldowns: never shed.
	return ev.Action == "die" || ev.Action == "oom" || ev.Action == "destroy" || (ev.Action == "health_status" && ev.Status == "unhealthy")
}

// waiting is the queue and the backlog's first item while one waits (nil
// otherwise: a select case that never fires); sent takes it off.
func (st *stream) waiting() (chan<- event.Item, event.Item) {
	if len(st.backlog) == 0 {
		return nil, event.Item{}
	}
	return st.out, st.backlog[0]
}

// sent takes the backlog's first item off, once the queue took it.
func (st *stream) sent() {
	st.backlog[0] = event.Item{}
	st.backlog = st.backlog[1:]
	if len(st.backlog) == 0 {
		st.backlog = nil // let the array go
		st.reportDropped()
	}
}

// flushBacklog moves what waits into the queue while there is room.
func (st *stream) flushBacklog() {
	for len(st.backlog) > 0 {
		select {
		case st.out <- st.backlog[0]:
			st.backlog[0] = event.Item{}
			st.backlog = st.backlog[1:]
		default:
			return
		}
	}
	st.backlog = nil // let the array go
}

// reportDropped sends one events_dropped event for what was lost, once
// the queue has room again.
func (st *stream) reportDropped() {
	if st.dropped == 0 {
		return
	}
	notice := st.selfEvent("events_dropped", map[string]string{"count": strconv.Itoa(st.dropped)})
	select {
	case st.out <- event.Item{Event: notice}:
		st.src.log.Error("events were dropped because the event queue was full", "count", st.dropped)
		st.dropped = 0
	default:
	}
}

// relist asks for a fresh container list once the backlog is empty and
// the queue has room, at most once a second, to make up for shed events.
// The list runs beside the reader (a list takes seconds on a busy host,
// and a reader that stalls makes the daemon drop events), on the
// inspector's goroutines; its result comes back on done.
func (st *stream) relist(ctx context.Context, ins *inspector, done chan<- []container.Summary) {
	if !st.relistOwed || st.listing || len(st.backlog) > 0 || len(st.out) >= cap(st.out)/2 || time.Since(st.lastRelist) < time.Second {
		return
	}
	s := st.src
	st.listing, st.lastRelist = true, time.Now()
	ins.wg.Go(func() {
		ctx, cancel := context.WithTimeout(ctx, s.opts.InspectTimeout)
		defer cancel()
		list, err := s.docker.ContainerList(ctx, client.ContainerListOptions{All: true})
		var items []container.Summary
		if err != nil {
			s.log.Warn("cannot list containers after shedding events; will try again", "err", err)
		} else {
			items = list.Items
			if items == nil {
				items = []container.Summary{}
			}
		}
		select {
		case done <- items:
		case <-ctx.Done():
		}
	})
}

// relisted takes a fresh list (nil: it failed, the next flush tries
// again): the running set it tells, and the gap an audit found reconciled.
func (st *stream) relisted(ctx context.Context, ins *inspector, items []container.Summary) {
	st.listing = false
	if items == nil {
		return
	}
	st.relistOwed = false
	if gap := st.auditGap; gap != nil {
		st.auditGap = nil
		st.src.reconcile(ctx, st, ins, *gap, items, nil, time.Time{})
	}
	_, running := st.reconcileList(items, false)
	st.src.log.Info("events were shed while the event queue was nearly full; containers listed again", "running", len(running))
	st.send(event.Item{Event: st.hostEvent(), Listed: running})
}

// selfEvent is one of whalewatch's own notices about this daemon.
func (st *stream) selfEvent(action string, attrs map[string]string) event.Event {
	now := time.Now().UTC()
	s := st.src
	return event.Event{Host: s.Host, HostID: st.hostID, Type: event.SelfType, Action: action, ActorID: s.Host, Name: s.Host,
		Attributes: attrs, ExitCode: -1, Time: now, TimeNano: now.UnixNano()}
}

// hostEvent names this daemon on an item that carries no event.
func (st *stream) hostEvent() event.Event {
	return event.Event{Host: st.src.Host, HostID: st.hostID}
}

package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	mobyevents "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// session is one connection: ask the daemon who it is and what it replays
// from the cursor, list, open the stream, read until it fails.
func (s *Source) session(ctx context.Context, st *stream, downSince time.Time, unreachableReported *bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	o, err := s.open(ctx, st)
	if err != nil {
		return err
	}
	if s.opts.SwarmEvents == SwarmLeader {
		s.leader.Store(s.isLeader(ctx, &o.info)) // before the first event; then beside the reader
	}
	believed := maps.Clone(st.running) // running at the cursor, as far as we know
	missing, running := st.reconcileList(o.list, o.resuming)
	st.send(event.Item{Event: st.hostEvent(), Listed: running})
	ins := newInspector(s, st)
	defer func() {
		cancel()
		ins.wg.Wait()
		ins.settleAll(context.WithoutCancel(ctx))
	}()
	if o.resuming {
		if err := s.settleGap(ctx, st, ins, o, missing, believed); err != nil {
			return err
		}
	}
	live := s.events(ctx, o.since)
	s.opened(st, o, downSince, len(missing), *unreachableReported)
	if s.opts.SwarmEvents == SwarmLeader {
		var leaderWatch sync.WaitGroup
		defer func() { cancel(); leaderWatch.Wait() }()
		leaderWatch.Go(func() { s.watchLeadership(ctx) })
	}
	s.catchUp(ctx, st, ins, o, running)
	return s.read(ctx, st, ins, live)
}

// opening is what a session learnt before its stream opens.
type opening struct {
	info                 client.SystemInfoResult
	daemonNow            time.Time // the daemon's clock as /info told it
	clockKnown, resuming bool
	r                    resumption // what the replay from the cursor told
	list                 []container.Summary
	since                client.EventsListOptions // where the live stream opens
}

// open asks the daemon who it is, what it replays from the cursor and
// which containers it has.
func (s *Source) open(ctx context.Context, st *stream) (opening, error) {
	var o opening
	info, err := s.info(ctx)
	if err != nil {
		return o, err // wait and retry: the daemon's ID keys the state, never a guess
	}
	if err := s.detectEngine(ctx); err != nil {
		return o, err
	}
	st.podman = s.isPodman()
	if st.podman {
		// Podman 4.3 makes up a new /info ID on every request: its state
		// is kept under the host's name.
		info.Info.ID = ""
	}
	infoAt := time.Now()
	s.identify(st, info)
	s.daemonVersion.Store(&info.Info.ServerVersion)
	o.info = info
	o.daemonNow, o.clockKnown = daemonClock(info)
	o.resuming = st.cursor > 0
	if o.resuming {
		if o.r, err = s.resume(ctx, st, o.daemonNow); err != nil {
			return o, err
		}
	}
	list, err := s.docker.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return o, fmt.Errorf("list containers: %w", err)
	}
	o.list = list.Items
	if o.clockKnown {
		// The daemon's clock when the list was read, as far as ours tells: a
		// container that ended before it and after daemonNow ended as the
		// stream opened (since daemonNow), not before a clock step.
		o.r.listedBy = o.daemonNow.Add(time.Since(infoAt)).UnixNano()
	}
	if r := &o.r; o.resuming && !r.gap && r.clockBack == 0 && len(r.replay) == 0 && len(st.atCursor) == 0 && createdSince(o.list, r.from, o.daemonNow) {
		// A cursor that names no event (where a stream opened) and a replay
		// with nothing since, yet a container made after it: the daemon lost
		// its history (it restarted). That is a gap, however quiet.
		r.gap = true
	}
	if o.clockKnown {
		// From the daemon's clock read before the replay and the list: what
		// happens after it comes on the stream (the daemon's since is
		// inclusive; what was replayed as well is dropped as seen).
		o.since.Since = formatSince(o.daemonNow.UnixNano())
	} else if o.resuming {
		o.since.Since = formatSince(st.cursor)
	}
	return o, nil
}

// settleGap adds the daemon's truth to what a resumed session's replay
// tells, before the replay is handed on: the replay moves the cursor past
// the gap, and a kill then must not lose what was found in it.
func (s *Source) settleGap(ctx context.Context, st *stream, ins *inspector, o opening, missing, believed map[string]event.Container) error {
	r, daemonNow := o.r, o.daemonNow
	facts := r.replay
	if r.gap && r.listedBy > daemonNow.UnixNano() {
		// What happened while the list was read comes on the stream (it
		// opens at daemonNow), yet RestartCount counts it already: the
		// gap's facts take it from the daemon's history too, up to its
		// clock now (an until ahead of it would wait for it).
		more, err := s.historyAfter(ctx, daemonNow.UnixNano())
		if err != nil {
			return err
		}
		facts = append(slices.Clip(facts), more...)
	}
	ins.facts, ins.believed, ins.replayAhead = scanReplay(s.Host, facts, s.opts.IntentWindow), believed, true
	ins.facts.handled(st.handledDies) // what the checkpoint handled ahead of its cursor
	st.handledDies = nil
	s.reconcile(ctx, st, ins, r, o.list, missing, daemonNow)
	ins.awaitReconciles(ctx)
	if ins.unanswered != nil {
		return fmt.Errorf("reconcile: %w", ins.unanswered)
	}
	return nil
}

// opened marks the stream open and says so: restored after an outage
// (announced when it was long or reported unreachable, unless a gap or a
// clock step is announced instead, with what was lost), or open.
func (s *Source) opened(st *stream, o opening, downSince time.Time, unaccounted int, unreachableReported bool) {
	st.connected = true
	s.downSince.Store(0)
	s.m.StreamConnected.WithLabelValues(s.Host).Set(1)
	if downSince.IsZero() {
		s.log.Info("docker event stream open", "containers", len(o.list), "resuming", o.resuming)
		return
	}
	down := time.Since(downSince)
	s.log.Info("docker event stream restored", "down_for", down.Round(time.Millisecond), "unaccounted", unaccounted)
	if (down >= s.opts.GapNoticeAfter || unreachableReported) && !o.r.gap && o.r.clockBack == 0 {
		st.emit(st.selfEvent("stream_restored", map[string]string{"down_for": down.Round(time.Second).String()}))
	}
}

// catchUp hands on the replay, marks where the audits go on from and,
// on a fresh start, the resume point; then it asks for the restart counts
// a later gap is measured against.
func (s *Source) catchUp(ctx context.Context, st *stream, ins *inspector, o opening, running map[string]event.Container) {
	for _, m := range o.r.replay {
		s.handle(ctx, st, ins, m)
	}
	if o.resuming {
		st.auditFrom, st.auditKeys = st.cursor, slices.Clone(st.atCursor) // the audits go on from here
	}
	if !o.resuming && o.clockKnown {
		// A resume point from the start, even if no event is ever kept.
		st.forwarded = o.daemonNow.UnixNano()
		if st.cursor == 0 {
			st.cursor = st.forwarded
		}
		st.send(event.Item{Event: st.hostEvent(), Cursor: st.forwarded})
	}
	if o.r.gap {
		return
	}
	for id, c := range running {
		if _, known := st.restarts[id]; !known {
			ins.start(ctx, inspectJob{id: id, purpose: purposeBaseline, known: c})
		}
	}
}

// read takes the live stream, the inspects' results, the audits and the
// relists until the stream fails or ctx ends, and hands the backlog on as
// the queue has room.
func (s *Source) read(ctx context.Context, st *stream, ins *inspector, live client.EventsResult) error {
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	holdCheck := time.NewTicker(s.opts.OOMWait / 5)
	defer holdCheck.Stop()
	relisted := make(chan []container.Summary)
	audited := make(chan audit)
	var auditC <-chan time.Time
	if s.opts.AuditEvery > 0 {
		t := time.NewTicker(s.opts.AuditEvery)
		defer t.Stop()
		auditC = t.C
	}
	for {
		backlog, next := st.waiting()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case backlog <- next:
			st.sent()
		case err := <-live.Err:
			if err == nil || errors.Is(err, io.EOF) {
				return errors.New("event stream ended")
			}
			return fmt.Errorf("event stream: %w", err)
		case m := <-live.Messages:
			s.lastEvent.Store(m.TimeNano)
			s.lag.Store(time.Now().UnixNano() - m.TimeNano)
			s.handle(ctx, st, ins, m)
		case now := <-holdCheck.C:
			ins.oomWaitsOver(ctx, now)
		case r := <-ins.results:
			ins.settled(ctx, r)
			if ins.unanswered != nil {
				return fmt.Errorf("reconcile: %w", ins.unanswered)
			}
			if len(ins.held) > 0 {
				s.heldCursor(st, ins) // a hold released: the oldest may be later now
			}
		case items := <-relisted:
			st.relisted(ctx, ins, items)
		case <-auditC:
			s.startAudit(ctx, st, ins, audited)
		case a := <-audited:
			s.finishAudit(ctx, st, ins, a)
		case <-flush.C:
			s.forwardCursor(st, ins)
			st.flushBacklog()
			st.reportDropped()
			st.relist(ctx, ins, relisted)
		}
	}
}

// handle takes one message of the stream (or of the replay).
func (s *Source) handle(ctx context.Context, st *stream, ins *inspector, m mobyevents.Message) {
	st.read(m)
	typ := string(m.Type)
	action, _, _ := strings.Cut(string(m.Action), ": ")
	s.m.EventsReceived.WithLabelValues(s.Host, metrics.Bounded(typ, event.KnownTypes), metrics.Bounded(action, event.KnownActions)).Inc()
	if !s.keeps(typ, action) {
		if typ == event.ContainerType && action == "create" {
			// Dropped, but a container made under the stream starts with
			// RestartCount 0: the baseline a later gap is measured against.
			st.created(m.Actor.ID, m.TimeNano)
		}
		s.m.EventsSkipped.WithLabelValues(s.Host, "no_rule").Inc()
		return
	}
	ev, isNew := st.accept(s.Host, m, s.opts.IntentWindow)
	if !isNew {
		s.m.EventsDuplicate.WithLabelValues(s.Host).Inc()
		return
	}
	if st.steppedBack > 0 {
		// The daemon's clock went back while streaming: the cursor follows it.
		back := st.steppedBack
		st.steppedBack = 0
		s.log.Warn("the daemon's clock stepped back; the cursor follows it", "by", back)
		st.send(event.Item{Event: st.hostEvent(), Cursor: ev.TimeNano})
		st.emit(st.selfEvent("clock_stepped_back", map[string]string{"by": back.Round(time.Millisecond).String()}))
	}
	if ev.Scope == "swarm" && !s.passesSwarm() {
		s.m.EventsSkipped.WithLabelValues(s.Host, "swarm_not_leader").Inc()
		return
	}
	ins.add(ctx, ev)
}

// forwardCursor hands the core the cursor of what was read, also of the
// events no rule needs (so a restart resumes from there, and its replay
// is short and reaches the cursor), once nothing read before it is still
// held for settling.
func (s *Source) forwardCursor(st *stream, ins *inspector) {
	if len(ins.held) > 0 {
		s.heldCursor(st, ins)
		return
	}
	if len(st.newest) == 0 {
		return
	}
	cursor := messageNano(st.newest[0])
	if cursor <= st.forwarded {
		return
	}
	keys := make([]string, 0, len(st.newest))
	for _, m := range st.newest {
		keys = append(keys, FromMessage(s.Host, m).Key())
	}
	st.forwarded = cursor
	if cursor > st.cursor { // a reconnect resumes from here too
		st.cursor, st.atCursor = cursor, slices.Clone(keys)
	}
	st.send(event.Item{Event: st.hostEvent(), Cursor: cursor, AtCursor: keys})
}

// heldCursor moves the core's cursor up to the oldest event still held
// (naming no event at it: the held one is not handled, so a replay from
// there brings it again), so that what was handed on ahead of it before
// is forgotten: under a storm some death is always held for its
// evidence, and without this the cursor stays where the storm began and
// every event after it is kept as handled ahead. Only forward, and only
// past every event that moved the core's cursor: one at that very time
// would be replayed as new.
func (s *Source) heldCursor(st *stream, ins *inspector) {
	cursor := ins.oldestHeld()
	if cursor <= max(st.forwarded, st.handedTo) {
		return
	}
	st.forwarded = cursor
	st.send(event.Item{Event: st.hostEvent(), Cursor: cursor})
}

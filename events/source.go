package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/moby/moby/api/types/container"
	mobyevents "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// Docker is the part of the Docker client that a Source uses.
type Docker interface {
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerLogs(ctx context.Context, id string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	NodeInspect(ctx context.Context, nodeID string, options client.NodeInspectOptions) (client.NodeInspectResult, error)
}

// Which whalewatch reports Swarm-scope events (service, node, secret,
// config): every manager's daemon sends them, so N managers watched — by
// one whalewatch or by a global service — would report each N times.
const (
	// SwarmLeader: only the stream of the swarm's leader passes them (the
	// default). No coordination is needed; around a leader election an
	// event may be reported twice or not at all.
	SwarmLeader = "leader"
	SwarmAll    = "all" // every manager's stream passes them
	SwarmOff    = "off" // none: container events only
)

// Source supervises the event stream of one daemon: it reconnects with
// backoff, resumes where it stopped, drops replayed duplicates and, after a
// reconnect, reports containers that died while the stream was down. Its
// settings are fixed by NewSource.
type Source struct {
	Host   string // the daemon's name, as configured (read-only)
	docker Docker
	log    *slog.Logger
	m      *metrics.Metrics
	opts   Options

	// stats samples the daemon's containers beside the stream (stats.go)
	// for as long as Run runs; nil when no rule asks for samples.
	stats *sampler

	// resumes are the checkpoint's resume points by host key; the first
	// session takes this daemon's once /info has told its ID.
	resumes map[string]event.Resume

	// leader: this daemon is the swarm's leader (as last checked).
	leader atomic.Bool

	// downSince is when the stream was last lost (unix nanoseconds), 0
	// while it is open; read by Ready from other goroutines.
	downSince atomic.Int64

	// For Status, read from other goroutines: the daemon's version (from
	// /info at connect), the last live event's time and how late it was read.
	daemonVersion atomic.Pointer[string]
	// identity is the host ID the stream keys its state by, once
	// identified (read by the stats sampler).
	identity       atomic.Pointer[string]
	lastEvent, lag atomic.Int64

	// engine is the daemon's engine as /version told (podman.go); podman
	// reads and normalises Podman's stream.
	engine atomic.Value
	podman *podmanEvents
}

// Status is what the status page shows of a source.
type Status struct {
	Host string `json:"host"`
	Open bool   `json:"open"`
	// DownSince is when the stream was lost: zero while open, and before
	// the first connection (Connected false).
	DownSince time.Time `json:"down_since,omitzero"`
	Connected bool      `json:"connected"` // the stream was open at least once
	// Engine and Version are the daemon's (from /version and /info),
	// APIVersion the one the client speaks with it.
	Engine     string        `json:"engine,omitempty"`
	Version    string        `json:"version,omitempty"`
	APIVersion string        `json:"api_version,omitempty"`
	LastEvent  time.Time     `json:"last_event,omitzero"`
	Lag        time.Duration `json:"lag_ns"` // the last live event's read time minus its daemon time
}

// Status tells the stream's state, the daemon's version and the last live event.
func (s *Source) Status() Status {
	st := Status{Host: s.Host, Lag: time.Duration(s.lag.Load())}
	switch down := s.downSince.Load(); down {
	case 0:
		st.Open, st.Connected = true, true
	case 1:
	default:
		st.DownSince, st.Connected = time.Unix(0, down), true
	}
	if v := s.daemonVersion.Load(); v != nil {
		st.Engine, st.Version = s.Engine(), *v
	}
	if c, ok := s.docker.(interface{ ClientVersion() string }); ok {
		st.APIVersion = c.ClientVersion()
	}
	if ns := s.lastEvent.Load(); ns != 0 {
		st.LastEvent = time.Unix(0, ns)
	}
	return st
}

// NewSource returns a Source of the daemon docker reaches, named host,
// with opts (zero fields: their defaults). It samples stats while
// opts.Interest asks for them, opts.Stats.Interval is set and docker can
// (StatsDocker).
func NewSource(host string, docker Docker, opts Options) *Source {
	opts = opts.withDefaults()
	s := &Source{Host: host, docker: docker, log: opts.Log.With("host", host), m: opts.Metrics, opts: opts}
	if sd, ok := docker.(StatsDocker); ok && opts.Stats.Interval > 0 && opts.Interest.SamplesStats() {
		s.stats = &sampler{src: s, docker: sd}
	}
	s.downSince.Store(1) // never connected: not ready
	return s
}

// Restore makes the source resume where an earlier run stopped. points
// are the checkpoint's, by host key: the first session takes its daemon's
// (by the ID /info tells, or by the host's name in a state written before
// IDs were kept). Call before Run.
func (s *Source) Restore(points map[string]event.Resume) { s.resumes = points }

// Ready tells whether the stream is open, or was lost less than grace ago.
func (s *Source) Ready(grace time.Duration) bool {
	down := s.downSince.Load()
	return down == 0 || time.Since(time.Unix(0, down)) < grace
}

// Run streams events into out until ctx ends, with the running set of
// each fresh container list in between. It never blocks on out: when out
// is full the item is dropped, counted, logged, and reported by an
// events_dropped event as soon as there is room.
func (s *Source) Run(ctx context.Context, out chan<- event.Item) error {
	if s.stats != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { _ = s.stats.Run(ctx, out) })
	}
	st := newStreamState()
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = s.opts.RetryMin, s.opts.RetryMax
	connected := s.m.StreamConnected.WithLabelValues(s.Host)
	var downSince time.Time // zero until the first outage
	unreachableReported := false
	for {
		start := time.Now()
		err := s.session(ctx, out, st, downSince, &unreachableReported)
		connected.Set(0)
		if st.connected {
			s.downSince.Store(time.Now().UnixNano())
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) >= s.opts.HealthyAfter {
			bo.Reset()
		}
		if st.connected {
			downSince = time.Now()
			unreachableReported = false
			st.connected = false
			s.m.StreamReconnects.WithLabelValues(s.Host).Inc()
		} else if downSince.IsZero() {
			downSince = start
		}
		wait := bo.NextBackOff()
		s.log.Warn("docker event stream down; reconnecting", "err", err, "retry_in", wait.Round(time.Millisecond),
			"down_for", time.Since(downSince).Round(time.Second))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if !unreachableReported && time.Since(downSince) >= s.opts.UnreachableAfter {
			unreachableReported = true
			s.emit(out, st, s.selfEvent(st, "daemon_unreachable", map[string]string{
				"down_for": time.Since(downSince).Round(time.Second).String(),
				"error":    errorText(err),
			}))
		}
	}
}

// clockSkew is how far the daemon's clock may be behind the cursor (events
// are not strictly ordered by time) before it counts as stepped back.
const clockSkew = 2 * time.Second

// session is one connection: ask the daemon who it is and what it replays
// from the cursor, list, open the stream, read until it fails.
func (s *Source) session(ctx context.Context, out chan<- event.Item, st *streamState, downSince time.Time, unreachableReported *bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	info, err := s.info(ctx)
	if err != nil {
		return err // wait and retry: the daemon's ID keys the state, never a guess
	}
	if err := s.detectEngine(ctx); err != nil {
		return err
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
	daemonNow, clockKnown := daemonClock(info)
	resuming := st.cursor > 0
	var r resumption
	if resuming {
		if r, err = s.resume(ctx, st, daemonNow); err != nil {
			return err
		}
	}
	list, err := s.docker.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	if clockKnown {
		// The daemon's clock when the list was read, as far as ours tells: a
		// container that ended before it and after daemonNow ended as the
		// stream opened (since daemonNow), not before a clock step.
		r.listedBy = daemonNow.Add(time.Since(infoAt)).UnixNano()
	}
	if resuming && !r.gap && r.clockBack == 0 && len(r.replay) == 0 && len(st.atCursor) == 0 && createdSince(list.Items, r.from, daemonNow) {
		// A cursor that names no event (where a stream opened) and a replay
		// with nothing since, yet a container made after it: the daemon lost
		// its history (it restarted). That is a gap, however quiet.
		r.gap = true
	}
	opts := client.EventsListOptions{}
	if clockKnown {
		// From the daemon's clock read before the replay and the list: what
		// happens after it comes on the stream (the daemon's since is
		// inclusive; what was replayed as well is dropped as seen).
		opts.Since = formatSince(daemonNow.UnixNano())
	} else if resuming {
		opts.Since = formatSince(st.cursor)
	}
	if s.opts.SwarmEvents == SwarmLeader {
		s.leader.Store(s.isLeader(ctx, &info)) // before the first event; then beside the reader
	}
	believed := maps.Clone(st.running) // running at the cursor, as far as we know
	missing, running := st.reconcileList(list.Items, resuming)
	s.emitItem(out, st, event.Item{Event: s.hostEvent(st), Listed: running})
	ins := newInspector(s, st)
	defer func() {
		cancel()
		ins.wg.Wait()
		ins.settleAll(context.WithoutCancel(ctx), out, st)
	}()
	if resuming {
		// What the daemon's truth adds comes before the replay is handed on:
		// the replay moves the cursor past the gap, and a kill then must not
		// lose what was found in it.
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
		s.reconcile(ctx, out, st, ins, r, list.Items, missing, daemonNow)
		ins.awaitReconciles(ctx, out, st)
		if ins.unanswered != nil {
			return fmt.Errorf("reconcile: %w", ins.unanswered)
		}
	}
	stream := s.events(ctx, opts)
	st.connected = true
	s.downSince.Store(0)
	s.m.StreamConnected.WithLabelValues(s.Host).Set(1)
	if !downSince.IsZero() {
		down := time.Since(downSince)
		s.log.Info("docker event stream restored", "down_for", down.Round(time.Millisecond), "unaccounted", len(missing))
		// A gap is announced by reconcile, with what was lost: one notice.
		if (down >= s.opts.GapNoticeAfter || *unreachableReported) && !r.gap && r.clockBack == 0 {
			s.emit(out, st, s.selfEvent(st, "stream_restored", map[string]string{"down_for": down.Round(time.Second).String()}))
		}
	} else {
		s.log.Info("docker event stream open", "containers", len(list.Items), "resuming", resuming)
	}

	if s.opts.SwarmEvents == SwarmLeader {
		var leaderWatch sync.WaitGroup
		defer func() { cancel(); leaderWatch.Wait() }()
		leaderWatch.Go(func() { s.watchLeadership(ctx) })
	}
	for _, m := range r.replay {
		s.handle(ctx, out, st, ins, m)
	}
	if resuming {
		st.auditFrom, st.auditKeys = st.cursor, slices.Clone(st.atCursor) // the audits go on from here
	}
	if !resuming && clockKnown {
		// A resume point from the start, even if no event is ever kept.
		st.forwarded = daemonNow.UnixNano()
		if st.cursor == 0 {
			st.cursor = st.forwarded
		}
		s.emitItem(out, st, event.Item{Event: s.hostEvent(st), Cursor: st.forwarded})
	}
	if !r.gap {
		// The restart counts a later gap is measured against.
		for id, c := range running {
			if _, known := st.restarts[id]; !known {
				ins.start(ctx, inspectJob{id: id, purpose: purposeBaseline, known: c})
			}
		}
	}
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
		// The backlog goes into the queue as soon as there is room.
		var backlog chan<- event.Item
		var next event.Item
		if len(st.backlog) > 0 {
			backlog, next = out, st.backlog[0]
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case backlog <- next:
			st.backlog[0] = event.Item{}
			st.backlog = st.backlog[1:]
			if len(st.backlog) == 0 {
				st.backlog = nil // let the array go
				s.reportDropped(out, st)
			}
		case err := <-stream.Err:
			if err == nil || errors.Is(err, io.EOF) {
				return errors.New("event stream ended")
			}
			return fmt.Errorf("event stream: %w", err)
		case m := <-stream.Messages:
			s.lastEvent.Store(m.TimeNano)
			s.lag.Store(time.Now().UnixNano() - m.TimeNano)
			s.handle(ctx, out, st, ins, m)
		case now := <-holdCheck.C:
			ins.oomWaitsOver(ctx, now)
		case r := <-ins.results:
			ins.settled(ctx, out, st, r)
			if ins.unanswered != nil {
				return fmt.Errorf("reconcile: %w", ins.unanswered)
			}
		case items := <-relisted:
			st.listing = false
			if items == nil {
				continue // failed: the next flush tries again
			}
			st.relist = false
			if gap := st.auditGap; gap != nil {
				st.auditGap = nil
				s.reconcile(ctx, out, st, ins, *gap, items, nil, time.Time{})
			}
			_, running := st.reconcileList(items, false)
			s.log.Info("events were shed while the event queue was nearly full; containers listed again", "running", len(running))
			s.emitItem(out, st, event.Item{Event: s.hostEvent(st), Listed: running})
		case <-auditC:
			s.startAudit(ctx, st, ins, audited)
		case a := <-audited:
			s.finishAudit(ctx, out, st, ins, a)
		case <-flush.C:
			s.forwardCursor(out, st, ins)
			s.flushBacklog(out, st)
			s.reportDropped(out, st)
			s.relist(ctx, out, st, ins, relisted)
		}
	}
}

// handle takes one message of the stream (or of the replay).
func (s *Source) handle(ctx context.Context, out chan<- event.Item, st *streamState, ins *inspector, m mobyevents.Message) {
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
		s.emitItem(out, st, event.Item{Event: s.hostEvent(st), Cursor: ev.TimeNano})
		s.emit(out, st, s.selfEvent(st, "clock_stepped_back", map[string]string{"by": back.Round(time.Millisecond).String()}))
	}
	if ev.Scope == "swarm" && !s.passesSwarm() {
		s.m.EventsSkipped.WithLabelValues(s.Host, "swarm_not_leader").Inc()
		return
	}
	ins.add(ctx, out, st, ev)
}

// audit is the daemon's replay of what the live stream should have
// brought between two audits.
type audit struct {
	from    int64    // the cursor at the last audit
	keys    []string // the events at from
	replay  []mobyevents.Message
	err     error
	running bool
}

// startAudit asks, beside the reader, for what the daemon sent from the
// last audit's cursor to the current one.
func (s *Source) startAudit(ctx context.Context, st *streamState, ins *inspector, done chan<- audit) {
	if st.auditing || st.cursor == st.auditFrom {
		return
	}
	if st.auditFrom == 0 { // the first tick only sets the mark
		st.auditFrom, st.auditKeys = st.cursor, slices.Clone(st.atCursor)
		return
	}
	a := audit{from: st.auditFrom, keys: st.auditKeys}
	until := st.cursor
	st.auditing, st.auditFrom, st.auditKeys = true, st.cursor, slices.Clone(st.atCursor)
	ins.wg.Go(func() {
		a.replay, a.err = s.replay(ctx, a.from, until)
		select {
		case done <- a:
		case <-ctx.Done():
		}
	})
}

// finishAudit hands on what the live stream lost, and reconciles when the
// daemon no longer has all of it.
func (s *Source) finishAudit(ctx context.Context, out chan<- event.Item, st *streamState, ins *inspector, a audit) {
	st.auditing = false
	if a.err != nil {
		s.log.Warn("cannot check the stream against the daemon's replay; will try again", "err", a.err)
		return
	}
	missed := 0
	for _, m := range a.replay {
		typ, action := string(m.Type), strings.SplitN(string(m.Action), ": ", 2)[0]
		if !s.keeps(typ, action) || st.seen.Has(FromMessage(s.Host, m).Key(), time.Time{}) {
			continue
		}
		missed++
		st.late = true // older than the cursor, but no clock step
		s.handle(ctx, out, st, ins, m)
		st.late = false
	}
	if missed == 0 {
		return
	}
	s.m.EventsMissed.WithLabelValues(s.Host).Add(float64(missed))
	first := FromMessage(s.Host, a.replay[len(a.replay)-1]).TimeNano
	if reaches(s.Host, a.replay, a.from, a.keys, &first) {
		s.log.Warn("the daemon dropped events for this reader (it was too slow for 100 ms); they were found in its replay", "count", missed)
		return
	}
	// Lost, and the daemon no longer has what came before them either: the
	// next container list (beside the reader) reconciles the gap.
	s.log.Warn("the daemon dropped events for this reader and no longer has them all: reconciling from its containers", "found", missed)
	ins.facts, ins.replayAhead = scanReplay(s.Host, a.replay, s.opts.IntentWindow), false
	st.auditGap, st.relist = &resumption{gap: true, from: a.from, lostUntil: first}, true
}

// forwardCursor hands the core the cursor of what was read, also of the
// events no rule needs (so a restart resumes from there, and its replay
// is short and reaches the cursor), once nothing read before it is still
// held for settling.
func (s *Source) forwardCursor(out chan<- event.Item, st *streamState, ins *inspector) {
	if len(st.newest) == 0 || len(ins.held) > 0 {
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
	s.emitItem(out, st, event.Item{Event: s.hostEvent(st), Cursor: cursor, AtCursor: keys})
}

// identify learns the daemon's ID and, on the first session, takes its
// resume point from the checkpoint.
func (s *Source) identify(st *streamState, info client.SystemInfoResult) {
	if st.identified {
		if info.Info.ID != "" && info.Info.ID != st.hostID {
			s.log.Warn("the daemon answers with another ID than before; its state stays under the first", "daemon_id", info.Info.ID, "was", st.hostID)
		}
		return
	}
	st.identified, st.hostID = true, info.Info.ID
	id := st.hostID
	s.identity.Store(&id)
	p, ok := s.resumes[st.hostID]
	if !ok || st.hostID == "" {
		p, ok = s.resumes[s.Host]
	}
	s.resumes = nil
	if !ok || p.Cursor == 0 {
		return
	}
	s.log.Info("resuming the event stream", "since", time.Unix(0, p.Cursor).UTC(), "known_running", len(p.Running), "daemon_id", st.hostID)
	st.restore(p)
}

// resumption is what a resumed session learnt from the daemon's replay.
type resumption struct {
	replay []mobyevents.Message // the daemon's buffered events from the cursor to its clock
	// gap: the replay does not reach back to the cursor's own event, so the
	// daemon lost what came between (its 256-event buffer rolled over, or
	// it restarted).
	gap bool
	// clockBack: the daemon's clock is behind the cursor by this much.
	clockBack time.Duration
	from      int64 // the cursor the session resumed from
	// lostUntil: the first replayed event's time (or the daemon's clock):
	// deaths before it and after the cursor came on no stream.
	lostUntil int64
	// listedBy: the daemon's clock when the container list came (estimated
	// from ours), 0 when unknown.
	listedBy int64
}

// resume reads the daemon's replay from the cursor and tells whether it
// reaches back to the cursor's own event.
func (s *Source) resume(ctx context.Context, st *streamState, daemonNow time.Time) (resumption, error) {
	r := resumption{from: st.cursor, lostUntil: daemonNow.UnixNano()}
	if back := time.Duration(st.cursor - daemonNow.UnixNano()); back > clockSkew {
		r.clockBack = back
		return r, nil
	}
	replay, err := s.replay(ctx, st.cursor, daemonNow.UnixNano())
	if err != nil {
		return r, err
	}
	r.replay = replay
	r.gap = !reaches(s.Host, replay, st.cursor, st.atCursor, &r.lostUntil)
	return r, nil
}

// replay reads what the daemon kept from since to until (timeNano). With
// until in the past the daemon sends what it kept and ends the stream, so
// the replay is known whole.
func (s *Source) replay(ctx context.Context, since, until int64) ([]mobyevents.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.InspectTimeout)
	defer cancel()
	res := s.events(ctx, client.EventsListOptions{Since: formatSince(since), Until: formatSince(until)})
	var replay []mobyevents.Message
	for {
		select {
		case m := <-res.Messages:
			replay = append(replay, m)
		case err := <-res.Err:
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("replay events since %s: %w", time.Unix(0, since).UTC().Format(time.RFC3339Nano), err)
			}
			return replay, nil
		}
	}
}

// historyAfter reads what the daemon kept after after, up to its clock now
// (none when its clock is not past after: it stepped back).
func (s *Source) historyAfter(ctx context.Context, after int64) ([]mobyevents.Message, error) {
	info, err := s.info(ctx)
	if err != nil {
		return nil, err
	}
	now, ok := daemonClock(info)
	if !ok || now.UnixNano() <= after {
		return nil, nil
	}
	return s.replay(ctx, after+1, now.UnixNano())
}

// reaches tells whether a replay brings one of the events at the cursor
// (keys; any event at the cursor when none are known) — else the daemon
// lost what came between. It lowers first to the earliest replayed time.
func reaches(host string, replay []mobyevents.Message, cursor int64, keys []string, first *int64) bool {
	// A cursor that names no event (where a stream opened): nothing since
	// is nothing lost.
	found := len(keys) == 0 && len(replay) == 0
	for _, m := range replay {
		ev := FromMessage(host, m)
		if ev.TimeNano < *first {
			*first = ev.TimeNano
		}
		if ev.TimeNano == cursor && (len(keys) == 0 || slices.Contains(keys, ev.Key())) {
			found = true
		}
	}
	return found
}

// createdSince: a listed container was created after the cursor and
// before the daemon's clock was read for the replay (Created has whole
// seconds: only a later second counts, and an earlier one than the
// clock's, so that one made meanwhile, whose create the live stream
// brings, is not taken for a lost one).
func createdSince(list []container.Summary, cursor int64, daemonNow time.Time) bool {
	for _, c := range list {
		created := c.Created * int64(time.Second)
		if created > cursor && created+int64(time.Second) <= daemonNow.UnixNano() {
			return true
		}
	}
	return false
}

// reconcile makes up for what the replay could not tell, from the
// daemon's truth: after a gap every container is inspected and its deaths
// after the cursor are reported; otherwise only the containers known
// running that no replayed event explains are. A container known running
// that is gone was removed: that resolves, it is no crash.
func (s *Source) reconcile(ctx context.Context, out chan<- event.Item, st *streamState, ins *inspector, r resumption, list []container.Summary, missing map[string]event.Container, daemonNow time.Time) {
	switch {
	case r.clockBack > 0:
		s.log.Warn("the daemon's clock is behind the cursor: reconciling by the container list", "by", r.clockBack)
		s.emitItem(out, st, event.Item{Event: s.hostEvent(st), Cursor: daemonNow.UnixNano()})
		s.emit(out, st, s.selfEvent(st, "clock_stepped_back", map[string]string{"by": r.clockBack.Round(time.Millisecond).String()}))
		st.cursor, st.atCursor = daemonNow.UnixNano(), nil
	case r.gap:
		length := time.Duration(r.lostUntil - r.from)
		s.log.Warn("the daemon no longer has the events since the cursor: reconciling from its containers", "since", time.Unix(0, r.from).UTC(), "length", length)
		s.m.StreamGaps.WithLabelValues(s.Host).Inc()
		s.emit(out, st, s.selfEvent(st, "stream_gap", map[string]string{
			"since": time.Unix(0, r.from).UTC().Format(time.RFC3339Nano), "length": length.Round(time.Millisecond).String()}))
		listed := map[string]bool{}
		for _, c := range list {
			listed[c.ID] = true
			baseline := st.knownRestarts(c.ID)
			if created := c.Created * int64(time.Second); baseline == nil && created > r.from {
				zero := 0 // made after the cursor: it started at 0
				baseline = &zero
			}
			now := int64(math.MaxInt64) - int64(clockSkew) // the daemon's clock, when known
			if !daemonNow.IsZero() {
				now = daemonNow.UnixNano()
			}
			if r.listedBy > now && now != int64(math.MaxInt64)-int64(clockSkew) {
				now = r.listedBy
			}
			ins.start(ctx, inspectJob{id: c.ID, purpose: purposeGap, known: infoFromSummary(c, st.shadowed[c.ID], baseline), from: r.from, until: r.lostUntil, now: now})
		}
		for id, c := range missing {
			if !listed[id] && !ins.facts.explains(id) {
				ins.start(ctx, inspectJob{id: id, purpose: purposeReconcile, known: c})
			}
		}
		s.removedWhileDown(out, st, list, missing, r.from)
		return
	}
	s.removedWhileDown(out, st, list, missing, r.from)
	var now int64 // the daemon's clock when the replay was read, when known
	if !daemonNow.IsZero() {
		now = daemonNow.UnixNano()
	}
	for id, c := range missing {
		if !ins.facts.explains(id) {
			ins.start(ctx, inspectJob{id: id, purpose: purposeReconcile, known: c, now: now})
		}
	}
}

// removedWhileDown resolves what the checkpoint had open (an incident, a
// crash loop) about containers not running at the cursor that the daemon
// no longer has: removed while the stream was down, their destroy lost (a
// gap, a clock step) or replayed (then this one changes nothing).
func (s *Source) removedWhileDown(out chan<- event.Item, st *streamState, list []container.Summary, missing map[string]event.Container, from int64) {
	listed := map[string]bool{}
	for _, c := range list {
		listed[c.ID] = true
	}
	for _, id := range st.open {
		if _, known := missing[id]; !known && !listed[id] {
			s.emit(out, st, event.Event{Host: s.Host, HostID: st.hostID, Type: event.ContainerType, Action: "destroy", ActorID: id,
				ExitCode: -1, Attributes: map[string]string{}, Reconciled: true, TimeNano: from, Time: time.Unix(0, from).UTC()})
		}
	}
	st.open = nil
}

// sourceTracks are the container actions the source itself follows
// (intent, OOM, the running set), kept whatever the Interest says.
var sourceTracks = map[string]bool{"start": true, "kill": true, "stop": true, "restart": true, "oom": true, "die": true, "destroy": true}

func (s *Source) keeps(typ, action string) bool {
	return (typ == event.ContainerType && sourceTracks[action]) || s.opts.Interest.Keeps(typ, action)
}

func (s *Source) passesSwarm() bool {
	switch s.opts.SwarmEvents {
	case SwarmAll:
		return true
	case SwarmLeader:
		return s.leader.Load()
	}
	return false
}

// watchLeadership keeps s.leader current until ctx ends, beside the reader.
func (s *Source) watchLeadership(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(s.opts.LeaderCheckEvery):
		}
		info, err := s.info(ctx)
		if err != nil {
			s.log.Warn("cannot tell whether this manager leads the swarm", "err", err)
			s.leader.Store(false)
			continue
		}
		s.leader.Store(s.isLeader(ctx, &info))
	}
}

// info asks the daemon about itself.
func (s *Source) info(ctx context.Context) (client.SystemInfoResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.InspectTimeout)
	defer cancel()
	info, err := s.docker.Info(ctx, client.InfoOptions{})
	if err != nil {
		return info, fmt.Errorf("read the daemon's info: %w", err)
	}
	return info, nil
}

// daemonClock is the daemon's time as /info tells it (false: unknown).
func daemonClock(info client.SystemInfoResult) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, info.Info.SystemTime)
	if err != nil || t.IsZero() {
		return time.Now(), false
	}
	return t, true
}

// isLeader tells from the daemon's info whether it leads its swarm; false
// on any doubt.
func (s *Source) isLeader(ctx context.Context, info *client.SystemInfoResult) bool {
	if info == nil || !info.Info.Swarm.ControlAvailable {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.InspectTimeout)
	defer cancel()
	node, err := s.docker.NodeInspect(ctx, info.Info.Swarm.NodeID, client.NodeInspectOptions{})
	if err != nil {
		s.log.Warn("cannot tell whether this manager leads the swarm", "err", err)
		return false
	}
	return node.Node.ManagerStatus != nil && node.Node.ManagerStatus.Leader
}

func (s *Source) selfEvent(st *streamState, action string, attrs map[string]string) event.Event {
	now := time.Now().UTC()
	return event.Event{Host: s.Host, HostID: st.hostID, Type: event.SelfType, Action: action, ActorID: s.Host, Name: s.Host,
		Attributes: attrs, ExitCode: -1, Time: now, TimeNano: now.UnixNano()}
}

// hostEvent names this daemon on an item that carries no event.
func (s *Source) hostEvent(st *streamState) event.Event {
	return event.Event{Host: s.Host, HostID: st.hostID}
}

// emit hands ev on without ever blocking the stream reader.
func (s *Source) emit(out chan<- event.Item, st *streamState, ev event.Event) {
	s.emitItem(out, st, event.Item{Event: ev})
}

// maxBacklog bounds the urgent items kept while the queue is full.
const maxBacklog = 10000

// emitItem hands it on without ever blocking the stream reader. When the
// queue is nearly full, routine events (starts, healthy reports, …) are
// shed and a fresh container list makes up for them later; urgent ones
// wait in order in a backlog, and are lost (counted, logged, announced)
// only when that is full too.
func (s *Source) emitItem(out chan<- event.Item, st *streamState, it event.Item) {
	it.Event.Engine = s.Engine()
	s.flushBacklog(out, st)
	urgent := isUrgent(it)
	if len(st.backlog) == 0 && (urgent || len(out) < cap(out)*3/4) {
		select {
		case out <- it:
			return
		default:
		}
	}
	switch {
	case !urgent:
		st.relist = true
		s.m.EventsSkipped.WithLabelValues(s.Host, "shed").Inc()
	case len(st.backlog) < maxBacklog:
		st.backlog = append(st.backlog, it)
	default:
		if st.dropped == 0 {
			s.log.Error("event queue and backlog full; dropping deaths until they drain", "capacity", cap(out), "backlog", maxBacklog)
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

// flushBacklog moves what waits into the queue while there is room.
func (s *Source) flushBacklog(out chan<- event.Item, st *streamState) {
	for len(st.backlog) > 0 {
		select {
		case out <- st.backlog[0]:
			st.backlog[0] = event.Item{}
			st.backlog = st.backlog[1:]
		default:
			return
		}
	}
	st.backlog = nil // let the array go
}

// relist asks for a fresh container list once the backlog is empty and
// the queue has room, at most once a second, to make up for shed events.
// The list runs beside the reader (a list takes seconds on a busy host,
// and a reader that stalls makes the daemon drop events); its result
// comes back on done.
func (s *Source) relist(ctx context.Context, out chan<- event.Item, st *streamState, ins *inspector, done chan<- []container.Summary) {
	if !st.relist || st.listing || len(st.backlog) > 0 || len(out) >= cap(out)/2 || time.Since(st.lastRelist) < time.Second {
		return
	}
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

// reportDropped sends one events_dropped event for what was lost, once
// the queue has room again.
func (s *Source) reportDropped(out chan<- event.Item, st *streamState) {
	if st.dropped == 0 {
		return
	}
	notice := s.selfEvent(st, "events_dropped", map[string]string{"count": strconv.Itoa(st.dropped)})
	select {
	case out <- event.Item{Event: notice}:
		s.log.Error("events were dropped because the event queue was full", "count", st.dropped)
		st.dropped = 0
	default:
	}
}

func formatSince(timeNano int64) string {
	return fmt.Sprintf("%d.%09d", timeNano/int64(time.Second), timeNano%int64(time.Second))
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func infoFromSummary(c container.Summary, shadowed []string, restarts *int) event.Container {
	name := c.ID
	if len(c.Names) > 0 {
		name = trimSlash(c.Names[0])
	}
	return event.Container{Name: name, Image: c.Image, Labels: c.Labels, Shadowed: shadowed, Restarts: restarts}
}

func trimSlash(s string) string {
	if len(s) > 0 && s[0] == '/' {
		return s[1:]
	}
	return s
}

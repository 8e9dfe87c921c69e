package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
)

// Docker is the part of the Docker client that a Source uses.
type Docker interface {
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

// Source supervises the event stream of one daemon: it reconnects with
// backoff, resumes where it stopped, drops replayed duplicates and, after a
// reconnect, reports containers that died while the stream was down.
type Source struct {
	Host    string
	Docker  Docker
	Log     *slog.Logger
	Metrics *metrics.Metrics

	// Since is the timeNano to resume from; 0 starts with live events only.
	Since int64
	// RetryMin and RetryMax bound the reconnect backoff.
	RetryMin, RetryMax time.Duration
	// HealthyAfter: a stream that stayed up this long resets the backoff.
	HealthyAfter time.Duration
	// ReconcileGrace is how long replayed events may still explain a
	// container found dead on reconnect before it is reported as such.
	ReconcileGrace time.Duration
	// UnreachableAfter: an outage this long is reported while it lasts.
	UnreachableAfter time.Duration
	// GapNoticeAfter: an outage at least this long is reported on reconnect.
	GapNoticeAfter time.Duration
	// IntentWindow: a die this soon after a kill of the same container
	// counts as intentional (and as OOM after an oom event).
	IntentWindow time.Duration

	// restored is what an earlier run knew; the first connect reconciles
	// against it as after a reconnect.
	restored *state.Checkpoint
	// running is the last published copy of the containers known running.
	running atomic.Pointer[map[string]state.Container]

	// downSince is when the stream was last lost (unix nanoseconds), 0
	// while it is open; read by Ready from other goroutines.
	downSince atomic.Int64
}

// NewSource returns a Source with the default timings.
func NewSource(host string, docker Docker, log *slog.Logger, m *metrics.Metrics) *Source {
	s := &Source{
		Host: host, Docker: docker, Log: log.With("host", host), Metrics: m,
		RetryMin: 500 * time.Millisecond, RetryMax: 30 * time.Second, HealthyAfter: time.Minute,
		ReconcileGrace: 2 * time.Second, UnreachableAfter: 30 * time.Second,
		GapNoticeAfter: 5 * time.Second, IntentWindow: defaultIntentWindow,
	}
	s.downSince.Store(1) // never connected: not ready
	return s
}

// Restore makes the source resume where an earlier run stopped: from its
// cursor, and reporting containers that died meanwhile. Call before Run.
func (s *Source) Restore(cp state.Checkpoint) {
	s.Since = cp.Cursor
	s.restored = &cp
}

// Running returns the containers the source last knew running (updated
// about once a second), for checkpoints.
func (s *Source) Running() map[string]state.Container {
	if p := s.running.Load(); p != nil {
		return *p
	}
	return nil
}

// Ready tells whether the stream is open, or was lost less than grace ago.
func (s *Source) Ready(grace time.Duration) bool {
	down := s.downSince.Load()
	return down == 0 || time.Since(time.Unix(0, down)) < grace
}

// Run streams events into out until ctx ends. It never blocks on out: when
// out is full the event is dropped, counted, logged, and reported by an
// events_dropped event as soon as there is room.
func (s *Source) Run(ctx context.Context, out chan<- event.Event) error {
	st := newStreamState(s.Since)
	restoredAt := time.Time{}
	if s.restored != nil {
		for id, c := range s.restored.Running {
			st.running[id] = containerInfo{name: c.Name, image: c.Image, labels: c.Labels}
		}
		restoredAt = time.Now() // reconcile on the first connect
	}
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = s.RetryMin, s.RetryMax
	connected := s.Metrics.StreamConnected.WithLabelValues(s.Host)
	downSince := restoredAt // zero until the first outage
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
		if time.Since(start) >= s.HealthyAfter {
			bo.Reset()
		}
		if st.connected {
			downSince = time.Now()
			unreachableReported = false
			st.connected = false
			s.Metrics.StreamReconnects.WithLabelValues(s.Host).Inc()
		} else if downSince.IsZero() {
			downSince = start
		}
		wait := bo.NextBackOff()
		s.Log.Warn("docker event stream down; reconnecting", "err", err, "retry_in", wait.Round(time.Millisecond),
			"down_for", time.Since(downSince).Round(time.Second))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if !unreachableReported && time.Since(downSince) >= s.UnreachableAfter {
			unreachableReported = true
			s.emit(out, st, s.selfEvent("daemon_unreachable", map[string]string{
				"down_for": time.Since(downSince).Round(time.Second).String(),
				"error":    errorText(err),
			}))
		}
	}
}

// session is one connection: list, open the stream, read until it fails.
func (s *Source) session(ctx context.Context, out chan<- event.Event, st *streamState, downSince time.Time, unreachableReported *bool) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	list, err := s.Docker.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil {
		return fmt.Errorf("list containers: %w", err)
	}
	opts := client.EventsListOptions{}
	if st.cursor > 0 {
		opts.Since = formatSince(st.cursor)
	}
	stream := s.Docker.Events(ctx, opts)
	st.connected = true
	s.downSince.Store(0)
	s.Metrics.StreamConnected.WithLabelValues(s.Host).Set(1)

	reconnect := !downSince.IsZero()
	missing := st.reconcileList(s.Host, list.Items, reconnect)
	if reconnect {
		down := time.Since(downSince)
		s.Log.Info("docker event stream restored", "down_for", down.Round(time.Millisecond), "unaccounted", len(missing))
		if down >= s.GapNoticeAfter || *unreachableReported {
			s.emit(out, st, s.selfEvent("stream_restored", map[string]string{"down_for": down.Round(time.Second).String()}))
		}
	} else {
		s.Log.Info("docker event stream open", "containers", len(list.Items))
	}

	var graceC <-chan time.Time
	if len(missing) > 0 {
		grace := time.NewTimer(s.ReconcileGrace)
		defer grace.Stop()
		graceC = grace.C
	}
	flush := time.NewTicker(time.Second)
	defer flush.Stop()
	// SIGKILL deaths nobody asked for wait briefly for their oom event,
	// which the daemon may send after the die.
	held := map[string]heldDeath{}
	defer func() { s.releaseHeld(ctx, out, st, held, time.Time{}) }()
	holdCheck := time.NewTicker(oomWait / 5)
	defer holdCheck.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case err := <-stream.Err:
			if err == nil || errors.Is(err, io.EOF) {
				return errors.New("event stream ended")
			}
			return fmt.Errorf("event stream: %w", err)
		case m := <-stream.Messages:
			ev, isNew := st.accept(s.Host, m, s.IntentWindow)
			s.Metrics.EventsReceived.WithLabelValues(s.Host, ev.Type, ev.Action).Inc()
			if !isNew {
				s.Metrics.EventsDuplicate.WithLabelValues(s.Host).Inc()
				continue
			}
			if ev.Type == event.ContainerType && (ev.Action == "die" || ev.Action == "destroy") {
				delete(missing, ev.ActorID) // the replay explained it
			}
			switch {
			case mayBeOOM(ev):
				held[ev.ActorID] = heldDeath{ev: ev, until: time.Now().Add(oomWait)}
				continue
			case ev.Type == event.ContainerType && ev.Action == "oom":
				if h, ok := held[ev.ActorID]; ok {
					delete(held, ev.ActorID)
					delete(st.oom, ev.ActorID) // spent on this death
					h.ev.OOMKilled = true
					s.emit(out, st, ev)
					s.emit(out, st, h.ev)
					continue
				}
			}
			s.emit(out, st, ev)
		case now := <-holdCheck.C:
			s.releaseHeld(ctx, out, st, held, now)
		case <-graceC:
			for id, c := range missing {
				s.emit(out, st, s.reconciledDeath(ctx, id, c))
				delete(st.running, id)
			}
			missing = nil
		case <-flush.C:
			s.reportDropped(out, st)
			s.publishRunning(st)
		}
	}
}

func (s *Source) publishRunning(st *streamState) {
	running := make(map[string]state.Container, len(st.running))
	for id, c := range st.running {
		running[id] = state.Container{Name: c.name, Image: c.image, Labels: c.labels}
	}
	s.running.Store(&running)
}

const (
	// oomWait is how long a SIGKILL death nobody asked for waits for its
	// oom event before whalewatch asks the daemon instead.
	oomWait = time.Second
	// oomCheckTimeout bounds that one inspect: the daemon drops readers
	// that stall for 100 ms.
	oomCheckTimeout = 50 * time.Millisecond
)

// heldDeath is a die waiting for its oom event.
type heldDeath struct {
	ev    event.Event
	until time.Time
}

// mayBeOOM: a SIGKILL death that neither a kill nor an oom event explains.
func mayBeOOM(ev event.Event) bool {
	return ev.Type == event.ContainerType && ev.Action == "die" && ev.ExitCode == 137 && !ev.Intentional && !ev.OOMKilled
}

// releaseHeld passes on the held deaths whose wait is over (all of them
// with a zero now). Without an oom event, the daemon is asked; an OOM kill
// it confirms gets an oom event in place of the daemon's, whose late
// original is then dropped — one OOM report whatever the order.
func (s *Source) releaseHeld(ctx context.Context, out chan<- event.Event, st *streamState, held map[string]heldDeath, now time.Time) {
	for id, h := range held {
		if !now.IsZero() && now.Before(h.until) {
			continue
		}
		delete(held, id)
		if s.checkOOM(ctx, &h.ev) {
			oom := h.ev
			oom.Action, oom.ExitCode, oom.OOMKilled = "oom", -1, false
			st.lateOOM[id] = true
			s.emit(out, st, oom)
		}
		s.emit(out, st, h.ev)
	}
}

// checkOOM asks the daemon whether the kernel killed a container, and
// reports whether it did.
func (s *Source) checkOOM(ctx context.Context, ev *event.Event) bool {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), oomCheckTimeout)
	defer cancel()
	if res, err := s.Docker.ContainerInspect(ctx, ev.ActorID, client.ContainerInspectOptions{}); err == nil && res.Container.State != nil {
		ev.OOMKilled = res.Container.State.OOMKilled
	}
	return ev.OOMKilled
}

// reconciledDeath makes the die event the stream never carried.
func (s *Source) reconciledDeath(ctx context.Context, id string, c containerInfo) event.Event {
	ev := event.Event{
		Host: s.Host, Type: event.ContainerType, Action: "die", ActorID: id,
		Name: c.name, Image: c.image, Labels: c.labels, ExitCode: -1,
		Attributes: map[string]string{"name": c.name, "image": c.image},
		Reconciled: true, Time: time.Now().UTC(),
	}
	ev.TimeNano = ev.Time.UnixNano()
	res, err := s.Docker.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	switch {
	case err != nil:
		// Removed while the stream was down: the exit code is lost.
		ev.Attributes["whalewatch.removed"] = "true"
	case res.Container.State != nil:
		st := res.Container.State
		ev.ExitCode, ev.OOMKilled = st.ExitCode, st.OOMKilled
		ev.Attributes["exitCode"] = strconv.Itoa(st.ExitCode)
		if t, err := time.Parse(time.RFC3339Nano, st.FinishedAt); err == nil && !t.IsZero() {
			ev.Time, ev.TimeNano = t.UTC(), t.UnixNano()
		}
	}
	s.Log.Info("container died while the stream was down", "container", c.name, "exit_code", ev.ExitCode)
	return ev
}

func (s *Source) selfEvent(action string, attrs map[string]string) event.Event {
	now := time.Now().UTC()
	return event.Event{Host: s.Host, Type: event.SelfType, Action: action, ActorID: s.Host, Name: s.Host,
		Attributes: attrs, ExitCode: -1, Time: now, TimeNano: now.UnixNano()}
}

// emit hands ev on without ever blocking the stream reader.
func (s *Source) emit(out chan<- event.Event, st *streamState, ev event.Event) {
	s.reportDropped(out, st)
	select {
	case out <- ev:
	default:
		if st.dropped == 0 {
			s.Log.Error("event queue full; dropping events until it drains", "capacity", cap(out))
		}
		st.dropped++
		s.Metrics.EventsDropped.WithLabelValues(s.Host).Inc()
	}
}

// reportDropped sends one events_dropped event for what was lost, once
// the queue has room again.
func (s *Source) reportDropped(out chan<- event.Event, st *streamState) {
	if st.dropped == 0 {
		return
	}
	notice := s.selfEvent("events_dropped", map[string]string{"count": strconv.Itoa(st.dropped)})
	select {
	case out <- notice:
		s.Log.Error("events were dropped because the event queue was full", "count", st.dropped)
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

// containerInfo is what we remember of a running container to report it
// if it dies unseen.
type containerInfo struct {
	name, image string
	labels      map[string]string
}

func infoFromSummary(c container.Summary) containerInfo {
	name := c.ID
	if len(c.Names) > 0 {
		name = trimSlash(c.Names[0])
	}
	return containerInfo{name: name, image: c.Image, labels: c.Labels}
}

func trimSlash(s string) string {
	if len(s) > 0 && s[0] == '/' {
		return s[1:]
	}
	return s
}

package notify

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
)

// Destination is a named place notifications go.
type Destination struct {
	Name     string
	Notifier Notifier
	// Concurrency is how many notifications may be in flight to it at once
	// (at least 1). Messages about one incident, group or container stay
	// in order whatever it is.
	Concurrency int
}

// Dispatcher keeps one durable queue (in the state store's outbox) and one
// set of workers per destination, so a slow or dead destination never holds
// up event intake or the other destinations. A destination receives the
// messages about one incident, group or container in order, up to its
// Concurrency at once; one waiting for its retry holds back only those of
// its own incident, group or container. A notification leaves the outbox
// only once it is delivered or given up (and reported). When the state
// file cannot be written the queues live on in memory (see Commit).
type Dispatcher struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	store   *state.Store
	max     int
	dests   []*queue

	// RetryFor bounds how long one notification is retried.
	RetryFor time.Duration
	// RetryMin and RetryMax bound the wait between tries.
	RetryMin, RetryMax time.Duration
	// DrainTimeout is how long Run keeps delivering after its context ends.
	DrainTimeout time.Duration
	// ReportEvery is how often drops are announced on the other destinations,
	// and the least time between two announcements of a failing destination.
	ReportEvery time.Duration
	// StateRetryMin and StateRetryMax bound the wait between two tries to
	// write what waits in memory while the state file cannot be written.
	StateRetryMin, StateRetryMax time.Duration

	stateWake       chan struct{}
	stateDownShared atomic.Bool
	// Run's goroutine only:
	stateDown     bool
	failuresSeen  int64
	stateFailedAt time.Time
}

type queue struct {
	Destination
	wake       chan struct{}
	dropped    atomic.Int64 // since the last report
	unreadable atomic.Int64 // since the last report
	failing    atomic.Value // string: the last permanent failure not yet reported
	announced  time.Time    // of the last failure report; Run's goroutine only
	// failingSince is when its tries began failing (unix ns), 0 while the
	// last try succeeded.
	failingSince atomic.Int64
	// For Status: the last delivery and the last failed try (unix ns), and its error.
	lastSent, lastFailed atomic.Int64
	lastError            atomic.Pointer[string]
}

// DestinationStatus is what the status page shows of a destination.
type DestinationStatus struct {
	Name         string    `json:"name"`
	Queued       int       `json:"queued"`
	LastSent     time.Time `json:"last_sent,omitzero"`
	LastFailed   time.Time `json:"last_failed,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	FailingSince time.Time `json:"failing_since,omitzero"` // retried since then, zero when not
}

// Status tells each destination's queue depth, last delivery and last failure.
func (d *Dispatcher) Status() []DestinationStatus {
	out := make([]DestinationStatus, len(d.dests))
	at := func(ns int64) time.Time {
		if ns == 0 {
			return time.Time{}
		}
		return time.Unix(0, ns)
	}
	for i, q := range d.dests {
		out[i] = DestinationStatus{Name: q.Name, Queued: d.store.Len(q.Name), LastSent: at(q.lastSent.Load()),
			LastFailed: at(q.lastFailed.Load()), FailingSince: at(q.failingSince.Load())}
		if e := q.lastError.Load(); e != nil {
			out[i].LastError = *e
		}
	}
	return out
}

// NewDispatcher makes a dispatcher whose queues, kept in store, hold at
// most queueSize notifications each.
func NewDispatcher(log *slog.Logger, m *metrics.Metrics, store *state.Store, queueSize int, dests ...Destination) *Dispatcher {
	d := &Dispatcher{
		log: log, metrics: m, store: store, max: queueSize,
		RetryFor: 10 * time.Minute, RetryMin: time.Second, RetryMax: time.Minute,
		DrainTimeout: 5 * time.Second, ReportEvery: 10 * time.Second, StateRetryMin: time.Second, StateRetryMax: 30 * time.Second,
		stateWake: make(chan struct{}, 1),
	}
	for _, dest := range dests {
		d.dests = append(d.dests, &queue{Destination: dest, wake: make(chan struct{}, 1)})
	}
	return d
}

// Names lists the destinations in order.
func (d *Dispatcher) Names() []string {
	names := make([]string, len(d.dests))
	for i, q := range d.dests {
		names[i] = q.Name
	}
	return names
}

// Commit queues the notifications for their destinations (all of them
// when To is empty) and saves snap with them in one transaction. It never
// waits for a destination: a full queue drops a notification, counts it
// and reports it; an id already queued or delivered recently is refused.
// When the state file cannot be written the store keeps them in memory
// and they are delivered all the same; Run says so (log, metric, a
// notice to the destinations) and writes them once the disk recovers.
// An error means nothing was queued.
func (d *Dispatcher) Commit(out []Outgoing, snap state.Snapshot) error {
	msgs := make([]state.Message, 0, len(out))
	for _, o := range out {
		data, err := json.Marshal(o.N)
		if err != nil {
			return fmt.Errorf("encode notification %s: %w", o.N.ID, err)
		}
		var dests []string
		for _, q := range d.dests {
			if len(o.To) == 0 || slices.Contains(o.To, q.Name) {
				dests = append(dests, q.Name)
			}
		}
		msgs = append(msgs, state.Message{ID: o.N.ID, Data: data, Dests: dests, Incident: o.N.historyRecord()})
	}
	res, err := d.store.Commit(msgs, snap, d.max, time.Now())
	d.pokeState()
	if err != nil {
		return err
	}
	if res.Duplicate > 0 {
		d.metrics.NotificationsDuplicate.Add(float64(res.Duplicate))
		d.log.Info("notifications already queued or delivered were not queued again", "count", res.Duplicate)
	}
	for _, q := range d.dests {
		if n := res.Full[q.Name]; n > 0 {
			if q.dropped.Add(int64(n)) == int64(n) {
				d.log.Error("notification queue full; dropping", "destination", q.Name, "capacity", d.max)
			}
			d.metrics.Notifications.WithLabelValues(q.Name, "dropped").Add(float64(n))
		}
		if res.Queued[q.Name] > 0 {
			d.metrics.QueueDepth.WithLabelValues(q.Name).Set(float64(d.store.Len(q.Name)))
			select {
			case q.wake <- struct{}{}:
			default:
			}
		}
	}
	return nil
}

// Run delivers until ctx ends, then keeps delivering for up to
// DrainTimeout; what is still queued then stays in the outbox for the next
// start.
func (d *Dispatcher) Run(ctx context.Context) error {
	drainCtx, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()
	var wg sync.WaitGroup
	for _, q := range d.dests {
		wg.Go(func() { d.work(ctx, drainCtx, q) })
	}
	ticker := time.NewTicker(d.ReportEvery)
	defer ticker.Stop()
	flush := time.NewTimer(time.Hour)
	flush.Stop()
	defer flush.Stop()
	wait, armed := time.Duration(0), false // between tries to write what waits in memory
	for done := false; !done; {
		select {
		case <-ticker.C:
			d.report()
		case <-d.stateWake:
		case <-flush.C:
			armed = false
			if err := d.store.Flush(); err != nil {
				wait = min(max(2*wait, d.StateRetryMin), d.StateRetryMax)
				d.log.Warn("the state file still cannot be written; will retry", "file", d.store.Path(), "retry_in", wait, "err", err)
			}
		case <-ctx.Done():
			done = true
		}
		switch down := d.watchState(); {
		case down && !armed:
			flush.Reset(max(wait, d.StateRetryMin))
			armed = true
		case !down:
			wait = 0
		}
	}
	timer := time.AfterFunc(d.DrainTimeout, cancelDrain)
	defer timer.Stop()
	wg.Wait()
	d.report()
	if d.store.WriteError() != nil {
		if err := d.store.Flush(); err != nil {
			d.log.Error("the state file cannot be written: what waited in memory is lost at exit (the streams resume from the last saved cursor, so most of it is made again and what was delivered since is sent again)",
				"file", d.store.Path(), "notifications", d.store.PendingCount(), "err", err)
		}
		d.watchState()
	}
	for _, q := range d.dests {
		if left := d.store.Len(q.Name); left > 0 {
			if d.store.Durable() {
				d.log.Warn("notifications kept in the outbox for the next start", "destination", q.Name, "count", left)
			} else {
				d.log.Error("notifications not delivered and lost: set STATE_DIR to keep them", "destination", q.Name, "count", left)
				d.metrics.Notifications.WithLabelValues(q.Name, "dropped").Add(float64(left))
			}
		}
	}
	return nil
}

// pokeState wakes Run when the state file's writability may have changed.
func (d *Dispatcher) pokeState() {
	if (d.store.WriteError() != nil) != d.stateDownHint() {
		select {
		case d.stateWake <- struct{}{}:
		default:
		}
	}
}

// stateDownHint is a cheap guess at stateDown for other goroutines: a
// spurious wake costs nothing.
func (d *Dispatcher) stateDownHint() bool { return d.stateDownShared.Load() }

// watchState follows the state file's writability: metrics, a log line
// and a notice to every destination when it changes. It tells whether a
// flush is due (the file cannot be written).
func (d *Dispatcher) watchState() (down bool) {
	err := d.store.WriteError()
	if f := d.store.WriteFailures(); f > d.failuresSeen {
		d.metrics.StateWriteFailures.Add(float64(f - d.failuresSeen))
		d.failuresSeen = f
	}
	d.metrics.StatePending.Set(float64(d.store.PendingCount()))
	switch {
	case err != nil && !d.stateDown:
		d.stateDown, d.stateFailedAt = true, time.Now()
		d.stateDownShared.Store(true)
		d.metrics.StateWritable.Set(0)
		d.log.Error("the state file cannot be written: notifications are kept in memory and still delivered, and written once it can be; a kill meanwhile loses what only memory holds",
			"file", d.store.Path(), "err", err)
		d.announceAll("state_unwritable", map[string]string{"file": d.store.Path(), "reason": err.Error(),
			"effect": "notifications are delivered from memory; a restart now loses them (most are made again from the last saved cursor)"})
	case err == nil && d.stateDown:
		d.stateDown = false
		d.stateDownShared.Store(false)
		d.metrics.StateWritable.Set(1)
		d.log.Info("the state file can be written again: what waited in memory is saved", "file", d.store.Path(), "after", time.Since(d.stateFailedAt).Round(time.Second))
		d.announceAll("state_writable", map[string]string{"file": d.store.Path(), "after": time.Since(d.stateFailedAt).Round(time.Second).String()})
	}
	return d.stateDown
}

// Announce sends a whalewatch notice (an event of Type "whalewatch") to
// every destination.
func (d *Dispatcher) Announce(action string, attrs map[string]string) { d.announceAll(action, attrs) }

// announceAll sends a notice to every destination.
func (d *Dispatcher) announceAll(action string, attrs map[string]string) {
	now := time.Now().UTC()
	ev := event.Event{Type: event.SelfType, Action: action, ExitCode: -1, Time: now, TimeNano: now.UnixNano(), Attributes: attrs}
	if err := d.Commit([]Outgoing{{N: New("WHALEWATCH", "", ev, nil)}}, state.Snapshot{}); err != nil {
		d.log.Error("cannot queue a notice", "action", action, "err", err)
	}
}

// Failing names the destination whose deliveries have been retried the
// longest (unreachable, 429, 5xx), and since when; "" when no destination
// is being retried.
func (d *Dispatcher) Failing() (name string, since time.Time) {
	for _, q := range d.dests {
		if ns := q.failingSince.Load(); ns != 0 && (name == "" || ns < since.UnixNano()) {
			name, since = q.Name, time.Unix(0, ns)
		}
	}
	return name, since
}

// report announces drops and failures of each destination on the others
// (never into the failing one).
func (d *Dispatcher) report() {
	for _, q := range d.dests {
		if n := q.dropped.Swap(0); n > 0 {
			d.log.Error("notifications were dropped", "destination", q.Name, "count", n)
			d.announce(q, "notifications_dropped", map[string]string{"count": strconv.FormatInt(n, 10), "reason": "its queue was full"})
		}
		if n := q.unreadable.Swap(0); n > 0 {
			d.announce(q, "notifications_unreadable", map[string]string{"count": strconv.FormatInt(n, 10), "reason": "outbox entries of the state file could not be read (damaged) and were skipped"})
		}
		if reason, _ := q.failing.Swap("").(string); reason != "" && time.Since(q.announced) >= d.ReportEvery {
			q.announced = time.Now()
			d.announce(q, "delivery_failed", map[string]string{"reason": reason})
		}
	}
}

func (d *Dispatcher) announce(failing *queue, action string, attrs map[string]string) {
	attrs["destination"] = failing.Name
	now := time.Now().UTC()
	ev := event.Event{Type: event.SelfType, Action: action, ExitCode: -1, Time: now, TimeNano: now.UnixNano(), Attributes: attrs}
	var others []string
	for _, q := range d.dests {
		if q != failing {
			others = append(others, q.Name)
		}
	}
	if len(others) == 0 {
		return
	}
	if err := d.Commit([]Outgoing{{N: New("WHALEWATCH", "", ev, nil), To: others}}, state.Snapshot{}); err != nil {
		d.log.Error("cannot queue a notice", "action", action, "err", err)
	}
}

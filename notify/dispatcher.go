package notify

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

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
// Concurrency others beside; a notification leaves the outbox only once it
// is delivered or given up (and reported).
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
}

type queue struct {
	Destination
	wake      chan struct{}
	dropped   atomic.Int64 // since the last report
	failing   atomic.Value // string: the last permanent failure not yet reported
	announced time.Time    // of the last failure report; Run's goroutine only
	// failingSince is when its tries began failing (unix ns), 0 while the
	// last try succeeded.
	failingSince atomic.Int64
}

// NewDispatcher makes a dispatcher whose queues, kept in store, hold at
// most queueSize notifications each.
func NewDispatcher(log *slog.Logger, m *metrics.Metrics, store *state.Store, queueSize int, dests ...Destination) *Dispatcher {
	d := &Dispatcher{
		log: log, metrics: m, store: store, max: queueSize,
		RetryFor: 10 * time.Minute, RetryMin: time.Second, RetryMax: time.Minute,
		DrainTimeout: 5 * time.Second, ReportEvery: 10 * time.Second,
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
// An error means nothing was written.
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
		msgs = append(msgs, state.Message{ID: o.N.ID, Data: data, Dests: dests})
	}
	res, err := d.store.Commit(msgs, snap, d.max, time.Now())
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
	for done := false; !done; {
		select {
		case <-ticker.C:
			d.report()
		case <-ctx.Done():
			done = true
		}
	}
	timer := time.AfterFunc(d.DrainTimeout, cancelDrain)
	defer timer.Stop()
	wg.Wait()
	d.report()
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

// Bounds of one destination's delivery pipeline.
const (
	laneDepth   = 16  // notifications waiting in each lane
	feedBatch   = 256 // outbox entries read at once
	removeBatch = 256 // delivered entries removed in one transaction
)

// queued is an outbox entry on its way: n is nil when it was unreadable.
type queued struct {
	seq uint64
	n   *Notification
}

// delivered is an entry to take out of the outbox; removed is closed once
// it is.
type delivered struct {
	seq     uint64
	removed chan struct{}
}

// work delivers one destination's queue through Concurrency lanes, each
// in order; a notification takes the lane of its order key. Delivered
// entries leave the outbox in batches, and a lane takes its next entry
// only once its last one is out: a kill sends again at most what was in
// flight, Concurrency notifications, with the same webhook-id. After ctx
// ends it goes on until the queue is empty or drainCtx ends too.
func (d *Dispatcher) work(ctx, drainCtx context.Context, q *queue) {
	lanes := make([]chan queued, max(q.Concurrency, 1))
	done := make(chan delivered, len(lanes))
	var wg sync.WaitGroup
	for i := range lanes {
		lanes[i] = make(chan queued, laneDepth)
		wg.Go(func() { d.lane(drainCtx, q, lanes[i], done) })
	}
	removed := make(chan struct{})
	go func() { d.removeDelivered(q, done); close(removed) }()
	d.feed(ctx, drainCtx, q, lanes)
	for _, lane := range lanes {
		close(lane)
	}
	wg.Wait()
	close(done)
	<-removed
}

// feed hands the outbox's entries to the lanes, in order, until ctx ends
// and every entry is handed out (or drainCtx ends).
func (d *Dispatcher) feed(ctx, drainCtx context.Context, q *queue, lanes []chan queued) {
	var last uint64
	for drainCtx.Err() == nil {
		entries, err := d.store.Entries(q.Name, last, feedBatch)
		if err != nil {
			d.log.Error("cannot read the outbox", "destination", q.Name, "err", err)
		}
		if len(entries) == 0 || err != nil {
			if ctx.Err() != nil {
				return // all handed out
			}
			select {
			case <-q.wake:
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
			continue
		}
		for _, e := range entries {
			item := queued{seq: e.Seq, n: &Notification{}}
			if err := json.Unmarshal(e.Data, item.n); err != nil {
				d.log.Error("unreadable notification in the outbox; removing it", "destination", q.Name, "err", err)
				d.metrics.Notifications.WithLabelValues(q.Name, "failed").Inc()
				item.n = nil
			}
			select {
			case lanes[laneOf(item.n, len(lanes))] <- item:
			case <-drainCtx.Done():
				return
			}
			last = e.Seq
		}
	}
}

// laneOf keeps what must stay in order in one lane: an incident's
// messages, a group's, a container's.
func laneOf(n *Notification, lanes int) int {
	if lanes == 1 || n == nil {
		return 0
	}
	key := n.ID
	switch {
	case n.Incident != nil:
		key = n.Incident.ID
	case n.Group != nil:
		key = n.Group.Key
	case n.Event.ActorID != "":
		key = n.Event.Host + "|" + n.Event.ActorID
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(key))
	return int(h.Sum32() % uint32(lanes))
}

// lane delivers its notifications in order and reports each one done;
// one interrupted by drainCtx stays queued, and so does what follows it.
func (d *Dispatcher) lane(drainCtx context.Context, q *queue, in <-chan queued, done chan<- delivered) {
	for item := range in {
		if item.n != nil && !d.deliver(drainCtx, q, *item.n) {
			for range in { // stays queued for the next start
			}
			return
		}
		removed := make(chan struct{})
		done <- delivered{item.seq, removed}
		<-removed
	}
}

// removeDelivered takes delivered entries out of the outbox: what the
// lanes delivered meanwhile goes in one transaction.
func (d *Dispatcher) removeDelivered(q *queue, done <-chan delivered) {
	for first := range done {
		batch := []delivered{first}
	more:
		for len(batch) < removeBatch {
			select {
			case e, ok := <-done:
				if !ok {
					break more
				}
				batch = append(batch, e)
			default:
				break more
			}
		}
		seqs := make([]uint64, len(batch))
		for i, e := range batch {
			seqs[i] = e.seq
		}
		if err := d.store.Remove(q.Name, seqs...); err != nil {
			d.log.Error("cannot update the outbox", "destination", q.Name, "err", err)
		}
		for _, e := range batch {
			close(e.removed)
		}
		d.metrics.QueueDepth.WithLabelValues(q.Name).Set(float64(d.store.Len(q.Name)))
	}
}

// deliver tries n until it is delivered, fails for good, or RetryFor is
// spent. It returns false only when ctx ended first.
func (d *Dispatcher) deliver(ctx context.Context, q *queue, n Notification) bool {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = d.RetryMin, d.RetryMax
	attempt := 0
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempt++
		retry, err := q.Notifier.Notify(ctx, n)
		if err == nil {
			q.failingSince.Store(0)
			return struct{}{}, nil
		}
		if !retry {
			// It answered, for good: not down (the failure is reported).
			q.failingSince.Store(0)
			return struct{}{}, backoff.Permanent(err)
		}
		if ctx.Err() == nil {
			q.failingSince.CompareAndSwap(0, time.Now().UnixNano())
		}
		d.metrics.Notifications.WithLabelValues(q.Name, "retried").Inc()
		d.log.Warn("notification failed; will retry", "destination", q.Name, "rule", n.Rule, "attempt", attempt, "err", err)
		var ra *RetryAfterError
		if errors.As(err, &ra) {
			return struct{}{}, backoff.RetryAfter(int(math.Ceil(ra.After.Seconds())))
		}
		return struct{}{}, err
	}, backoff.WithBackOff(bo), backoff.WithMaxElapsedTime(d.RetryFor))
	if err == nil {
		d.metrics.Notifications.WithLabelValues(q.Name, "sent").Inc()
		return true
	}
	if ctx.Err() != nil {
		return false
	}
	d.metrics.Notifications.WithLabelValues(q.Name, "failed").Inc()
	d.log.Error("notification not delivered", "destination", q.Name, "rule", n.Rule, "id", n.ID, "attempts", attempt, "err", err)
	q.failing.Store(err.Error())
	return true
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

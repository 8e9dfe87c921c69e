package notify

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// Destination is a named place notifications go.
type Destination struct {
	Name     string
	Notifier Notifier
}

// Dispatcher owns one queue and one worker per destination, so a slow or
// dead destination never holds up event intake or the other destinations.
// Each destination receives its notifications in order.
type Dispatcher struct {
	log     *slog.Logger
	metrics *metrics.Metrics
	dests   []*queue

	// RetryFor bounds how long one notification is retried.
	RetryFor time.Duration
	// RetryMin and RetryMax bound the wait between tries.
	RetryMin, RetryMax time.Duration
	// DrainTimeout is how long Run keeps delivering after its context ends.
	DrainTimeout time.Duration
	// DropReportEvery is how often drops are announced on the other destinations.
	DropReportEvery time.Duration
}

type queue struct {
	Destination
	ch      chan Notification
	dropped atomic.Int64 // since the last report
}

// NewDispatcher makes a dispatcher whose queues hold queueSize notifications each.
func NewDispatcher(log *slog.Logger, m *metrics.Metrics, queueSize int, dests ...Destination) *Dispatcher {
	d := &Dispatcher{
		log: log, metrics: m,
		RetryFor: 10 * time.Minute, RetryMin: time.Second, RetryMax: time.Minute,
		DrainTimeout: 5 * time.Second, DropReportEvery: 10 * time.Second,
	}
	for _, dest := range dests {
		d.dests = append(d.dests, &queue{Destination: dest, ch: make(chan Notification, queueSize)})
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

// Send queues n for the named destinations (all of them when to is empty).
// It never blocks: a full queue drops n, counts it and reports it.
func (d *Dispatcher) Send(n Notification, to []string) {
	for _, q := range d.dests {
		if len(to) > 0 && !contains(to, q.Name) {
			continue
		}
		d.enqueue(q, n)
	}
}

func (d *Dispatcher) enqueue(q *queue, n Notification) {
	select {
	case q.ch <- n:
		d.metrics.QueueDepth.WithLabelValues(q.Name).Set(float64(len(q.ch)))
	default:
		if q.dropped.Add(1) == 1 {
			d.log.Error("notification queue full; dropping", "destination", q.Name, "capacity", cap(q.ch))
		}
		d.metrics.Notifications.WithLabelValues(q.Name, "dropped").Inc()
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Run delivers until ctx ends, then keeps delivering what is queued for
// up to DrainTimeout and counts what is left as dropped.
func (d *Dispatcher) Run(ctx context.Context) error {
	drainCtx, cancelDrain := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelDrain()
	var wg sync.WaitGroup
	for _, q := range d.dests {
		wg.Go(func() { d.work(ctx, drainCtx, q) })
	}
	ticker := time.NewTicker(d.DropReportEvery)
	defer ticker.Stop()
	for done := false; !done; {
		select {
		case <-ticker.C:
			d.reportDrops()
		case <-ctx.Done():
			done = true
		}
	}
	timer := time.AfterFunc(d.DrainTimeout, cancelDrain)
	defer timer.Stop()
	wg.Wait()
	d.reportDrops()
	return nil
}

// work delivers one destination's queue in order. After ctx ends it
// drains until drainCtx ends too.
func (d *Dispatcher) work(ctx, drainCtx context.Context, q *queue) {
	for {
		select {
		case n := <-q.ch:
			d.deliver(drainCtx, q, n)
		case <-ctx.Done():
			for {
				select {
				case n := <-q.ch:
					if drainCtx.Err() != nil {
						q.dropped.Add(1)
						d.metrics.Notifications.WithLabelValues(q.Name, "dropped").Inc()
						continue
					}
					d.deliver(drainCtx, q, n)
				default:
					return
				}
			}
		}
	}
}

func (d *Dispatcher) deliver(ctx context.Context, q *queue, n Notification) {
	defer d.metrics.QueueDepth.WithLabelValues(q.Name).Set(float64(len(q.ch)))
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = d.RetryMin, d.RetryMax
	attempt := 0
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		attempt++
		retry, err := q.Notifier.Notify(ctx, n)
		if err == nil {
			return struct{}{}, nil
		}
		if !retry {
			return struct{}{}, backoff.Permanent(err)
		}
		d.metrics.Notifications.WithLabelValues(q.Name, "retried").Inc()
		d.log.Warn("notification failed; will retry", "destination", q.Name, "rule", n.Rule, "attempt", attempt, "err", err)
		var ra *RetryAfterError
		if errors.As(err, &ra) {
			return struct{}{}, backoff.RetryAfter(int(math.Ceil(ra.After.Seconds())))
		}
		return struct{}{}, err
	}, backoff.WithBackOff(bo), backoff.WithMaxElapsedTime(d.RetryFor))
	if err != nil {
		d.metrics.Notifications.WithLabelValues(q.Name, "failed").Inc()
		d.log.Error("notification not delivered", "destination", q.Name, "rule", n.Rule, "id", n.ID, "attempts", attempt, "err", err)
		return
	}
	d.metrics.Notifications.WithLabelValues(q.Name, "sent").Inc()
}

// reportDrops announces dropped notifications on every other destination.
func (d *Dispatcher) reportDrops() {
	for _, q := range d.dests {
		n := q.dropped.Swap(0)
		if n == 0 {
			continue
		}
		d.log.Error("notifications were dropped", "destination", q.Name, "count", n)
		now := time.Now().UTC()
		notice := New("WHALEWATCH", "", events.Event{
			Type: events.SelfType, Action: "notifications_dropped", ExitCode: -1,
			Time: now, TimeNano: now.UnixNano(),
			Attributes: map[string]string{"destination": q.Name, "count": strconv.FormatInt(n, 10), "reason": "queue full or shutting down"},
		}, nil)
		for _, other := range d.dests {
			if other != q {
				d.enqueue(other, notice)
			}
		}
	}
}

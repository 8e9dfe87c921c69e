package notify

// One destination's worker: its window of the outbox, tries in order per
// key, retries, and removal of what is delivered.

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"

	"github.com/whalewatch/whalewatch/internal/state"
)

// Bounds of one destination's delivery pipeline.
const (
	windowSize  = 1024 // outbox entries a destination looks ahead
	removeBatch = 256  // delivered entries removed in one transaction
)

// An item's stage in the window.
const (
	idle     = iota // waiting for a slot (and for next)
	busy            // being tried
	removing        // delivered or given up, leaving the outbox
)

// item is an outbox entry in a destination's window: n is nil when it
// was unreadable.
type item struct {
	seq      uint64
	n        *Notification
	key      string
	stage    int
	next     time.Time // an idle item waits until then (a retry)
	first    time.Time // of the first attempt
	attempts int
	bo       *backoff.ExponentialBackOff
}

type result struct {
	it    *item
	retry bool
	err   error
}

// work delivers one destination's queue. It looks ahead over up to
// windowSize outbox entries and tries, in outbox order, the first entry
// of each order key (an incident, a group, a container: orderKey) that is
// due, with at most Concurrency entries taken at once. An entry waiting
// for its retry holds back only the later entries of its own key; the
// others go by. A slot is freed only once its entry is out of the outbox,
// so a kill sends again at most Concurrency notifications (with the same
// webhook-id). After ctx ends it goes on until the queue is empty or
// drainCtx ends too.
func (d *Dispatcher) work(ctx, drainCtx context.Context, q *queue) {
	slots := max(q.Concurrency, 1)
	jobs := make(chan *item)
	results := make(chan result)
	var workers sync.WaitGroup
	for range slots {
		workers.Go(func() {
			for it := range jobs {
				it.attempts++
				retry, err := q.Notifier.Notify(drainCtx, *it.n)
				results <- result{it, retry, err}
			}
		})
	}
	toRemove := make(chan *item, slots)
	removed := make(chan []*item, slots)
	remover := make(chan struct{})
	go func() { d.removeDelivered(q, toRemove, removed); close(remover) }()
	defer func() {
		close(jobs)
		workers.Wait()
		close(toRemove)
		<-remover
	}()

	w := &window{q: q, slots: slots, jobs: jobs, toRemove: toRemove, more: true}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	ctxDone, drainDone := ctx.Done(), drainCtx.Done()
	for {
		if drainCtx.Err() == nil {
			d.fill(w)
		}
		due := w.handOut(drainCtx)
		if w.taken == 0 && (drainCtx.Err() != nil || (ctx.Err() != nil && len(w.items) == 0 && !w.more)) {
			return // all delivered, or time is up: the rest stays queued
		}
		timer.Stop()
		if !due.IsZero() {
			timer.Reset(time.Until(due))
		}
		select {
		case r := <-results:
			w.taken--
			if d.settle(drainCtx, q, r) {
				w.remove(r.it)
			}
		case batch := <-removed:
			w.taken -= len(batch)
			w.items = slices.DeleteFunc(w.items, func(it *item) bool { return slices.Contains(batch, it) })
		case <-q.wake:
			w.more = true
		case <-poll.C:
			w.more = true
		case <-timer.C:
		case <-ctxDone:
			ctxDone, w.more = nil, true
		case <-drainDone:
			drainDone = nil
		}
	}
}

// window is the part of one destination's outbox its worker holds: up to
// windowSize entries, in outbox order, each idle, busy or removing.
type window struct {
	q        *queue
	items    []*item
	last     uint64 // the last seq read
	more     bool   // the outbox may hold entries beyond the window
	slots    int
	taken    int // items busy or removing: at most slots
	jobs     chan<- *item
	toRemove chan<- *item
}

// fill reads the outbox past the window, while it may hold more and the
// window has room; a damaged page is skipped, counted and announced.
func (d *Dispatcher) fill(w *window) {
	for w.more && len(w.items) < windowSize {
		w.more = false
		want := windowSize - len(w.items)
		entries, err := d.store.Entries(w.q.Name, w.last, want)
		var bad *state.UnreadableError
		switch {
		case errors.As(err, &bad):
			next := d.store.SkipUnreadable(w.q.Name, w.last)
			lost := int64(next - w.last - 1)
			d.log.Error("a damaged page of the outbox cannot be read; skipping its entries", "destination", w.q.Name, "after", w.last, "count", lost, "err", err)
			d.metrics.OutboxUnreadable.WithLabelValues(w.q.Name).Add(float64(lost))
			w.q.unreadable.Add(lost)
			w.last, w.more = next-1, true
			continue
		case err != nil:
			d.log.Error("cannot read the outbox", "destination", w.q.Name, "err", err)
		}
		for _, e := range entries {
			it := &item{seq: e.Seq, n: &Notification{}}
			if err := json.Unmarshal(e.Data, it.n); err != nil {
				d.log.Error("unreadable notification in the outbox; removing it", "destination", w.q.Name, "seq", e.Seq, "err", err)
				d.metrics.OutboxUnreadable.WithLabelValues(w.q.Name).Inc()
				w.q.unreadable.Add(1)
				it.n = nil
			}
			it.key = orderKey(it.n, e.Seq)
			w.items = append(w.items, it)
			w.last = e.Seq
		}
		w.more = len(entries) == want // a full read: there may be more
		return
	}
}

// handOut hands out what is due, while slots are free: the first item of
// each key, in order (an unreadable one to be removed). It returns when
// the next waiting item is due (zero: none waits).
func (w *window) handOut(drainCtx context.Context) (due time.Time) {
	now := time.Now()
	seen := map[string]bool{}
	for _, it := range w.items {
		if w.taken >= w.slots || drainCtx.Err() != nil {
			break
		}
		if seen[it.key] {
			continue
		}
		seen[it.key] = true
		switch {
		case it.stage != idle:
		case it.n == nil:
			w.remove(it)
		case it.next.After(now):
			if due.IsZero() || it.next.Before(due) {
				due = it.next
			}
		default:
			if it.first.IsZero() {
				it.first = now
			}
			it.stage = busy
			w.taken++
			w.jobs <- it
		}
	}
	return due
}

// remove hands an item to the remover; its slot stays taken until it is
// out of the outbox.
func (w *window) remove(it *item) {
	it.stage = removing
	w.taken++
	w.toRemove <- it
}

// settle decides what an attempt means: true when the item leaves the
// outbox (delivered, or given up and reported); otherwise it waits for
// its next try (or, once drainCtx ended, for the next start).
func (d *Dispatcher) settle(drainCtx context.Context, q *queue, r result) bool {
	it, n := r.it, r.it.n
	it.stage = idle
	if r.err == nil {
		q.lastSent.Store(time.Now().UnixNano())
	} else if drainCtx.Err() == nil {
		msg := r.err.Error() // as logged: notifiers keep URLs and keys out of errors
		q.lastFailed.Store(time.Now().UnixNano())
		q.lastError.Store(&msg)
	}
	switch {
	case r.err == nil:
		q.failingSince.Store(0)
		d.metrics.Notifications.WithLabelValues(q.Name, "sent").Inc()
		return true
	case drainCtx.Err() != nil:
		return false // stays queued for the next start
	case !r.retry:
		q.failingSince.Store(0) // it answered, for good: not down (the failure is reported)
		d.giveUp(q, it, r.err)
		return true
	}
	q.failingSince.CompareAndSwap(0, time.Now().UnixNano())
	d.metrics.Notifications.WithLabelValues(q.Name, "retried").Inc()
	d.log.Warn("notification failed; will retry", "destination", q.Name, "rule", n.Rule, "attempt", it.attempts, "err", r.err)
	if it.bo == nil {
		it.bo = backoff.NewExponentialBackOff()
		it.bo.InitialInterval, it.bo.MaxInterval = d.RetryMin, d.RetryMax
		it.bo.Reset()
	}
	wait := it.bo.NextBackOff()
	var ra *RetryAfterError
	if errors.As(r.err, &ra) {
		wait = ra.After
	}
	now := time.Now()
	if now.Add(wait).Sub(it.first) > d.RetryFor {
		d.giveUp(q, it, r.err)
		return true
	}
	it.next = now.Add(wait)
	return false
}

func (d *Dispatcher) giveUp(q *queue, it *item, err error) {
	d.metrics.Notifications.WithLabelValues(q.Name, "failed").Inc()
	d.log.Error("notification not delivered", "destination", q.Name, "rule", it.n.Rule, "id", it.n.ID, "attempts", it.attempts, "err", err)
	q.failing.Store(err.Error())
}

// orderKey is what must stay in order: an incident's messages, a group's,
// a container's; anything else stands alone.
func orderKey(n *Notification, seq uint64) string {
	switch {
	case n == nil:
		return "unreadable/" + strconv.FormatUint(seq, 10)
	case n.Incident != nil:
		return "incident/" + n.Incident.ID
	case n.Group != nil:
		return "group/" + n.Group.Key
	case n.Event.ActorID != "":
		return "container/" + n.Event.Host + "|" + n.Event.ActorID
	}
	return "id/" + n.ID
}

// removeDelivered takes delivered entries out of the outbox: what was
// delivered meanwhile goes in one transaction. A removal the disk refuses
// waits in the store's memory (never given again) until its Flush.
func (d *Dispatcher) removeDelivered(q *queue, in <-chan *item, out chan<- []*item) {
	for first := range in {
		batch := []*item{first}
	more:
		for len(batch) < removeBatch {
			select {
			case it, ok := <-in:
				if !ok {
					break more
				}
				batch = append(batch, it)
			default:
				break more
			}
		}
		seqs := make([]uint64, len(batch))
		for i, it := range batch {
			seqs[i] = it.seq
		}
		if err := d.store.Remove(q.Name, seqs...); err != nil {
			d.log.Error("cannot update the outbox", "destination", q.Name, "err", err)
		}
		d.pokeState()
		d.metrics.QueueDepth.WithLabelValues(q.Name).Set(float64(d.store.Len(q.Name)))
		out <- batch
	}
}

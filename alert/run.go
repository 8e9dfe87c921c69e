package alert

import (
	"context"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

// maxBatch bounds the events handled between two commits under a burst.
const maxBatch = 512

// Run handles items until ctx ends and the queue is empty, committing
// after each burst and every second; at the end it closes the groups and
// commits.
func (c *Core) Run(ctx context.Context, queue <-chan event.Item) {
	c.refreshMutes(time.Now())
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	commit := func(cursorToo bool) {
		if err := c.Commit(cursorToo); err != nil {
			c.log.Error("cannot save notifications and checkpoint; will retry", "err", err)
		}
	}
	for {
		select {
		case it := <-queue:
			c.Handle(it, time.Now())
			c.drain(queue, maxBatch)
			commit(false)
		case now := <-ticker.C:
			c.Tick(now)
			commit(true)
		case <-ctx.Done():
			c.drain(queue, cap(queue))
			c.CloseGroups(time.Now())
			commit(true)
			return
		}
	}
}

// drain handles up to max items that are already queued.
func (c *Core) drain(queue <-chan event.Item, max int) {
	for range max {
		select {
		case it := <-queue:
			c.Handle(it, time.Now())
		default:
			return
		}
	}
}

// Tick closes group windows, moves crash loops on and reads mutes.
func (c *Core) Tick(now time.Time) {
	for k, until := range c.reconciled.m {
		if now.After(until) {
			c.reconciled.del(k)
		}
	}
	out := c.groups.tick(now)
	c.out = append(c.out, out...)
	c.out = append(c.out, c.loops.tick(now, func(ev event.Event) []string { return c.route(nil, ev) })...)
	resolved, about := c.incidents.tick(now, func(key string) bool { _, ok := c.loops.loops.get(key); return ok })
	c.out = append(c.out, c.absorbPending(resolved, about)...)
	c.refreshMutes(now)
}

// CloseGroups sends what every group still holds (at shutdown).
func (c *Core) CloseGroups(now time.Time) {
	c.out = append(c.out, c.groups.tick(now.Add(100*365*24*time.Hour))...)
}

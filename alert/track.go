package alert

// Bookkeeping: the running set and the cursor per host.

import (
	"slices"

	"github.com/whalewatch/whalewatch/event"
)

// adopt moves what a state written before daemon IDs were kept holds
// under a host's name to its ID, the first time that ID is seen.
func (c *Core) adopt(ev event.Event) {
	if ev.HostID == "" || ev.HostID == ev.Host {
		return
	}
	if _, ok := c.cursors[ev.HostID]; ok {
		return
	}
	cursor, ok := c.cursors[ev.Host]
	if !ok {
		return
	}
	c.cursors[ev.HostID] = cursor
	delete(c.cursors, ev.Host)
	c.cursorDirty = true
	if keys, ok := c.atCursor.get(ev.Host); ok {
		c.atCursor.set(ev.HostID, keys)
		c.atCursor.del(ev.Host)
	}
	c.ahead.move(ev.Host, ev.HostID)
	for id, ctr := range c.running[ev.Host] {
		c.runningChanged(ev.Host, id, nil)
		c.runningChanged(ev.HostID, id, &ctr)
	}
	c.running[ev.HostID] = c.running[ev.Host]
	delete(c.running, ev.Host)
	c.log.Info("the state of this host is now kept under its daemon's ID", "host", ev.Host, "daemon_id", ev.HostID)
}

// moveCursor takes the cursor a source handed on for host.
func (c *Core) moveCursor(host string, it event.Item) {
	if _, ok := c.cursors[host]; !ok {
		c.cursorFirst = true
	}
	c.cursors[host] = it.Cursor
	if len(it.AtCursor) > 0 {
		c.atCursor.set(host, it.AtCursor)
	} else {
		c.atCursor.del(host)
	}
	c.cursorDirty = true
	c.ahead.prune(host, it.Cursor)
}

// track keeps the running set and the cursor in step with the events.
func (c *Core) track(ev event.Event, ahead bool) {
	host := ev.HostKey()
	if ev.Type == event.ContainerType {
		running := c.running[host]
		switch ev.Action {
		case "start":
			if running == nil {
				running = map[string]event.Container{}
				c.running[host] = running
			}
			ctr := event.Container{Name: ev.Name, Image: ev.Image, Labels: ev.Labels, Shadowed: ev.Shadowed, Restarts: ev.Restarts}
			running[ev.ActorID] = ctr
			c.runningChanged(host, ev.ActorID, &ctr)
			c.stopped.del(host + "|" + ev.ActorID)
		case "die", "destroy":
			if ev.Attributes[event.RunningAgain] == "true" {
				break // a death found late, of a run before the current one
			}
			if k := host + "|" + ev.ActorID; ev.Action == "die" && ev.Restarts != nil {
				c.stopped.set(k, *ev.Restarts)
			} else {
				c.stopped.del(k)
				if ev.Action == "destroy" {
					c.endedBefore.del(k)
				}
			}
			if _, ok := running[ev.ActorID]; ok {
				delete(running, ev.ActorID)
				c.runningChanged(host, ev.ActorID, nil)
			}
		}
	}
	if ev.Type == event.SelfType || ev.Reconciled {
		return // not from the stream: no place in it
	}
	switch cursor := c.cursors[host]; {
	case ahead && ev.TimeNano >= cursor:
		// An earlier event is held for settling: the cursor stays behind it.
		c.ahead.add(host, ev.Key(), ev.TimeNano)
	case ev.TimeNano > cursor:
		c.cursorFirst = c.cursorFirst || cursor == 0
		c.cursors[host] = ev.TimeNano
		c.atCursor.set(host, []string{ev.Key()})
		c.cursorDirty = true
		c.ahead.prune(host, ev.TimeNano)
	case ev.TimeNano == cursor:
		keys, _ := c.atCursor.get(host)
		if !slices.Contains(keys, ev.Key()) {
			c.atCursor.set(host, append(keys, ev.Key()))
		}
	}
}

// listed adds what a fresh container list found running; those that
// stopped unseen come as reconciled deaths.
func (c *Core) listed(host string, list map[string]event.Container) {
	running := c.running[host]
	if running == nil {
		running = map[string]event.Container{}
		c.running[host] = running
	}
	for id, ctr := range list {
		if known, ok := running[id]; !ok || (ctr.Restarts != nil && (known.Restarts == nil || *known.Restarts != *ctr.Restarts)) {
			running[id] = ctr
			c.runningChanged(host, id, &ctr)
		}
	}
}

// runningChanged notes a start (ctr) or a stop (nil) for the next commit.
func (c *Core) runningChanged(host, id string, ctr *event.Container) {
	changes := c.runningChanges[host]
	if changes == nil {
		changes = map[string]*event.Container{}
		c.runningChanges[host] = changes
	}
	changes[id] = ctr
}

package alert

import (
	"fmt"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
)

// CrashLoopRule names crash-loop messages.
const CrashLoopRule = "CRASHLOOP"

// crashLoops finds containers that keep dying: deaths deaths within window
// make one "crash loop" message, edited while it lasts, and a final
// "recovered" (after quiet without a death) or "removed" message. The
// deaths of a looping container are counted there, not sent one by one.
// Its entries are its persisted state.
type crashLoops struct {
	deaths        int
	window, quiet time.Duration
	updateEvery   time.Duration

	recent *entries[[]time.Time] // host|container → recent deaths
	loops  *entries[*loop]
}

type loop struct {
	Group      notify.Group `json:"group"`
	Last       event.Event  `json:"last"`
	Count      int          `json:"count"`      // deaths since the loop began
	Unreported int          `json:"unreported"` // deaths since the last message
	Covers     []string     `json:"covers,omitempty"`
	LastDeath  time.Time    `json:"last_death"`
	LastUpdate time.Time    `json:"last_update"`
}

func newCrashLoops(deaths int, window, quiet time.Duration) *crashLoops {
	return &crashLoops{deaths: deaths, window: window, quiet: quiet, updateEvery: time.Minute,
		recent: newEntries[[]time.Time]("deaths"), loops: newEntries[*loop]("loop")}
}

func loopKey(ev event.Event) string { return containerKey(ev.HostKey(), ev.ActorID) }

// containerKey names a container of a host in the core's state.
func containerKey(host, id string) string { return host + "|" + id }

// observe takes every event. It reports whether the event's matches are
// to be held back (counted in a crash-loop message) and what to send now.
func (c *crashLoops) observe(ev event.Event, now time.Time) (inLoop bool, out []notify.Notification) {
	if c.deaths < 1 || ev.Type != event.ContainerType {
		return false, nil
	}
	key := loopKey(ev)
	if ev.Action == "destroy" {
		c.recent.del(key)
		if l, ok := c.loops.get(key); ok {
			c.loops.del(key)
			return false, []notify.Notification{l.message("was removed; the crash loop is over", true)}
		}
		return false, nil
	}
	if ev.Action != "die" || ev.Intentional || ev.ExitCode == 0 {
		return false, nil
	}
	if l, ok := c.loops.get(key); ok {
		l.Count++
		l.Unreported++
		l.Last, l.LastDeath = ev, now
		l.Last.Evidence = nil // on the alert; the state keeps what names the container
		c.loops.touch(key)
		return true, nil
	}
	recent, _ := c.recent.get(key)
	recent = append(recent, now)
	for len(recent) > 0 && now.Sub(recent[0]) > c.window {
		recent = recent[1:]
	}
	c.recent.set(key, recent)
	if len(recent) < c.deaths {
		return false, nil
	}
	c.recent.del(key)
	l := &loop{Last: ev, Count: len(recent), LastDeath: now, LastUpdate: now}
	// Named after the death that revealed the loop: a replay after a
	// crash gives the same key, so the same message.
	l.Group = notify.Group{Key: groupID("crashloop", key, fmt.Sprint(ev.TimeNano)), Seq: 1, Count: l.Count, New: []string{notify.NameOrID(ev)}}
	c.loops.set(key, l)
	n := notify.New(CrashLoopRule, l.text(fmt.Sprintf("is in a crash loop: %d deaths in %s", l.Count, c.window)), ev, nil)
	g := l.Group
	n.Group = &g
	return true, []notify.Notification{n}
}

// cover records matches a running loop accounts for; its next message lists them.
func (c *crashLoops) cover(ev event.Event, ids []string) {
	if l, ok := c.loops.get(loopKey(ev)); ok && len(ids) > 0 {
		l.Covers = append(l.Covers, ids...)
		c.loops.touch(loopKey(ev))
	}
}

// tick returns the progress of running loops (edits of their message) and
// their ends, routed as route says for the loop's container; it forgets
// deaths too old to start a loop.
func (c *crashLoops) tick(now time.Time, route func(event.Event) []string) (out []notify.Outgoing) {
	for key, l := range c.loops.m {
		switch {
		case now.Sub(l.LastDeath) >= c.quiet:
			c.loops.del(key)
			out = append(out, notify.Outgoing{N: l.message(fmt.Sprintf("recovered: no death for %s (%d deaths in the loop)", c.quiet, l.Count), true), To: route(l.Last)})
		case l.Unreported > 0 && now.Sub(l.LastUpdate) >= c.updateEvery:
			l.LastUpdate = now
			c.loops.touch(key)
			out = append(out, notify.Outgoing{N: l.message(fmt.Sprintf("is still in a crash loop: %d deaths so far", l.Count), false), To: route(l.Last)})
		}
	}
	for key, deaths := range c.recent.m {
		if len(deaths) == 0 || now.Sub(deaths[len(deaths)-1]) > c.window {
			c.recent.del(key)
		}
	}
	return out
}

// message is the next message of the loop: an edit of the first one, or
// the final one.
func (l *loop) message(what string, final bool) notify.Notification {
	l.Group.Seq++
	l.Group.Count = l.Count
	l.Unreported = 0
	n := notify.New(CrashLoopRule, l.text(what), l.Last, nil)
	n.ID = groupID(l.Group.Key, fmt.Sprint(l.Group.Seq))
	g := l.Group
	g.Covers, g.Final = l.Covers, final
	l.Covers = nil
	n.Group = &g
	if final {
		n.Event.Action = "crashloop_end"
	}
	return n
}

func (l *loop) text(what string) string {
	s := fmt.Sprintf("container %s %s", notify.NameOrID(l.Last), what)
	if l.Last.ExitCode >= 0 {
		s += fmt.Sprintf("; last exit code %d (%s)", l.Last.ExitCode, event.ExitMeaning(l.Last.ExitCode))
	}
	return s
}

package alert

import (
	"slices"
	"strconv"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

// Handle takes one item of a source, in stream order. It writes nothing
// (Commit does) and mints no buttons: what a message offers to act on is
// recorded (Notification.Offer), its buttons made when it is posted. Its
// one read is of the mutes, when /docker mute changed them.
func (c *Core) Handle(it event.Item, now time.Time) {
	ev := it.Event
	c.adopt(ev)
	if it.Cursor != 0 {
		c.moveCursor(ev.HostKey(), it)
	}
	if it.Listed != nil {
		c.listed(ev.HostKey(), it.Listed)
		c.incidents.listed(ev.HostKey(), it.Listed, now)
		return
	}
	if it.Cursor != 0 {
		return
	}
	if ev.Type == event.StatsType {
		c.sample(ev, it.Verdict, now) // no cursor, no running set: not from the stream
		return
	}
	c.m.EventLag.Observe(now.Sub(ev.Time).Seconds())
	c.track(ev, it.Ahead)
	if ev.Action == "die" {
		ev.Restarts = nil // the checkpoint's, not the notifications'
	}
	if c.repeatedOOM(ev) {
		c.m.MatchesHeld.WithLabelValues("repeated_oom").Inc()
		return
	}
	if c.repeatedReconciled(ev, now) {
		c.m.MatchesHeld.WithLabelValues("repeated_reconciled").Inc()
		return
	}
	matches := c.match(ev, it.Verdict)
	// A death ends a pressure incident, muted or not: no sample will.
	ends := ev.Type == event.ContainerType && (ev.Action == "die" || ev.Action == "destroy") && ev.Attributes[event.RunningAgain] != "true"
	if held := c.held(ev, now); held != "" {
		c.m.MatchesHeld.WithLabelValues(held).Add(float64(len(matches)))
		if ends {
			c.endPressure(ev, now)
		}
		return
	}
	c.incidents.observe(ev, now)
	inLoop, loopNotes := c.loops.observe(ev, now)
	covered := c.alertMatches(matches, ev, inLoop, now)
	covered = c.announceLoop(loopNotes, covered, ev, now)
	if ev.Action == "destroy" && ev.Type == event.ContainerType {
		if len(loopNotes) == 0 {
			c.out = append(c.out, c.absorbPending(c.incidents.removed(ev, nil, now), []event.Event{ev})...)
		}
		c.out = append(c.out, c.groups.removed(ev, func(rule string) []string { return c.route(c.ruleNotify[rule], ev) })...)
	}
	if ends {
		c.endPressure(ev, now) // after its alerts, which a pressure incident takes in
	}
	c.loops.cover(ev, covered)
}

// match is what the rules say of ev: the source's verdict when it judged
// ev already (the rules ran once), else they run now.
func (c *Core) match(ev event.Event, v event.Verdict) []rules.Match {
	var matches []rules.Match
	var errs []*rules.EvalError
	if v.Judged {
		matches, errs = c.cfg.Rules.Matches(ev, v)
	} else {
		matches, errs = c.cfg.Rules.Match(ev)
	}
	for _, err := range errs {
		c.log.Error("rule failed on an event", "rule", err.Rule, "err", err.Err, "type", ev.Type, "action", ev.Action)
		c.m.RuleErrors.WithLabelValues(err.Rule).Inc()
	}
	return matches
}

// alertMatches queues the alert of each match, grouped; in a crash loop
// they are counted in the loop's message instead, and their IDs returned
// for it to cover.
func (c *Core) alertMatches(matches []rules.Match, ev event.Event, inLoop bool, now time.Time) (covered []string) {
	for _, match := range matches {
		c.m.RuleMatches.WithLabelValues(match.Rule.Name).Inc()
		n := c.alert(match.Rule.Name, match.Text, ev)
		if inLoop {
			c.m.MatchesHeld.WithLabelValues("crashloop").Inc() // counted in the loop's message
			covered = append(covered, n.ID)
			continue
		}
		n.Offer = offer(ev, false)
		to := c.route(match.Rule.Notify, ev)
		c.incidents.alert(&n, to, ev, notify.Firing, true)
		out := c.groups.add(notify.Outgoing{N: n, To: to}, now)
		if len(out) == 0 {
			c.m.MatchesHeld.WithLabelValues("grouped").Inc()
		}
		c.out = append(c.out, out...)
	}
	return covered
}

// announceLoop queues a crash loop's messages. Its first absorbs what
// groups still hold about the container and what this event's matches
// covered (one message, not a loop and a group update); what it did not
// absorb is returned, for the loop to cover.
func (c *Core) announceLoop(notes []notify.Notification, covered []string, ev event.Event, now time.Time) []string {
	for _, n := range notes {
		to := c.route(nil, ev)
		switch {
		case n.Group.Seq == 1:
			n.Group.Covers = append(append(c.groups.withdraw(ev.HostKey(), ev.ActorID), covered...), n.Group.Covers...)
			covered = nil
			n.Offer = offer(ev, true)
			// An OOM death's alert is its oom event's, handled already.
			_, oomAlerted := c.oomed.get(loopKey(ev))
			c.incidents.alert(&n, to, ev, notify.Looping, !(ev.Action == "die" && ev.OOMKilled && oomAlerted))
		case n.Group.Final && ev.Action == "destroy":
			c.out = append(c.out, c.incidents.removed(ev, &n, now)...)
		}
		c.decorate(&n, ev)
		c.out = append(c.out, notify.Outgoing{N: n, To: to})
	}
	return covered
}

// repeatedOOM: an oom event of a container whose OOM kill was handled
// already (it has not started since).
func (c *Core) repeatedOOM(ev event.Event) bool {
	if ev.Type != event.ContainerType {
		return false
	}
	key := loopKey(ev)
	switch ev.Action {
	case "oom":
		if _, ok := c.oomed.get(key); ok {
			return true
		}
		c.oomed.set(key, true)
	case "start", "destroy":
		c.oomed.del(key)
	}
	return false
}

// reconciledFor is how long a reconciled death is remembered.
const reconciledFor = 24 * time.Hour

// repeatedReconciled: a reconciled death handled already. A second look
// (a restart before the next cursor was committed, a later gap) names the
// same death the same; its notification would be refused by the outbox,
// but groups, crash loops and incidents would count it again.
func (c *Core) repeatedReconciled(ev event.Event, now time.Time) bool {
	if !ev.Reconciled || ev.Type != event.ContainerType || ev.Action != "die" {
		return false
	}
	key := ev.HostKey() + "|" + ev.Key()
	if _, ok := c.reconciled.get(key); ok {
		return true
	}
	if t, err := strconv.ParseInt(ev.Attributes[event.EndedBefore], 10, 64); err == nil {
		// Named otherwise by another look (its state's end, or just before
		// that start): the end before the same start is the same death.
		k := ev.HostKey() + "|" + ev.ActorID
		starts, _ := c.endedBefore.get(k)
		for _, u := range starts {
			if max(u-t, t-u) <= int64(time.Second) {
				return true
			}
		}
		c.endedBefore.set(k, append(slices.Clone(starts[max(0, len(starts)-7):]), t))
	}
	c.reconciled.set(key, now.Add(reconciledFor))
	return false
}

// absorbPending makes each resolution account for the matches that groups
// still hold about its container (they joined the incident already) and
// ends the groups of its compose project, so no group update can follow
// its "Resolved".
// about[i] is what resolutions[i] is about, with every label.
func (c *Core) absorbPending(resolutions []notify.Outgoing, about []event.Event) []notify.Outgoing {
	var out []notify.Outgoing
	for i, o := range resolutions {
		ev := about[min(i, len(about)-1)]
		if ids := c.groups.withdraw(ev.HostKey(), ev.ActorID); len(ids) > 0 {
			o.N.Group = &notify.Group{Key: groupID(o.N.Incident.ID, "held"), Seq: 1, Count: len(ids), Covers: ids, Final: true}
		}
		out = append(out, c.groups.end(ev.HostKey(), ev.Labels[notify.ComposeProject])...)
		out = append(out, o)
	}
	return out
}

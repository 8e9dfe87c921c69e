package alert

import (
	"slices"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

// spell is a stats rule matching every sample of one container since a
// time: it fires once it has lasted the rule's FOR. Spells live in memory
// only: after a restart a FOR starts again (an incident it opened is in
// the checkpoint and resolves at the first sample that no longer matches).
type spell struct {
	since    time.Time
	fired    bool
	trend    []event.StatsPoint // the samples of the FOR window, oldest first
	evidence *event.Evidence    // the latest the sampler gathered
}

// maxTrend bounds a spell's samples (a FOR of hours at a short interval).
const maxTrend = 120

// spellKey names a spell: host|container|rule.
func spellKey(ev event.Event, rule string) string { return loopKey(ev) + "|" + rule }

// sample handles a stats sample: the stats rules' FOR, their incidents
// (opened when a FOR is over, resolved at the first sample that no longer
// matches), and nothing per sample otherwise. Samples never move the
// cursor: they are not from the daemon's stream.
func (c *Core) sample(ev event.Event, v event.Verdict, now time.Time) {
	if _, running := c.running[ev.HostKey()][ev.ActorID]; !running {
		// Taken before a death the core has handled already.
		c.m.MatchesHeld.WithLabelValues("not_running").Inc()
		return
	}
	matches := c.match(ev, v)
	if !c.watched(ev) || c.muted(ev, now) {
		c.endSpells(ev)
		return
	}
	if inc, ok := c.incidents.open.get(loopKey(ev)); ok && inc.Pressure != "" &&
		!slices.ContainsFunc(matches, func(m rules.Match) bool { return m.Rule.Name == inc.Pressure }) {
		c.resolvePressure(ev, "no longer matches "+inc.Pressure+" ("+notify.StatsText(*ev.Stats)+")", now)
	}
	for key := range c.spells {
		if rule, ok := cutSpell(key, ev); ok && !slices.ContainsFunc(matches, func(m rules.Match) bool { return m.Rule.Name == rule }) {
			delete(c.spells, key) // it held until the sample before this one
		}
	}
	for _, match := range matches {
		c.pressed(match, ev, now)
	}
}

// pressed follows one stats rule that matched a sample.
func (c *Core) pressed(match rules.Match, ev event.Event, now time.Time) {
	rule := match.Rule
	key := spellKey(ev, rule.Name)
	sp := c.spells[key]
	if sp == nil {
		sp = &spell{since: ev.Time}
		c.spells[key] = sp
	}
	st := *ev.Stats
	sp.trend = append(sp.trend, event.StatsPoint{Time: ev.Time, MemoryPercent: st.MemoryPercent, CPUPercent: st.CPUPercent, PIDs: st.PIDs})
	if len(sp.trend) > maxTrend {
		sp.trend = slices.Delete(sp.trend, 0, len(sp.trend)-maxTrend)
	}
	if ev.Evidence != nil {
		sp.evidence = ev.Evidence
	}
	if inc, ok := c.incidents.open.get(loopKey(ev)); ok && inc.Pressure == rule.Name {
		sp.fired = true // opened before a restart: still open, still holding
	}
	if sp.fired || ev.Time.Sub(sp.since) < rule.For {
		return
	}
	sp.fired = true
	st.Trend = slices.Clone(sp.trend)
	ev.Stats, ev.Evidence = &st, sp.evidence
	c.m.RuleMatches.WithLabelValues(rule.Name).Inc()
	n := c.alert(rule.Name, match.Text, ev)
	n.Offer = offer(ev, false)
	to := c.route(rule.Notify, ev)
	c.incidents.alert(&n, to, ev, notify.Firing, true)
	out := c.groups.add(notify.Outgoing{N: n, To: to}, now)
	if len(out) == 0 {
		c.m.MatchesHeld.WithLabelValues("grouped").Inc()
	}
	c.out = append(c.out, out...)
}

// cutSpell tells whether key is a spell of ev's container, and its rule.
func cutSpell(key string, ev event.Event) (string, bool) {
	prefix := loopKey(ev) + "|"
	if len(key) <= len(prefix) || key[:len(prefix)] != prefix {
		return "", false
	}
	return key[len(prefix):], true
}

// endSpells forgets the spells of ev's container.
func (c *Core) endSpells(ev event.Event) {
	for key := range c.spells {
		if _, ok := cutSpell(key, ev); ok {
			delete(c.spells, key)
		}
	}
}

// endPressure ends the pressure of a container that died or stopped: its
// spells, and its incident if only pressure opened it (an alert of its
// death, an OOM kill, joined the incident and keeps it open).
func (c *Core) endPressure(ev event.Event, now time.Time) {
	c.endSpells(ev)
	if inc, ok := c.incidents.open.get(loopKey(ev)); ok && inc.Pressure != "" {
		c.resolvePressure(ev, "stopped", now)
	}
}

// resolvePressure resolves the pressure incident of ev's container.
func (c *Core) resolvePressure(ev event.Event, what string, now time.Time) {
	key := loopKey(ev)
	inc, _ := c.incidents.open.get(key)
	c.incidents.open.del(key)
	c.endSpells(ev) // another stats rule that holds opens a new incident after its FOR
	o := inc.resolution(what, now)
	o.N.Event.Stats = nil // the figures that opened it are not the ones that resolve it
	if ev.Type == event.StatsType {
		st := *ev.Stats
		o.N.Event.Stats = &st
	}
	c.out = append(c.out, c.absorbPending([]notify.Outgoing{o}, []event.Event{inc.Last})...)
}

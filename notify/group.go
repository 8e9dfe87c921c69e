package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

// Outgoing is a notification with its routing, ready for Dispatcher.Send.
type Outgoing struct {
	N  Notification
	To []string
}

// RuleOptions are a rule's noise controls.
type RuleOptions struct {
	// GroupWindow: matches of the rule on the same host and compose project
	// within this window become one message, updated while more come.
	GroupWindow time.Duration
	// Cooldown: after a message about a container, more matches of the
	// rule for it within this time are counted, not sent.
	Cooldown time.Duration
}

// Grouper turns a storm of matches into few messages. The first match of a
// group goes out at once; later ones are gathered and summarised when the
// window closes, in one update of the same group, until a window passes
// without new matches. It is used by one goroutine; time is passed in.
type Grouper struct {
	options    map[string]RuleOptions
	groups     map[string]*group
	cooldowns  map[string]time.Time // rule|host|container → until
	suppressed map[string]int       // by the same key: matches held back by the cooldown
}

type group struct {
	key, rule string
	to        []string
	seq       int
	count     int
	pending   []Notification // gathered since the last message
	deadline  time.Time
}

// NewGrouper groups by the options of each rule (rules not listed are sent as they come).
func NewGrouper(options map[string]RuleOptions) *Grouper {
	return &Grouper{options: options, groups: map[string]*group{}, cooldowns: map[string]time.Time{}, suppressed: map[string]int{}}
}

// Add takes one match and returns what to send now.
func (g *Grouper) Add(o Outgoing, now time.Time) []Outgoing {
	opt := g.options[o.N.Rule]
	ev := o.N.Event
	if opt.Cooldown > 0 && ev.ActorID != "" {
		ck := o.N.Rule + "|" + ev.Host + "|" + ev.ActorID
		if now.Before(g.cooldowns[ck]) {
			g.suppressed[ck]++
			return nil
		}
		g.cooldowns[ck] = now.Add(opt.Cooldown)
		if n := g.suppressed[ck]; n > 0 {
			o.N.Text = fmt.Sprintf("%s (and %d more times during the cooldown before)", o.N.Summary(), n)
			delete(g.suppressed, ck)
		}
	}
	if opt.GroupWindow <= 0 {
		return []Outgoing{o}
	}
	key := o.N.Rule + "|" + ev.Host + "|" + ev.Labels[composeProject]
	if gr, ok := g.groups[key]; ok {
		gr.pending = append(gr.pending, o.N)
		gr.count++
		return nil
	}
	gr := &group{key: groupID(key, o.N.ID), rule: o.N.Rule, to: o.To, seq: 1, count: 1, deadline: now.Add(opt.GroupWindow)}
	g.groups[key] = gr
	o.N.Group = &Group{Key: gr.key, Seq: 1, Count: 1, New: []string{nameOrID(ev)}}
	return []Outgoing{o}
}

// Tick closes the windows that are over and returns their summaries.
func (g *Grouper) Tick(now time.Time) []Outgoing {
	var out []Outgoing
	for key, gr := range g.groups {
		if now.Before(gr.deadline) {
			continue
		}
		if len(gr.pending) == 0 {
			delete(g.groups, key) // a quiet window ends the group
			continue
		}
		gr.seq++
		out = append(out, Outgoing{N: gr.summary(), To: gr.to})
		gr.pending = nil
		gr.deadline = now.Add(g.options[gr.rule].GroupWindow)
	}
	for k, until := range g.cooldowns {
		if now.After(until) && g.suppressed[k] == 0 {
			delete(g.cooldowns, k)
		}
	}
	return out
}

// OldestPending is the earliest event of host held in a group and not yet
// sent, or 0: the event cursor must not be saved past it.
func (g *Grouper) OldestPending(host string) int64 {
	var oldest int64
	for _, gr := range g.groups {
		for _, n := range gr.pending {
			if n.Event.Host == host && n.Event.TimeNano > 0 && (oldest == 0 || n.Event.TimeNano < oldest) {
				oldest = n.Event.TimeNano
			}
		}
	}
	return oldest
}

// summary is the update of a group: how many, which.
func (gr *group) summary() Notification {
	last := gr.pending[len(gr.pending)-1]
	var names []string
	for _, n := range gr.pending {
		name := nameOrID(n.Event)
		if n.Event.ExitCode >= 0 {
			name += fmt.Sprintf(" (exit %d)", n.Event.ExitCode)
		}
		names = append(names, name)
	}
	where := "on " + last.Event.Host
	if p := last.Event.Labels[composeProject]; p != "" {
		where = "of compose project " + p + " " + where
	}
	shown := names
	if len(shown) > 20 {
		shown = append(shown[:20:20], fmt.Sprintf("and %d more", len(names)-20))
	}
	text := fmt.Sprintf("%s: %d more matches %s (%d in all): %s", gr.rule, len(gr.pending), where, gr.count, strings.Join(shown, ", "))
	n := last
	n.ID = groupID(gr.key, fmt.Sprint(gr.seq))
	n.Text = text
	n.Actions = nil
	n.Group = &Group{Key: gr.key, Seq: gr.seq, Count: gr.count, New: names}
	return n
}

func groupID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "grp_" + hex.EncodeToString(sum[:12])
}

// CrashLoops finds containers that keep dying: Deaths deaths within
// Window make one "crash loop" message, updated while it lasts, and a
// "recovered" note after Quiet without a death. The deaths of a looping
// container are counted in that message instead of being sent one by one.
type CrashLoops struct {
	Deaths        int
	Window, Quiet time.Duration
	UpdateEvery   time.Duration
	deaths        map[string][]time.Time // container key → recent deaths
	loops         map[string]*loop
}

type loop struct {
	group      *Group
	last       event.Event
	count      int // deaths since the loop began
	unreported int
	lastDeath  time.Time
	lastUpdate time.Time
}

// NewCrashLoops returns a detector; deaths < 1 turns it off.
func NewCrashLoops(deaths int, window, quiet time.Duration) *CrashLoops {
	return &CrashLoops{Deaths: deaths, Window: window, Quiet: quiet, UpdateEvery: time.Minute,
		deaths: map[string][]time.Time{}, loops: map[string]*loop{}}
}

// CrashLoopRule names crash-loop messages.
const CrashLoopRule = "CRASHLOOP"

// Observe takes every event. It reports whether the event's matches are
// to be held back (counted in a crash-loop message), and what to send now.
func (c *CrashLoops) Observe(ev event.Event, now time.Time) (suppress bool, out []Notification) {
	if c.Deaths < 1 || ev.Type != event.ContainerType {
		return false, nil
	}
	key := ev.Host + "|" + ev.ActorID
	if ev.Action == "destroy" {
		delete(c.deaths, key)
		if l, ok := c.loops[key]; ok {
			delete(c.loops, key)
			return false, []Notification{l.update("was removed; the crash loop is over", true)}
		}
		return false, nil
	}
	if ev.Action != "die" || ev.Intentional || ev.ExitCode == 0 {
		return false, nil
	}
	if l, ok := c.loops[key]; ok {
		l.count++
		l.unreported++
		l.last, l.lastDeath = ev, now
		return true, nil
	}
	recent := append(c.deaths[key], now)
	for len(recent) > 0 && now.Sub(recent[0]) > c.Window {
		recent = recent[1:]
	}
	c.deaths[key] = recent
	if len(recent) < c.Deaths {
		return false, nil
	}
	delete(c.deaths, key)
	l := &loop{last: ev, count: len(recent), lastDeath: now, lastUpdate: now}
	l.group = &Group{Key: groupID("crashloop", key, fmt.Sprint(now.UnixNano())), Seq: 1, Count: l.count, New: []string{nameOrID(ev)}}
	c.loops[key] = l
	n := New(CrashLoopRule, l.text(fmt.Sprintf("is in a crash loop: %d deaths in %s", l.count, c.Window)), ev, nil)
	n.Group = l.group
	return true, []Notification{n}
}

// Tick returns the updates of running loops and the recoveries.
func (c *CrashLoops) Tick(now time.Time) []Notification {
	var out []Notification
	for key, l := range c.loops {
		switch {
		case now.Sub(l.lastDeath) >= c.Quiet:
			delete(c.loops, key)
			out = append(out, l.update(fmt.Sprintf("recovered: no death for %s (%d deaths in the loop)", c.Quiet, l.count), true))
		case l.unreported > 0 && now.Sub(l.lastUpdate) >= c.UpdateEvery:
			l.lastUpdate, l.unreported = now, 0
			out = append(out, l.update(fmt.Sprintf("is still in a crash loop: %d deaths so far", l.count), false))
		}
	}
	return out
}

func (l *loop) update(what string, final bool) Notification {
	l.group.Seq++
	l.group.Count = l.count
	n := New(CrashLoopRule, l.text(what), l.last, nil)
	n.ID = groupID(l.group.Key, fmt.Sprint(l.group.Seq))
	g := *l.group
	n.Group = &g
	if final {
		n.Event.Action = "crashloop_end"
	}
	return n
}

func (l *loop) text(what string) string {
	s := fmt.Sprintf("container %s %s", nameOrID(l.last), what)
	if l.last.ExitCode >= 0 {
		s += fmt.Sprintf("; last exit code %d (%s)", l.last.ExitCode, event.ExitMeaning(l.last.ExitCode))
	}
	return s
}

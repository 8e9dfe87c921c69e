package alert

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
)

// ruleOptions are a rule's noise controls (from its rules.Rule).
type ruleOptions struct {
	groupWindow, cooldown time.Duration
}

// grouper turns a storm of matches into few messages. The first match of a
// group goes out at once; later ones are gathered and summarised when the
// window closes, in one update of the same group, until a window passes
// without new matches. Its entries are its persisted state.
type grouper struct {
	options map[string]ruleOptions

	groups     *entries[*group]
	cooldowns  *entries[time.Time] // rule|host|container → until
	suppressed *entries[[]string]  // by the same key: IDs held back by the cooldown
}

type group struct {
	Key      string                `json:"key"`
	Rule     string                `json:"rule"`
	To       []string              `json:"to,omitempty"`
	Seq      int                   `json:"seq"`
	Count    int                   `json:"count"`
	Pending  []notify.Notification `json:"pending,omitempty"` // gathered since the last message
	Deadline time.Time             `json:"deadline"`
}

func newGrouper(options map[string]ruleOptions) *grouper {
	return &grouper{options: options, groups: newEntries[*group]("group"), cooldowns: newEntries[time.Time]("cooldown"),
		suppressed: newEntries[[]string]("suppressed")}
}

// add takes one match and returns what to send now.
func (g *grouper) add(o notify.Outgoing, now time.Time) []notify.Outgoing {
	opt := g.options[o.N.Rule]
	ev := o.N.Event
	if opt.cooldown > 0 && ev.ActorID != "" {
		ck := cooldownKey(o.N.Rule, ev)
		if until, _ := g.cooldowns.get(ck); now.Before(until) {
			held, _ := g.suppressed.get(ck)
			g.suppressed.set(ck, append(held, o.N.ID))
			return nil
		}
		g.cooldowns.set(ck, now.Add(opt.cooldown))
		if held, _ := g.suppressed.get(ck); len(held) > 0 {
			o.N.Text = fmt.Sprintf("%s (and %d more times during the cooldown before)", o.N.Summary(), len(held))
			o.N.Group = &notify.Group{Key: groupID(ck, o.N.ID), Seq: 1, Count: len(held) + 1, Covers: held}
			g.suppressed.del(ck)
		}
	}
	if opt.groupWindow <= 0 {
		return []notify.Outgoing{o}
	}
	key := o.N.Rule + "|" + ev.HostKey() + "|" + ev.Labels[notify.ComposeProject]
	if gr, ok := g.groups.get(key); ok {
		gr.Pending = append(gr.Pending, o.N)
		gr.Count++
		g.groups.touch(key)
		return nil
	}
	gr := &group{Key: groupID(key, o.N.ID), Rule: o.N.Rule, To: o.To, Seq: 1, Count: 1, Deadline: now.Add(opt.groupWindow)}
	g.groups.set(key, gr)
	var covers []string
	if o.N.Group != nil {
		covers = o.N.Group.Covers
	}
	o.N.Group = &notify.Group{Key: gr.Key, Seq: 1, Count: 1, New: []string{notify.NameOrID(ev)}, Covers: covers}
	return []notify.Outgoing{o}
}

// cooldownKey names a rule's cooldown of one container.
func cooldownKey(rule string, ev event.Event) string {
	return rule + "|" + ev.HostKey() + "|" + ev.ActorID
}

// removed ends the cooldowns of a removed container: their entries go,
// and matches they still held are sent in one message per rule instead of
// waiting for a next match that will never come.
func (g *grouper) removed(ev event.Event, route func(rule string) []string) []notify.Outgoing {
	var out []notify.Outgoing
	for _, rule := range slices.Sorted(maps.Keys(g.options)) {
		ck := cooldownKey(rule, ev)
		if _, ok := g.cooldowns.get(ck); !ok {
			continue
		}
		g.cooldowns.del(ck)
		held, _ := g.suppressed.get(ck)
		if len(held) == 0 {
			continue
		}
		g.suppressed.del(ck)
		n := notify.New(rule, "", ev, nil)
		n.ID = groupID(ck, "removed", held[len(held)-1])
		n.Text = fmt.Sprintf("container %s was removed; %d more matches were held by the cooldown", notify.NameOrID(ev), len(held))
		n.Event.Evidence = nil
		n.Group = &notify.Group{Key: groupID(ck, held[0]), Seq: 1, Count: len(held), Covers: held, Final: true}
		out = append(out, notify.Outgoing{N: n, To: route(rule)})
	}
	return out
}

// end closes the groups of a host and compose project (an incident there
// resolved): what they still hold is summarised now, and the next match
// starts a group of its own, sent at once — never a "1 more" after the
// "Resolved" that looks like part of the old incident.
func (g *grouper) end(host, project string) (out []notify.Outgoing) {
	for _, key := range slices.Sorted(maps.Keys(g.groups.m)) {
		gr := g.groups.m[key]
		if !strings.HasSuffix(key, "|"+host+"|"+project) {
			continue
		}
		if len(gr.Pending) > 0 {
			gr.Seq++
			out = append(out, notify.Outgoing{N: gr.summary(), To: gr.To})
		}
		g.groups.del(key)
	}
	return out
}

// withdraw takes the matches about one container out of every group (a
// crash-loop message accounts for them instead) and returns their IDs.
func (g *grouper) withdraw(host, actorID string) []string {
	var ids []string
	for key, gr := range g.groups.m {
		kept := gr.Pending[:0]
		for _, n := range gr.Pending {
			if n.Event.HostKey() == host && n.Event.ActorID == actorID {
				ids = append(ids, n.ID)
				gr.Count--
				continue
			}
			kept = append(kept, n)
		}
		if len(kept) != len(gr.Pending) {
			g.groups.touch(key)
		}
		gr.Pending = kept
	}
	return ids
}

// tick closes the windows that are over and returns their summaries.
func (g *grouper) tick(now time.Time) (out []notify.Outgoing) {
	for key, gr := range g.groups.m {
		if now.Before(gr.Deadline) {
			continue
		}
		if len(gr.Pending) == 0 {
			g.groups.del(key) // a quiet window ends the group
			continue
		}
		gr.Seq++
		out = append(out, notify.Outgoing{N: gr.summary(), To: gr.To})
		gr.Pending = nil
		gr.Deadline = now.Add(g.options[gr.Rule].groupWindow)
		g.groups.touch(key)
	}
	for k, until := range g.cooldowns.m {
		if held, _ := g.suppressed.get(k); now.After(until) && len(held) == 0 {
			g.cooldowns.del(k)
		}
	}
	return out
}

// summary is the update of a group: how many, which.
func (gr *group) summary() notify.Notification {
	last := gr.Pending[len(gr.Pending)-1]
	var names, covers []string
	for _, n := range gr.Pending {
		name := notify.NameOrID(n.Event)
		if n.Event.ExitCode >= 0 {
			name += fmt.Sprintf(" (exit %d)", n.Event.ExitCode)
		}
		names = append(names, name)
		covers = append(covers, n.ID)
		if n.Group != nil {
			covers = append(covers, n.Group.Covers...)
		}
	}
	where := "on " + last.Event.Host
	if p := last.Event.Labels[notify.ComposeProject]; p != "" {
		where = "of compose project " + p + " " + where
	}
	shown := names
	if len(shown) > 20 {
		shown = append(shown[:20:20], fmt.Sprintf("and %d more", len(names)-20))
	}
	n := last
	n.ID = groupID(gr.Key, fmt.Sprint(gr.Seq))
	// Every destination puts the rule before the text: it is not repeated here.
	n.Text = fmt.Sprintf("%d more matches %s (%d in all): %s", len(gr.Pending), where, gr.Count, strings.Join(shown, ", "))
	n.Offer, n.Incident, n.Owner, n.Link = nil, nil, "", "" // about several containers
	n.Group = &notify.Group{Key: gr.Key, Seq: gr.Seq, Count: gr.Count, New: names, Covers: covers}
	return n
}

// groupID derives a stable ID from what a message is about.
func groupID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "\x00")))
	return "grp_" + hex.EncodeToString(sum[:12])
}

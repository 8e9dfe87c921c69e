// Package alert is the path from an event to queued notifications: mutes,
// rule matching, crash loops, grouping and cooldowns, and the checkpoint
// of where each daemon's stream may resume. Time is passed in and output
// goes to an Outbox in transactions that carry the checkpoint, so the core
// has no Docker, no HTTP and no clock of its own: the fault simulator runs
// it with a fake clock and kills it at any instant.
package alert

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

// Labels a container can carry to steer its alerts.
const (
	// MuteLabel=true silences it.
	MuteLabel = "whalewatch.mute"
	// EnableLabel=true|false watches it or not, whatever WatchByDefault says.
	EnableLabel = "whalewatch.enable"
	// NotifyLabel names the destinations of its alerts (comma-separated).
	NotifyLabel = "whalewatch.notify"
	// OwnerLabel is the Slack user or user-group ID mentioned on its cards.
	OwnerLabel = "whalewatch.owner"
)

// Outbox takes the notifications and the checkpoint in one transaction
// (notify.Dispatcher over the state file).
type Outbox interface {
	Commit(out []notify.Outgoing, snap state.Snapshot) error
}

// Mutes are the name-glob mutes set with /docker mute.
type Mutes interface {
	Mutes(now time.Time) (map[string]time.Time, error)
	MuteGeneration() int64
}

// Config is what the core needs besides its outbox.
type Config struct {
	Rules       *rules.Engine
	ShownLabels []string // labels that may appear in messages
	// CrashLoopDeaths deaths within CrashLoopWindow make a crash loop; one
	// ends after CrashLoopQuiet without a death. Deaths < 1 turns it off.
	CrashLoopDeaths                 int
	CrashLoopWindow, CrashLoopQuiet time.Duration
	// Offer returns the buttons a message about ev carries (crashLoop: the
	// message that announces a loop); nil offers none.
	Offer func(ev event.Event, crashLoop bool) []notify.Action
	// OptIn: only containers labelled whalewatch.enable=true are watched
	// (WATCH_BY_DEFAULT=false).
	OptIn bool
	// Destinations are the names whalewatch.notify may choose from.
	Destinations []string
	// ResolveAfter: an incident resolves once its container has been up
	// this long; 0 turns incidents off.
	ResolveAfter time.Duration
	// Link, when set, renders each alert's link (LINK_TEMPLATE).
	Link *template.Template
}

// Core is used by one goroutine.
type Core struct {
	cfg        Config
	ruleNotify map[string][]string // rule → its destinations
	outbox     Outbox
	mutes      Mutes
	log        *slog.Logger
	m          *metrics.Metrics

	groups    *grouper
	loops     *crashLoops
	incidents *incidents
	spells    map[string]*spell // host|container|rule → a stats rule's FOR (pressure.go)

	// Hosts are keyed by event.HostKey (the daemon's ID).
	cursors map[string]int64                      // host → highest timeNano handled
	running map[string]map[string]event.Container // host → containers running at the cursor
	// atCursor: per host, the keys of the events handled at the cursor's
	// timeNano. The daemon's since is inclusive, so it replays them after a
	// restart; the source drops them, and tells by them that its replay
	// began where this run stopped.
	atCursor *entries[[]string]
	// ahead: per host, the keys of events after the cursor handled already
	// (they passed ahead of an earlier one held for settling, which keeps
	// the cursor behind it); a resumed source drops them from its replay.
	ahead *entries[[]string]
	// oomed: containers (host|id) with an oom handled since their last
	// start. The daemon sends one kill's oom event up to 7 times; the source
	// drops repeats within its run, this across a restart (its replay).
	oomed *entries[bool]
	// reconciled: reconciled deaths (host|key) handled, until when they are
	// remembered (see repeatedReconciled).
	reconciled *entries[time.Time]
	// stopped: the RestartCount its next start will have (if its policy's)
	// of each container (host|id) that ended under the stream and has not
	// started since: a gap is measured against it, as against the running
	// set's.
	stopped *entries[int]
	// endedBefore: per container (host|id), the starts (timeNano) that
	// followed its last reconciled deaths (event.EndedBefore), up to 8.
	endedBefore *entries[[]int64]
	// runningChanges: per host, containers started (value) or stopped
	// (nil) since the last commit.
	runningChanges map[string]map[string]*event.Container
	cursorDirty    bool
	// cursorFirst: a host got its first cursor, which commits at once: until
	// it does, a restart has nothing to resume from and starts afresh,
	// losing what happened meanwhile.
	cursorFirst bool
	legacyState bool              // a one-piece state was loaded: delete it at the next commit
	out         []notify.Outgoing // not yet committed

	muteList map[string]time.Time
	muteGen  int64
}

// New makes a core that starts empty; Restore loads a checkpoint.
func New(cfg Config, outbox Outbox, mutes Mutes, log *slog.Logger, m *metrics.Metrics) *Core {
	options := map[string]ruleOptions{}
	ruleNotify := map[string][]string{}
	for _, r := range cfg.Rules.Rules() {
		options[r.Name] = ruleOptions{groupWindow: r.GroupWindow, cooldown: r.Cooldown}
		ruleNotify[r.Name] = r.Notify
	}
	return &Core{
		cfg: cfg, outbox: outbox, mutes: mutes, log: log, m: m, ruleNotify: ruleNotify,
		groups:         newGrouper(options),
		loops:          newCrashLoops(cfg.CrashLoopDeaths, cfg.CrashLoopWindow, cfg.CrashLoopQuiet),
		incidents:      newIncidents(cfg.ResolveAfter),
		spells:         map[string]*spell{},
		cursors:        map[string]int64{},
		atCursor:       newEntries[[]string]("atcursor"),
		ahead:          newEntries[[]string]("ahead"),
		oomed:          newEntries[bool]("oomed"),
		reconciled:     newEntries[time.Time]("reconciled"),
		stopped:        newEntries[int]("stopped"),
		endedBefore:    newEntries[[]int64]("endedbefore"),
		running:        map[string]map[string]event.Container{},
		runningChanges: map[string]map[string]*event.Container{},
	}
}

// state is every part of the core's own state that the checkpoint keeps.
func (c *Core) state() []persisted {
	return []persisted{c.groups.groups, c.groups.cooldowns, c.groups.suppressed, c.loops.recent, c.loops.loops, c.incidents.open, c.atCursor, c.ahead, c.oomed, c.reconciled, c.stopped, c.endedBefore}
}

// legacyKey holds the whole core state in one piece, as state format 2 did.
const legacyKey = "state"

// legacyState is that piece.
type legacyState struct {
	Version int `json:"version"`
	Groups  struct {
		Groups     map[string]*group    `json:"groups"`
		Cooldowns  map[string]time.Time `json:"cooldowns"`
		Suppressed map[string][]string  `json:"suppressed"`
	} `json:"groups"`
	Loops struct {
		Deaths map[string][]time.Time `json:"deaths"`
		Loops  map[string]*loop       `json:"loops"`
	} `json:"crash_loops"`
	Incidents struct {
		Open map[string]*incident `json:"open"`
	} `json:"incidents"`
}

// Restore continues from a committed checkpoint: cursors, running sets,
// groups, crash loops and incidents, as they were at the same instant.
func (c *Core) Restore(snap state.Snapshot) error {
	if data, ok := snap.Core[legacyKey]; ok {
		var old legacyState
		if err := json.Unmarshal(data, &old); err != nil {
			return fmt.Errorf("alert state in the checkpoint: %w", err)
		}
		if old.Version != 1 {
			return fmt.Errorf("alert state in the checkpoint has format %d; this whalewatch reads 1", old.Version)
		}
		c.groups.groups.replace(old.Groups.Groups)
		c.groups.cooldowns.replace(old.Groups.Cooldowns)
		c.groups.suppressed.replace(old.Groups.Suppressed)
		c.loops.recent.replace(old.Loops.Deaths)
		c.loops.loops.replace(old.Loops.Loops)
		c.incidents.open.replace(old.Incidents.Open)
		c.legacyState = true
	} else {
		for _, p := range c.state() {
			if err := p.load(snap.Core); err != nil {
				return err
			}
		}
	}
	maps.Copy(c.cursors, snap.Cursors)
	for host, set := range snap.Running {
		running := map[string]event.Container{}
		for id, ctr := range set {
			running[id] = *ctr
		}
		c.running[host] = running
	}
	return nil
}

// Resumes tells where each host's stream continues, by host key (a
// daemon ID, or the name a state written before IDs were kept used).
func (c *Core) Resumes() map[string]event.Resume {
	out := map[string]event.Resume{}
	for host, cursor := range c.cursors {
		keys, _ := c.atCursor.get(host)
		ahead, _ := c.ahead.get(host)
		out[host] = event.Resume{Cursor: cursor, AtCursor: slices.Clone(keys), Running: maps.Clone(c.running[host]), Open: c.open(host),
			Ahead: slices.Clone(ahead), Stopped: c.stoppedOn(host)}
	}
	return out
}

// stoppedOn is the stopped containers' counts of host, by ID.
func (c *Core) stoppedOn(host string) map[string]int {
	var out map[string]int
	for k, n := range c.stopped.m {
		if id, ok := strings.CutPrefix(k, host+"|"); ok {
			if out == nil {
				out = map[string]int{}
			}
			out[id] = n
		}
	}
	return out
}

// open lists the containers of host with an open incident or crash loop.
func (c *Core) open(host string) []string {
	var ids []string
	for _, keys := range [][]string{slices.Collect(maps.Keys(c.incidents.open.m)), slices.Collect(maps.Keys(c.loops.loops.m))} {
		for _, k := range keys {
			if id, ok := strings.CutPrefix(k, host+"|"); ok && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

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
	if keys, ok := c.ahead.get(ev.Host); ok {
		c.ahead.set(ev.HostID, keys)
		c.ahead.del(ev.Host)
	}
	for id, ctr := range c.running[ev.Host] {
		c.runningChanged(ev.Host, id, nil)
		c.runningChanged(ev.HostID, id, &ctr)
	}
	c.running[ev.HostID] = c.running[ev.Host]
	delete(c.running, ev.Host)
	c.log.Info("the state of this host is now kept under its daemon's ID", "host", ev.Host, "daemon_id", ev.HostID)
}

// Handle takes one item of a source, in stream order.
func (c *Core) Handle(it event.Item, now time.Time) {
	ev := it.Event
	c.adopt(ev)
	if it.Cursor != 0 {
		if _, ok := c.cursors[ev.HostKey()]; !ok {
			c.cursorFirst = true
		}
		c.cursors[ev.HostKey()] = it.Cursor
		if len(it.AtCursor) > 0 {
			c.atCursor.set(ev.HostKey(), it.AtCursor)
		} else {
			c.atCursor.del(ev.HostKey())
		}
		c.cursorDirty = true
		c.pruneAhead(ev.HostKey())
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
		c.sample(ev, now) // no cursor, no running set: not from the stream
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
	matches, errs := c.cfg.Rules.Match(ev)
	for _, err := range errs {
		c.log.Error("rule failed on an event", "rule", err.Rule, "err", err.Err, "type", ev.Type, "action", ev.Action)
		c.m.RuleErrors.WithLabelValues(err.Rule).Inc()
	}
	// A death ends a pressure incident, muted or not: no sample will.
	ends := ev.Type == event.ContainerType && (ev.Action == "die" || ev.Action == "destroy") && ev.Attributes[event.RunningAgain] != "true"
	if !c.watched(ev) {
		c.m.MatchesHeld.WithLabelValues("not_watched").Add(float64(len(matches)))
		if ends {
			c.endPressure(ev, now)
		}
		return
	}
	if c.muted(ev, now) {
		c.m.MatchesHeld.WithLabelValues("muted").Add(float64(len(matches)))
		if ends {
			c.endPressure(ev, now)
		}
		return
	}
	c.incidents.observe(ev, now)
	inLoop, loopNotes := c.loops.observe(ev, now)
	var covered []string
	for _, match := range matches {
		c.m.RuleMatches.WithLabelValues(match.Rule.Name).Inc()
		n := c.alert(match.Rule.Name, match.Text, ev)
		if inLoop {
			c.m.MatchesHeld.WithLabelValues("crashloop").Inc() // counted in the loop's message
			covered = append(covered, n.ID)
			continue
		}
		if c.cfg.Offer != nil {
			n.Actions = c.cfg.Offer(ev, false)
		}
		to := c.route(match.Rule.Notify, ev)
		c.incidents.alert(&n, to, ev, notify.Firing, true)
		out := c.groups.add(notify.Outgoing{N: n, To: to}, now)
		if len(out) == 0 {
			c.m.MatchesHeld.WithLabelValues("grouped").Inc()
		}
		c.out = append(c.out, out...)
	}
	for _, n := range loopNotes {
		to := c.route(nil, ev)
		switch {
		case n.Group.Seq == 1:
			// The loop's first message absorbs what groups still hold about
			// the container: one message, not a loop and a group update.
			n.Group.Covers = append(append(c.groups.withdraw(ev.HostKey(), ev.ActorID), covered...), n.Group.Covers...)
			covered = nil
			if c.cfg.Offer != nil {
				n.Actions = c.cfg.Offer(ev, true)
			}
			// An OOM death's alert is its oom event's, handled already.
			_, oomAlerted := c.oomed.get(loopKey(ev))
			c.incidents.alert(&n, to, ev, notify.Looping, !(ev.Action == "die" && ev.OOMKilled && oomAlerted))
		case n.Group.Final && ev.Action == "destroy":
			c.out = append(c.out, c.incidents.removed(ev, &n, now)...)
		}
		c.decorate(&n, ev)
		c.out = append(c.out, notify.Outgoing{N: n, To: to})
	}
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

// Tracks says whether the core follows events of this type and action
// whatever the rules say: the running set, incidents, crash loops.
func Tracks(typ, action string) bool {
	if typ == event.SelfType {
		return true
	}
	return typ == event.ContainerType && (action == "start" || action == "die" || action == "destroy" || action == "health_status")
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

// alert makes the notification of a match, with its owner and link.
func (c *Core) alert(rule, text string, ev event.Event) notify.Notification {
	n := notify.New(rule, text, ev, c.cfg.ShownLabels)
	c.decorate(&n, ev)
	return n
}

// decorate adds what the container's labels and LINK_TEMPLATE give.
func (c *Core) decorate(n *notify.Notification, ev event.Event) {
	if owner := ev.Labels[OwnerLabel]; owner != "" {
		if notify.ValidOwner(owner) {
			n.Owner = owner
		} else {
			c.log.Warn("ignoring a whalewatch.owner label that is not a Slack user or group ID", "container", ev.Name)
		}
	}
	if c.cfg.Link != nil {
		link, err := rules.Render(c.cfg.Link, ev)
		if err == nil && (strings.HasPrefix(link, "https://") || strings.HasPrefix(link, "http://")) {
			n.Link = link
		} else {
			c.log.Warn("LINK_TEMPLATE gave no http(s) link for this event", "container", ev.Name, "err", err)
		}
	}
}

// watched: containers are watched unless opt-in is on; whalewatch.enable
// decides for one container. Other events are always watched.
func (c *Core) watched(ev event.Event) bool {
	return !aboutContainer(ev) || Watched(ev.Labels, c.cfg.OptIn)
}

// aboutContainer: a container's event or stats sample, which its labels
// and mutes steer.
func aboutContainer(ev event.Event) bool {
	return ev.Type == event.ContainerType || ev.Type == event.StatsType
}

// Watched says whether a container with these labels is watched.
func Watched(labels map[string]string, optIn bool) bool {
	switch labels[EnableLabel] {
	case "true":
		return true
	case "false":
		return false
	}
	return !optIn
}

// route picks the destinations of an alert: the container's
// whalewatch.notify label when it names known destinations, else the
// rule's (else all).
func (c *Core) route(ruleTo []string, ev event.Event) []string {
	label := ev.Labels[NotifyLabel]
	if label == "" {
		return ruleTo
	}
	var to, unknown []string
	for name := range strings.SplitSeq(label, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case slices.Contains(c.cfg.Destinations, name):
			to = append(to, name)
		case name != "":
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		c.log.Warn("whalewatch.notify names unknown destinations; they are skipped", "container", ev.Name, "unknown", unknown, "known", c.cfg.Destinations)
	}
	if len(to) == 0 {
		return ruleTo
	}
	return to
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
		keys, _ := c.ahead.get(host)
		if !slices.Contains(keys, ev.Key()) {
			c.ahead.set(host, append(slices.Clip(keys), ev.Key()))
		}
	case ev.TimeNano > cursor:
		c.cursorFirst = c.cursorFirst || cursor == 0
		c.cursors[host] = ev.TimeNano
		c.atCursor.set(host, []string{ev.Key()})
		c.cursorDirty = true
		c.pruneAhead(host)
	case ev.TimeNano == cursor:
		keys, _ := c.atCursor.get(host)
		if !slices.Contains(keys, ev.Key()) {
			c.atCursor.set(host, append(keys, ev.Key()))
		}
	}
}

// pruneAhead forgets the events handled ahead that the cursor has passed:
// a replay from it no longer brings them.
func (c *Core) pruneAhead(host string) {
	keys, ok := c.ahead.get(host)
	if !ok {
		return
	}
	cursor := c.cursors[host]
	kept := slices.DeleteFunc(slices.Clone(keys), func(k string) bool {
		t, _, _ := strings.Cut(k, "/")
		nano, err := strconv.ParseInt(t, 10, 64)
		return err != nil || nano < cursor
	})
	switch {
	case len(kept) == 0:
		c.ahead.del(host)
	case len(kept) < len(keys):
		c.ahead.set(host, kept)
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

// CloseGroups sends what every group still holds (at shutdown).
func (c *Core) CloseGroups(now time.Time) {
	c.out = append(c.out, c.groups.tick(now.Add(100*365*24*time.Hour))...)
}

// Commit writes what was decided since the last commit, with the
// checkpoint, in one transaction. Without notifications or changed state
// it writes only when cursorToo is set (a moved cursor alone can wait: the
// events after it are handled again, giving nothing new). On error
// everything stays pending for the next commit.
func (c *Core) Commit(cursorToo bool) error {
	stateChanged := c.legacyState
	for _, p := range c.state() {
		stateChanged = stateChanged || p.changed()
	}
	if len(c.out) == 0 && !stateChanged && len(c.runningChanges) == 0 && !(cursorToo && c.cursorDirty) && !c.cursorFirst {
		return nil
	}
	snap := state.Snapshot{Cursors: c.cursors, Running: c.runningChanges, Core: map[string][]byte{}}
	for _, p := range c.state() {
		if err := p.changes(snap.Core); err != nil {
			return fmt.Errorf("encode the alert state: %w", err)
		}
	}
	if c.legacyState {
		snap.Core[legacyKey] = nil
	}
	if err := c.outbox.Commit(c.out, snap); err != nil {
		return fmt.Errorf("commit %d notifications and the checkpoint: %w", len(c.out), err)
	}
	for _, p := range c.state() {
		p.clean()
	}
	c.out, c.cursorDirty, c.cursorFirst, c.legacyState = nil, false, false, false
	c.runningChanges = map[string]map[string]*event.Container{}
	return nil
}

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

func (c *Core) refreshMutes(now time.Time) {
	mutes, err := c.mutes.Mutes(now)
	if err != nil {
		c.log.Error("cannot read mutes", "err", err)
		return
	}
	c.muteList = mutes
}

// muted: the container's label says so, or a mute (/docker mute) covers its
// name. Mutes are about containers: whalewatch's own notices and Swarm
// events are never muted.
func (c *Core) muted(ev event.Event, now time.Time) bool {
	if !aboutContainer(ev) {
		return false
	}
	if ev.Labels[MuteLabel] == "true" {
		return true
	}
	if gen := c.mutes.MuteGeneration(); gen != c.muteGen {
		c.muteGen = gen
		c.refreshMutes(now) // a mute just set applies to the very next event
	}
	for glob, until := range c.muteList {
		if ok, _ := path.Match(glob, ev.Name); ok && now.Before(until) {
			return true
		}
	}
	return false
}

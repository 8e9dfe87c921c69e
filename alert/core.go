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
	cfg    Config
	outbox Outbox
	mutes  Mutes
	log    *slog.Logger
	m      *metrics.Metrics

	groups    *grouper
	loops     *crashLoops
	incidents *incidents

	cursors      map[string]int64                      // host → highest timeNano handled
	running      map[string]map[string]event.Container // host → containers running at the cursor
	runningDirty map[string]bool
	cursorDirty  bool
	stateDirty   bool              // groups or loops changed since the last commit
	out          []notify.Outgoing // not yet committed

	muteList map[string]time.Time
	muteGen  int64
}

// New makes a core that starts empty; Restore loads a checkpoint.
func New(cfg Config, outbox Outbox, mutes Mutes, log *slog.Logger, m *metrics.Metrics) *Core {
	options := map[string]ruleOptions{}
	for _, r := range cfg.Rules.Rules() {
		options[r.Name] = ruleOptions{groupWindow: r.GroupWindow, cooldown: r.Cooldown}
	}
	return &Core{
		cfg: cfg, outbox: outbox, mutes: mutes, log: log, m: m,
		groups:       newGrouper(options),
		loops:        newCrashLoops(cfg.CrashLoopDeaths, cfg.CrashLoopWindow, cfg.CrashLoopQuiet),
		incidents:    newIncidents(cfg.ResolveAfter),
		cursors:      map[string]int64{},
		running:      map[string]map[string]event.Container{},
		runningDirty: map[string]bool{},
	}
}

// stateVersion is the format of the core's own state in the checkpoint.
const stateVersion = 1

type savedState struct {
	Version   int         `json:"version"`
	Groups    *grouper    `json:"groups"`
	Loops     *crashLoops `json:"crash_loops"`
	Incidents *incidents  `json:"incidents"`
}

// Restore continues from a committed checkpoint: cursors, running sets,
// groups and crash loops, as they were at the same instant.
func (c *Core) Restore(snap state.Snapshot) error {
	if snap.Core != nil {
		saved := savedState{Groups: newGrouper(c.groups.options),
			Loops:     newCrashLoops(c.loops.deaths, c.loops.window, c.loops.quiet),
			Incidents: newIncidents(c.incidents.resolveAfter)}
		if err := json.Unmarshal(snap.Core, &saved); err != nil {
			return fmt.Errorf("alert state in the checkpoint: %w", err)
		}
		if saved.Version != stateVersion {
			return fmt.Errorf("alert state in the checkpoint has format %d; this whalewatch reads %d", saved.Version, stateVersion)
		}
		c.groups, c.loops, c.incidents = saved.Groups, saved.Loops, saved.Incidents
	}
	maps.Copy(c.cursors, snap.Cursors)
	maps.Copy(c.running, snap.Running)
	return nil
}

// Resume tells where a host's stream continues and what ran there then.
func (c *Core) Resume(host string) (cursor int64, running map[string]event.Container) {
	return c.cursors[host], maps.Clone(c.running[host])
}

// Handle takes one item of a source, in stream order.
func (c *Core) Handle(it event.Item, now time.Time) {
	ev := it.Event
	if it.Listed != nil {
		c.listed(ev.Host, it.Listed)
		return
	}
	c.m.EventLag.Observe(now.Sub(ev.Time).Seconds())
	c.track(ev)
	matches, errs := c.cfg.Rules.Match(ev)
	for _, err := range errs {
		c.log.Error("rule failed on an event", "rule", err.Rule, "err", err.Err, "type", ev.Type, "action", ev.Action)
		c.m.RuleErrors.WithLabelValues(err.Rule).Inc()
	}
	if !c.watched(ev) {
		c.m.MatchesHeld.WithLabelValues("not_watched").Add(float64(len(matches)))
		return
	}
	if c.muted(ev, now) {
		c.m.MatchesHeld.WithLabelValues("muted").Add(float64(len(matches)))
		return
	}
	c.stateDirty = c.incidents.observe(ev, now) || c.stateDirty
	inLoop, loopNotes, changed := c.loops.observe(ev, now)
	c.stateDirty = c.stateDirty || changed
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
		c.incidents.alert(&n, to, ev, notify.Firing)
		out := c.groups.add(notify.Outgoing{N: n, To: to}, now)
		if len(out) == 0 {
			c.m.MatchesHeld.WithLabelValues("grouped").Inc()
		}
		c.stateDirty = true
		c.out = append(c.out, out...)
	}
	for _, n := range loopNotes {
		to := c.route(nil, ev)
		switch {
		case n.Group.Seq == 1:
			// The loop's first message absorbs what groups still hold about
			// the container: one message, not a loop and a group update.
			n.Group.Covers = append(append(c.groups.withdraw(ev.Host, ev.ActorID), covered...), n.Group.Covers...)
			covered = nil
			if c.cfg.Offer != nil {
				n.Actions = c.cfg.Offer(ev, true)
			}
			c.incidents.alert(&n, to, ev, notify.Looping)
		case n.Group.Final && ev.Action == "destroy":
			c.out = append(c.out, c.incidents.removed(ev, &n, now)...)
		}
		c.decorate(&n, ev)
		c.out = append(c.out, notify.Outgoing{N: n, To: to})
	}
	if ev.Action == "destroy" && len(loopNotes) == 0 {
		c.out = append(c.out, c.incidents.removed(ev, nil, now)...)
	}
	c.loops.cover(ev, covered)
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
	return ev.Type != event.ContainerType || Watched(ev.Labels, c.cfg.OptIn)
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
func (c *Core) track(ev event.Event) {
	if ev.Type == event.ContainerType {
		running := c.running[ev.Host]
		switch ev.Action {
		case "start":
			if running == nil {
				running = map[string]event.Container{}
				c.running[ev.Host] = running
			}
			running[ev.ActorID] = event.Container{Name: ev.Name, Image: ev.Image, Labels: ev.Labels}
			c.runningDirty[ev.Host] = true
		case "die", "destroy":
			if _, ok := running[ev.ActorID]; ok {
				delete(running, ev.ActorID)
				c.runningDirty[ev.Host] = true
			}
		}
	}
	if ev.Type != event.SelfType && !ev.Reconciled && ev.TimeNano > c.cursors[ev.Host] {
		c.cursors[ev.Host] = ev.TimeNano
		c.cursorDirty = true
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
		if _, ok := running[id]; !ok {
			running[id] = ctr
			c.runningDirty[host] = true
		}
	}
}

// Tick closes group windows, moves crash loops on and reads mutes.
func (c *Core) Tick(now time.Time) {
	out, changed := c.groups.tick(now)
	c.out = append(c.out, out...)
	notes, loopsChanged := c.loops.tick(now)
	for _, n := range notes {
		c.out = append(c.out, notify.Outgoing{N: n})
	}
	resolved := c.incidents.tick(now, func(key string) bool { _, ok := c.loops.Loops[key]; return ok })
	c.out = append(c.out, resolved...)
	c.stateDirty = c.stateDirty || changed || loopsChanged || len(resolved) > 0
	c.refreshMutes(now)
}

// CloseGroups sends what every group still holds (at shutdown).
func (c *Core) CloseGroups(now time.Time) {
	out, changed := c.groups.tick(now.Add(100 * 365 * 24 * time.Hour))
	c.out = append(c.out, out...)
	c.stateDirty = c.stateDirty || changed
}

// Commit writes what was decided since the last commit, with the
// checkpoint, in one transaction. Without notifications or changed state
// it writes only when cursorToo is set (a moved cursor alone can wait: the
// events after it are handled again, giving nothing new). On error
// everything stays pending for the next commit.
func (c *Core) Commit(cursorToo bool) error {
	if len(c.out) == 0 && !c.stateDirty && len(c.runningDirty) == 0 && !(cursorToo && c.cursorDirty) {
		return nil
	}
	snap := state.Snapshot{Cursors: c.cursors, Running: map[string]map[string]event.Container{}}
	for host := range c.runningDirty {
		snap.Running[host] = c.running[host]
	}
	if c.stateDirty {
		data, err := json.Marshal(savedState{Version: stateVersion, Groups: c.groups, Loops: c.loops, Incidents: c.incidents})
		if err != nil {
			return fmt.Errorf("encode the alert state: %w", err)
		}
		snap.Core = data
	}
	if err := c.outbox.Commit(c.out, snap); err != nil {
		return fmt.Errorf("commit %d notifications and the checkpoint: %w", len(c.out), err)
	}
	c.out, c.stateDirty, c.cursorDirty = nil, false, false
	clear(c.runningDirty)
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

// muted: the container's label says so, or a mute (/docker mute) covers its name.
func (c *Core) muted(ev event.Event, now time.Time) bool {
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

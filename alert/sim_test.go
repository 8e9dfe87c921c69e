package alert_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/alert"
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

// The fault simulator: a fake daemon plays a seeded history (crashes,
// crash loops, OOM kills, clean exits, stops, removals, deploy storms of
// one compose project) into the real alert core, outbox and bbolt file,
// under a fake clock, while a destination fails at random and whalewatch
// is killed at random instants: between handling and committing, between
// delivering and acknowledging. A kill abandons everything in memory and
// reopens the file; the daemon replays from the saved cursor, as Docker
// does. Every schedule checks the promises of the README's delivery
// section; a failure prints the seed (SIM_SEED=n replays one schedule).
func TestFaultSimulation(t *testing.T) {
	schedules := 2000
	if testing.Short() {
		schedules = 200
	}
	first := int64(1)
	if s := os.Getenv("SIM_SEED"); s != "" {
		seed, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SIM_SEED: %v", err)
		}
		first, schedules = seed, 1
	}
	dir := t.TempDir()
	stats := simStats{}
	for seed := first; seed < first+int64(schedules); seed++ {
		w := newWorld(t, seed, fmt.Sprintf("%s/%d", dir, seed))
		w.play()
		w.check()
		stats.add(w)
		if t.Failed() {
			t.Fatalf("seed %d failed; replay it with SIM_SEED=%d go test ./alert -run TestFaultSimulation -v", seed, seed)
		}
	}
	t.Logf("%d schedules: %d events, %d kills, %d deliveries (%d resent after a kill, %d resolving incidents), %d notifications refused as already known",
		schedules, stats.events, stats.crashes, stats.deliveries, stats.resent, stats.resolutions, stats.refused)
}

type simStats struct{ events, crashes, deliveries, resent, resolutions, refused int }

func (s *simStats) add(w *world) {
	s.events += len(w.history)
	s.crashes += w.crashes
	s.deliveries += len(w.deliveries)
	for _, n := range w.deliveries {
		if n.Incident != nil && n.Incident.Status == notify.Resolved {
			s.resolutions++
		}
	}
	s.resent += w.resent
	s.refused += w.refused
}

const simHost = "h1"

type world struct {
	t    *testing.T
	seed int64
	rng  *rand.Rand
	dir  string

	engine *rules.Engine
	cfg    alert.Config

	// The daemon: the whole history, and where the stream is.
	history []event.Event
	pos     int
	// atCursor: keys the event source drops from the replay (handled at
	// the cursor before the kill).
	atCursor map[string]bool

	// The process, lost at every kill.
	store    *state.Store
	core     *alert.Core
	inflight *state.Entry // sent to the destination, not yet acknowledged
	clock    time.Time

	// The destination's side.
	deliveries []notify.Notification
	payloads   map[string][]byte // id → first payload received
	crashes    int
	mayResend  int // kills that caught a delivery in flight
	resent     int
	refused    int
}

func newWorld(t *testing.T, seed int64, dir string) *world {
	rng := rand.New(rand.NewSource(seed))
	specs := rules.Defaults()
	window := []time.Duration{0, 10 * time.Second, 30 * time.Second}[rng.Intn(3)]
	for i := range specs {
		specs[i].GroupWindow = window
	}
	engine, err := rules.Compile(specs)
	if err != nil {
		t.Fatal(err)
	}
	w := &world{
		t: t, seed: seed, rng: rng, dir: dir, engine: engine,
		cfg: alert.Config{Rules: engine, ShownLabels: []string{notify.ComposeProject},
			CrashLoopDeaths: 3 + rng.Intn(3), CrashLoopWindow: time.Minute, CrashLoopQuiet: 5 * time.Minute,
			ResolveAfter: []time.Duration{0, 30 * time.Second, 2 * time.Minute}[rng.Intn(3)]},
		clock:    time.Unix(1_700_000_000, 0),
		payloads: map[string][]byte{},
	}
	w.history = w.makeHistory()
	w.open()
	return w
}

// makeHistory writes what the daemon will have seen, annotated as the
// event source annotates it.
func (w *world) makeHistory() []event.Event {
	type planned struct {
		at time.Duration
		ev event.Event
	}
	var plan []planned
	containers := 1 + w.rng.Intn(14)
	for c := range containers {
		id := fmt.Sprintf("c%02d", c)
		project := fmt.Sprintf("p%d", w.rng.Intn(3))
		at := time.Duration(w.rng.Intn(20_000)) * time.Millisecond
		add := func(action string, exit int, mark func(*event.Event)) {
			ev := event.Event{Host: simHost, Type: event.ContainerType, Action: action, ActorID: id,
				Name: "web-" + id, Image: "shop/web", ExitCode: exit,
				Labels: map[string]string{notify.ComposeProject: project}, Attributes: map[string]string{}}
			if mark != nil {
				mark(&ev)
			}
			plan = append(plan, planned{at, ev})
			at += time.Duration(1+w.rng.Intn(1500)) * time.Millisecond
		}
		add("start", -1, nil)
		switch w.rng.Intn(6) {
		case 0, 1: // a crash
			add("die", 1+w.rng.Intn(3), nil)
		case 2: // a clean exit
			add("die", 0, nil)
		case 3: // docker stop
			add("kill", -1, nil)
			add("die", 143, func(ev *event.Event) { ev.Intentional = true })
		case 4: // a crash loop
			for range 3 + w.rng.Intn(8) {
				add("die", 2, nil)
				add("start", -1, nil)
			}
			add("die", 2, nil)
		case 5: // an OOM kill
			add("oom", -1, nil)
			add("die", 137, func(ev *event.Event) { ev.OOMKilled = true })
		}
		if w.rng.Intn(2) == 0 {
			add("destroy", -1, nil)
		}
	}
	slices.SortStableFunc(plan, func(a, b planned) int { return int(a.at - b.at) })
	out := make([]event.Event, len(plan))
	for i, p := range plan {
		p.ev.TimeNano = w.clock.Add(p.at).UnixNano() + int64(i) // unique, in order
		p.ev.Time = time.Unix(0, p.ev.TimeNano).UTC()
		out[i] = p.ev
	}
	return out
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// open starts whalewatch on the state file, as after a kill.
func (w *world) open() {
	store, err := state.OpenUnsynced(w.dir)
	if err != nil {
		w.t.Fatal(err)
	}
	disp := notify.NewDispatcher(quiet(), metrics.New(), store, 1_000_000, notify.Destination{Name: "sink"})
	core := alert.New(w.cfg, disp, store, quiet(), metrics.New())
	snap, err := store.LoadSnapshot()
	if err == nil {
		err = core.Restore(snap)
	}
	if err != nil {
		w.t.Fatalf("seed %d: restore: %v", w.seed, err)
	}
	w.store, w.core = store, core
	resume := core.Resumes()[simHost]
	cursor, running := resume.Cursor, resume.Running
	// The running set saved is exactly the one at the cursor.
	if want := w.runningAt(cursor); !maps.EqualFunc(running, want, func(a, b event.Container) bool { return a.Name == b.Name }) {
		w.t.Errorf("seed %d: running set at cursor %d is %v, want %v", w.seed, cursor, slices.Sorted(maps.Keys(running)), slices.Sorted(maps.Keys(want)))
	}
	// The daemon replays from the cursor inclusively, as Docker's since
	// does: the event at the cursor comes again. The event source drops the
	// ones the checkpoint says were handled there.
	w.pos = 0
	for w.pos < len(w.history) && w.history[w.pos].TimeNano < cursor {
		w.pos++
	}
	w.atCursor = map[string]bool{}
	for _, k := range resume.AtCursor {
		w.atCursor[k] = true
	}
}

func (w *world) runningAt(cursor int64) map[string]event.Container {
	running := map[string]event.Container{}
	for _, ev := range w.history {
		if ev.TimeNano > cursor {
			break
		}
		switch ev.Action {
		case "start":
			running[ev.ActorID] = event.Container{Name: ev.Name}
		case "die", "destroy":
			delete(running, ev.ActorID)
		}
	}
	return running
}

// kill abandons the process at this instant.
func (w *world) kill() {
	w.crashes++
	if w.inflight != nil {
		w.mayResend++
	}
	w.inflight = nil
	w.refused += int(w.store.Duplicates.Load())
	if err := w.store.Close(); err != nil {
		w.t.Fatal(err)
	}
	w.open()
}

func (w *world) commit() {
	if err := w.core.Commit(true); err != nil {
		w.t.Fatalf("seed %d: commit: %v", w.seed, err)
	}
}

// send hands the oldest queued notification to the destination, which
// fails now and then (it stays queued).
func (w *world) send(failRate int) {
	if w.inflight != nil {
		return
	}
	entries, err := w.store.Entries("sink", 0, 1)
	if err != nil {
		w.t.Fatal(err)
	}
	if len(entries) == 0 || w.rng.Intn(100) < failRate {
		return
	}
	e := entries[0]
	var n notify.Notification
	if err := json.Unmarshal(e.Data, &n); err != nil {
		w.t.Fatalf("seed %d: unreadable outbox entry: %v", w.seed, err)
	}
	if first, seen := w.payloads[n.ID]; seen {
		w.resent++
		if string(first) != string(e.Data) {
			w.t.Errorf("seed %d: id %s sent again with another payload:\n%s\n%s", w.seed, n.ID, first, e.Data)
		}
	} else {
		w.payloads[n.ID] = e.Data
	}
	w.deliveries = append(w.deliveries, n)
	w.inflight = &e
}

func (w *world) ack() {
	if w.inflight == nil {
		return
	}
	if err := w.store.Remove("sink", w.inflight.Seq); err != nil {
		w.t.Fatal(err)
	}
	w.inflight = nil
}

// play runs the schedule: every step is one instruction boundary at
// which whalewatch may be killed.
func (w *world) play() {
	defer func() { _ = w.store.Close() }()
	maxKills := w.rng.Intn(4)
	for step := 0; w.pos < len(w.history) || step < 50; step++ {
		switch r := w.rng.Intn(100); {
		case r < 40:
			if w.pos < len(w.history) {
				ev := w.history[w.pos]
				w.pos++
				if w.atCursor[ev.Key()] {
					break
				}
				if t := ev.Time; t.After(w.clock) {
					w.clock = t
				}
				w.core.Handle(event.Item{Event: ev}, w.clock)
			}
		case r < 55:
			w.clock = w.clock.Add(time.Duration(w.rng.Intn(3000)) * time.Millisecond)
			w.core.Tick(w.clock)
		case r < 70:
			w.commit()
		case r < 85:
			w.send(25)
		case r < 96:
			w.ack()
		default:
			if w.crashes < maxKills {
				w.kill()
			}
		}
	}
	// The end: every window closes, every loop recovers, the destination
	// recovers and takes everything.
	for range 3 {
		w.clock = w.clock.Add(time.Hour)
		w.core.Tick(w.clock)
		w.commit()
	}
	for {
		w.send(0)
		if w.inflight == nil {
			break
		}
		w.ack()
	}
	w.refused += int(w.store.Duplicates.Load())
}

// check holds the history against what the destination received.
func (w *world) check() {
	accounted := map[string]bool{}
	for _, n := range w.deliveries {
		accounted[n.ID] = true
		if n.Group != nil {
			for _, id := range n.Group.Covers {
				accounted[id] = true
			}
		}
	}
	// No loss: every match is delivered, or accounted for by a group or
	// crash-loop message that was.
	for _, ev := range w.history {
		matches, errs := w.engine.Match(ev)
		if len(errs) > 0 {
			w.t.Fatalf("seed %d: %v", w.seed, errs)
		}
		for _, m := range matches {
			if id := notify.New(m.Rule.Name, m.Text, ev, nil).ID; !accounted[id] {
				w.t.Errorf("seed %d: lost: rule %s on %s %s of %s (exit %d); %d deliveries, %d kills",
					w.seed, m.Rule.Name, ev.Action, ev.Key(), ev.Name, ev.ExitCode, len(w.deliveries), w.crashes)
			}
		}
	}
	w.checkIncidents()
	w.checkCounts()
	// Duplicates: only what was in flight at a kill is sent again.
	if w.resent > w.mayResend {
		w.t.Errorf("seed %d: %d notifications sent twice, but only %d kills caught one in flight", w.seed, w.resent, w.mayResend)
	}
}

// checkCounts: no event is counted twice, also across a kill and the
// daemon's inclusive replay: a group never counts more matches than its
// rule had in its compose project, an incident never more alerts than its
// container's matches.
func (w *world) checkCounts() {
	perGroup, perContainer := map[string]int{}, map[string]int{}
	for _, ev := range w.history {
		matches, _ := w.engine.Match(ev)
		for _, m := range matches {
			perGroup[m.Rule.Name+"|"+ev.Labels[notify.ComposeProject]]++
			perContainer[ev.ActorID]++
		}
	}
	for _, n := range w.deliveries {
		if n.Group != nil && n.Rule != alert.CrashLoopRule && n.Rule != alert.ResolvedRule {
			if max := perGroup[n.Rule+"|"+n.Event.Labels[notify.ComposeProject]]; n.Group.Count > max {
				w.t.Errorf("seed %d: group message %s counts %d matches; rule %s had %d in project %s",
					w.seed, n.ID, n.Group.Count, n.Rule, max, n.Event.Labels[notify.ComposeProject])
			}
		}
		if n.Incident != nil && n.Incident.Alerts > perContainer[n.Event.ActorID] {
			w.t.Errorf("seed %d: incident %s counts %d alerts; container %s had %d matches",
				w.seed, n.Incident.ID, n.Incident.Alerts, n.Event.ActorID, perContainer[n.Event.ActorID])
		}
	}
}

// checkIncidents: an incident resolves once, nothing joins it after that,
// and at the end the incidents of containers left running or removed are
// resolved while those of containers left dead are not.
func (w *world) checkIncidents() {
	if w.cfg.ResolveAfter <= 0 {
		return
	}
	last := map[string]string{} // container → its last start, die or destroy
	for _, ev := range w.history {
		if ev.Action == "start" || ev.Action == "die" || ev.Action == "destroy" {
			last[ev.ActorID] = ev.Action
		}
	}
	resolved := map[string]bool{}
	lastIncident := map[string]*notify.Incident{} // container → its last incident message
	for _, n := range w.deliveries {
		inc := n.Incident
		if inc == nil {
			continue
		}
		if resolved[inc.ID] && inc.Status != notify.Resolved {
			w.t.Errorf("seed %d: %s joined incident %s after its resolution", w.seed, n.ID, inc.ID)
		}
		resolved[inc.ID] = resolved[inc.ID] || inc.Status == notify.Resolved
		lastIncident[n.Event.ActorID] = inc
	}
	for ctr, inc := range lastIncident {
		if done := inc.Status == notify.Resolved; done != (last[ctr] != "die") {
			w.t.Errorf("seed %d: incident %s of %s ends %s; its container's last event is %s", w.seed, inc.ID, ctr, inc.Status, last[ctr])
		}
	}
}

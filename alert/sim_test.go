package alert_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"syscall"
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
// does. The disk fails too: from any commit or removal on, writes fail
// (ENOSPC, EIO, EROFS) until it recovers, and a schedule may start on a
// damaged state file (empty, torn to half, a page of garbage, not bbolt).
// Every schedule checks the promises of the README's delivery section,
// and that a failing store loses nothing while the process lives (nor
// sends anything twice); a failure prints the seed (SIM_SEED=n replays
// one schedule).
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
	t.Logf("%d schedules: %d events, %d kills, %d deliveries (%d resent after a kill, %d resolving incidents), %d notifications refused as already known; "+
		"%d disk outages (%d writes failed, %d deliveries made from memory; %d schedules killed with deliveries unsaved), %d damaged files at start (%d moved aside)",
		schedules, stats.events, stats.crashes, stats.deliveries, stats.resent, stats.resolutions, stats.refused,
		stats.outages, stats.failedWrites, stats.fromMemory, stats.replayedSchedules, stats.damaged, stats.movedAside)
}

type simStats struct {
	events, crashes, deliveries, resent, resolutions, refused int
	outages, failedWrites, fromMemory, damaged, movedAside    int
	replayedSchedules                                         int
}

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
	s.outages += w.outages
	s.failedWrites += w.failedWrites
	s.fromMemory += w.fromMemory
	s.damaged += w.damaged
	s.movedAside += w.movedAside
	if len(w.replayed) > 0 {
		s.replayedSchedules++
	}
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
	store      *state.Store
	core       *alert.Core
	inflight   *state.Entry // sent to the destination, not yet acknowledged
	inflightID string
	clock      time.Time

	// The destination's side.
	deliveries []notify.Notification
	payloads   map[string][]byte // id → first payload received
	// damageKind: how the file was damaged at start; damageMustShow: Open
	// must notice it.
	damageKind     string
	damageMustShow bool
	crashes        int
	mayResend      int // deliveries a kill may make again: in flight, or delivered while the disk failed
	resent         int
	refused        int

	// The disk: while outage is set, every write fails with it.
	outage       error
	outages      int
	failedWrites int
	// unsaved: ids delivered while the disk failed (their entry, removal
	// or id in memory only): a kill may send them again, and the replay,
	// made at other instants, may group them otherwise (same id, other
	// covers); replayed: those a kill caught.
	unsaved    map[string]bool
	replayed   map[string]bool
	life       map[string]bool // ids delivered since the last start
	fromMemory int
	damaged    int // the schedule started on a damaged file
	movedAside int
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
		unsaved:  map[string]bool{}, replayed: map[string]bool{},
	}
	w.history = w.makeHistory()
	if w.rng.Intn(20) == 0 {
		w.damage()
	}
	w.open()
	if w.damaged > 0 {
		if w.store.Recovered != nil {
			w.movedAside++
		} else if w.damageMustShow {
			w.t.Errorf("seed %d: a damaged state file (%s) was used without a word", w.seed, w.damageKind)
		}
	}
	return w
}

// damage leaves a damaged state file where whalewatch starts: what a
// torn write, a bad disk or an operator's mistake leaves.
func (w *world) damage() {
	if err := os.MkdirAll(w.dir, 0o700); err != nil {
		w.t.Fatal(err)
	}
	file := templateFile(w.t)
	var data []byte
	switch w.rng.Intn(4) {
	case 0:
		w.damageKind, w.damageMustShow = "zero-length", true
	case 1:
		w.damageKind, w.damageMustShow = "torn to half", true
		data = file[:len(file)/2]
	case 2:
		page := w.rng.Intn(len(file) / 4096)
		w.damageKind = fmt.Sprintf("page %d overwritten", page)
		data = slices.Clone(file)
		w.rng.Read(data[page*4096 : (page+1)*4096])
	case 3:
		w.damageKind, w.damageMustShow = "not bbolt", true
		data = []byte("#!/bin/sh\necho this is not a state file\n")
	}
	if err := os.WriteFile(filepath.Join(w.dir, state.FileName), data, 0o600); err != nil {
		w.t.Fatal(err)
	}
	w.damaged++
}

// templateFile is a real state file with entries for another destination
// and a checkpoint of another host (so a damage that goes unseen, on a
// free page, does not mix into the schedule's own promises).
var template struct {
	once sync.Once
	data []byte
}

func templateFile(t *testing.T) []byte {
	template.once.Do(func() { template.data = makeTemplate(t) })
	return template.data
}

func makeTemplate(t *testing.T) []byte {
	dir := t.TempDir()
	s, err := state.OpenUnsynced(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		var msgs []state.Message
		for j := range 20 {
			msgs = append(msgs, state.Message{ID: fmt.Sprint(i, "/", j), Data: []byte(`{"rule":"OTHER"}`), Dests: []string{"other"}})
		}
		if _, err := s.Commit(msgs, state.Snapshot{Cursors: map[string]int64{"h0": int64(i)}}, 1<<20, time.Unix(1_700_000_000, 0)); err != nil {
			t.Fatal(err)
		}
	}
	_ = s.Close()
	data, err := os.ReadFile(filepath.Join(dir, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return data
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

// disk is the state file's fault seam: while an outage lasts every
// write fails with it.
func (w *world) disk(op string) error {
	if w.outage != nil {
		w.failedWrites++
		return w.outage
	}
	return nil
}

// open starts whalewatch on the state file, as after a kill.
func (w *world) open() {
	store, err := state.OpenWith(w.dir, state.Options{NoSync: true, BeforeWrite: w.disk})
	if err != nil {
		w.t.Fatalf("seed %d: open: %v", w.seed, err)
	}
	w.life = map[string]bool{}
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
	if w.inflight != nil && !w.unsaved[w.inflightID] {
		w.mayResend++
	}
	w.mayResend += len(w.unsaved)
	maps.Copy(w.replayed, w.unsaved)
	clear(w.unsaved)
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
		if string(first) != string(e.Data) && !w.replayed[n.ID] {
			w.t.Errorf("seed %d: id %s sent again with another payload:\n%s\n%s", w.seed, n.ID, first, e.Data)
		}
	} else {
		w.payloads[n.ID] = e.Data
	}
	if w.life[n.ID] {
		w.t.Fatalf("seed %d: %s sent twice while the process lived (disk outage: %v); replay it with SIM_SEED=%d", w.seed, n.ID, w.outage, w.seed)
	}
	w.life[n.ID] = true
	if w.store.WriteError() != nil {
		w.fromMemory++
		w.unsaved[n.ID] = true
	}
	w.deliveries = append(w.deliveries, n)
	w.inflight, w.inflightID = &e, n.ID
}

func (w *world) ack() {
	if w.inflight == nil {
		return
	}
	if err := w.store.Remove("sink", w.inflight.Seq); err != nil {
		w.t.Fatal(err)
	}
	if w.store.WriteError() != nil {
		w.unsaved[w.inflightID] = true
	}
	w.inflight = nil
}

// fault starts or ends a disk outage (the dispatcher's flush follows an
// end at its next try).
func (w *world) fault() {
	if w.outage != nil {
		w.outage = nil
		return
	}
	w.outage = []error{syscall.ENOSPC, syscall.EIO, syscall.EROFS}[w.rng.Intn(3)]
	if os.Getenv("SIM_NO_OUTAGE") != "" {
		w.outage = nil
	}
	w.outages++
}

// flush is the dispatcher's retry of what waits in memory.
func (w *world) flush() {
	if err := w.store.Flush(); err == nil && w.store.WriteError() == nil {
		clear(w.unsaved) // removals and ids are in the file now
	}
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
		case r < 93:
			w.ack()
		case r < 95:
			if w.outage != nil || w.rng.Intn(3) == 0 {
				w.fault()
			}
		case r < 97:
			w.flush()
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
	for { // from the file, or from memory if the disk still fails
		w.send(0)
		if w.inflight == nil {
			break
		}
		w.ack()
	}
	// The disk recovers: what waited in memory is written, and the file
	// then holds a checkpoint that agrees with the history (open checks
	// the running set at its cursor) and an empty outbox.
	w.outage = nil
	w.flush()
	if err := w.store.WriteError(); err != nil {
		w.t.Errorf("seed %d: still unwritable after the disk recovered: %v", w.seed, err)
	}
	w.refused += int(w.store.Duplicates.Load())
	if err := w.store.Close(); err != nil {
		w.t.Fatal(err)
	}
	w.open()
	if n := w.store.Len("sink"); n != 0 {
		w.t.Errorf("seed %d: %d entries left in the outbox after the disk recovered", w.seed, n)
	}
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
	// A kill during a disk outage makes the replay send again what was
	// delivered from memory (same ids), at other instants: the
	// destination may see an incident's messages twice, in another order.
	if len(w.replayed) == 0 {
		w.checkIncidents()
		w.checkCounts()
	}
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

package alert_test

import (
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/alert"
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

func start(id string, at time.Time) event.Item {
	return event.Item{Event: event.Event{Host: "h", Type: event.ContainerType, Action: "start", ActorID: id, Name: "web-" + id,
		ExitCode: -1, Time: at, TimeNano: at.UnixNano(), Labels: map[string]string{notify.ComposeProject: "shop"}}}
}

// sample is a stats sample of id using pct of a 64 MiB limit (none: 0).
func sample(id string, pct float64, at time.Time) event.Item {
	st := &event.Stats{MemoryPercent: pct, MemoryBytes: int64(pct / 100 * (64 << 20)), MemoryLimit: 64 << 20, PIDs: 7, PIDsLimit: 100}
	if pct == 0 {
		st.MemoryLimit, st.MemoryBytes = 0, 30<<30
	}
	return event.Item{Event: event.Event{Host: "h", Type: event.StatsType, Action: "sample", ActorID: id, Name: "web-" + id,
		ExitCode: -1, Time: at, TimeNano: at.UnixNano(), Labels: map[string]string{notify.ComposeProject: "shop"}, Stats: st}}
}

// pressureCore is a core with the built-in rules (MEMORY_HIGH: 90 % for
// 2m), no grouping, and c1 running since t0.
func pressureCore(t *testing.T) (*alert.Core, *recorder, time.Time) {
	core, rec := newCore(t, 0)
	t0 := time.Unix(1_700_000_000, 0)
	core.Handle(start("c1", t0), t0)
	return core, rec, t0
}

// feed hands the core one sample every 30 s from `from` on, at the
// percentages given, ticking and committing after each, and returns
// what was committed meanwhile.
func feed(t *testing.T, core *alert.Core, rec *recorder, from time.Time, pcts ...float64) []notify.Notification {
	t.Helper()
	before := len(rec.out)
	for i, pct := range pcts {
		at := from.Add(time.Duration(i) * 30 * time.Second)
		core.Handle(sample("c1", pct, at), at)
		core.Tick(at)
		if err := core.Commit(true); err != nil {
			t.Fatal(err)
		}
	}
	return rec.out[before:]
}

func rulesOf(ns []notify.Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Rule)
	}
	return out
}

// MEMORY_HIGH fires once the condition held on every sample for its FOR,
// says nothing while it keeps holding, and resolves at the first sample
// that no longer matches.
func TestPressureFiresAfterForAndResolvesOnce(t *testing.T) {
	core, rec, t0 := pressureCore(t)
	if got := feed(t, core, rec, t0, 95, 95, 96, 97); len(got) != 0 {
		t.Fatalf("before 2m of pressure: %v", rulesOf(got))
	}
	got := feed(t, core, rec, t0.Add(2*time.Minute), 98) // the 5th sample: 2m after the first
	if len(got) != 1 || got[0].Rule != "MEMORY_HIGH" || got[0].Incident == nil || got[0].Incident.Status != notify.Firing {
		t.Fatalf("at 2m: %+v", got)
	}
	n := got[0]
	if n.Event.Stats == nil || len(n.Event.Stats.Trend) != 5 || n.Event.Stats.Trend[0].MemoryPercent != 95 || n.Event.Stats.MemoryPercent != 98 {
		t.Errorf("the alert's figures and trend: %+v", n.Event.Stats)
	}
	text := n.PlainText()
	for _, want := range []string{"62.7 MiB of 64.0 MiB (98.0%)", "over 2m0s (5 samples): memory 95% → 95% → 96% → 97% → 98%", "7 of 100"} {
		if !strings.Contains(text, want) {
			t.Errorf("card lacks %q:\n%s", want, text)
		}
	}
	if got := feed(t, core, rec, t0.Add(150*time.Second), 99, 97, 96, 99); len(got) != 0 {
		t.Fatalf("while it holds: %v", rulesOf(got))
	}
	if c := core.Resumes()["h"].Cursor; c != t0.UnixNano() {
		t.Errorf("samples moved the cursor from the start's %d to %d", t0.UnixNano(), c)
	}
	got = feed(t, core, rec, t0.Add(270*time.Second), 60, 61)
	if len(got) != 1 || got[0].Rule != alert.ResolvedRule || got[0].Incident.ID != n.Incident.ID ||
		!strings.Contains(got[0].Summary(), "no longer matches MEMORY_HIGH (memory 38.4 MiB of 64.0 MiB (60.0%)") {
		t.Fatalf("resolution: %v %+v", rulesOf(got), got)
	}
}

// One sample below the threshold starts the FOR again.
func TestPressureDipRestartsFor(t *testing.T) {
	core, rec, t0 := pressureCore(t)
	got := feed(t, core, rec, t0, 95, 95, 95, 95, 80, 95, 95, 95, 95)
	if len(got) != 0 {
		t.Fatalf("a dip at 2m did not restart the FOR: %v", rulesOf(got))
	}
	if got := feed(t, core, rec, t0.Add(9*30*time.Second), 95); len(got) != 1 || got[0].Rule != "MEMORY_HIGH" {
		t.Fatalf("2m after the dip: %v", rulesOf(got))
	}
}

// An OOM kill that follows the pressure joins its incident (no resolution
// for the death), and a sample taken before the death that arrives after
// it is dropped.
func TestOOMKillJoinsThePressureIncident(t *testing.T) {
	core, rec, t0 := pressureCore(t)
	fired := feed(t, core, rec, t0, 95, 95, 95, 95, 95)
	if len(fired) != 1 {
		t.Fatalf("fired: %v", rulesOf(fired))
	}
	at := t0.Add(150 * time.Second)
	oom := event.Item{Event: event.Event{Host: "h", Type: event.ContainerType, Action: "oom", ActorID: "c1", Name: "web-c1", ExitCode: -1, Time: at, TimeNano: at.UnixNano()}}
	core.Handle(oom, at)
	d := die("c1", 137, at.Add(time.Millisecond))
	d.Event.OOMKilled = true
	core.Handle(d, at)
	core.Handle(sample("c1", 99, at.Add(-time.Second)), at) // read before the death
	core.Tick(at)
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	got := rec.out[len(fired):]
	if len(got) != 1 || got[0].Rule != "OOM" || got[0].Incident == nil || got[0].Incident.ID != fired[0].Incident.ID || got[0].Incident.Alerts != 2 {
		t.Fatalf("after the OOM kill: %v %+v", rulesOf(got), got)
	}
}

// A container stopped under pressure resolves its incident.
func TestStoppingResolvesThePressureIncident(t *testing.T) {
	core, rec, t0 := pressureCore(t)
	fired := feed(t, core, rec, t0, 95, 95, 95, 95, 95)
	at := t0.Add(150 * time.Second)
	d := die("c1", 0, at)
	d.Event.Intentional = true
	core.Handle(d, at)
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	got := rec.out[len(fired):]
	if len(fired) != 1 || len(got) != 1 || got[0].Rule != alert.ResolvedRule || !strings.Contains(got[0].Summary(), "web-c1 stopped") {
		t.Fatalf("fired %v, then %v", rulesOf(fired), got)
	}
}

// Without a limit there is no percentage: MEMORY_HIGH never matches, and
// samples of containers the core does not know as running are dropped.
func TestPressureNeedsALimitAndARunningContainer(t *testing.T) {
	core, rec, t0 := pressureCore(t)
	if got := feed(t, core, rec, t0, 0, 0, 0, 0, 0, 0, 0); len(got) != 0 {
		t.Fatalf("no limit: %v", rulesOf(got))
	}
	for i := range 10 {
		at := t0.Add(time.Duration(i) * 30 * time.Second)
		core.Handle(sample("unknown", 99, at), at)
	}
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if len(rec.out) != 0 {
		t.Fatalf("a container not running: %v", rulesOf(rec.out))
	}
}

// A fresh container list (every reconnect) finds the container running:
// that is no recovery from pressure, which only a sample can tell.
func TestListingKeepsThePressureIncidentOpen(t *testing.T) {
	core, rec, t0 := pressureCore(t)
	fired := feed(t, core, rec, t0, 95, 95, 95, 95, 95)
	at := t0.Add(150 * time.Second)
	core.Handle(event.Item{Event: event.Event{Host: "h"}, Listed: map[string]event.Container{"c1": {Name: "web-c1"}}}, at)
	core.Tick(at.Add(time.Hour))
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if len(fired) != 1 || len(rec.out) != 1 {
		t.Fatalf("after a list and an hour: %v", rulesOf(rec.out))
	}
}

// A muted container's samples open nothing.
func TestMutedContainerHasNoPressure(t *testing.T) {
	core, rec, t0 := pressureCore(t)
	for i := range 10 {
		at := t0.Add(time.Duration(i) * 30 * time.Second)
		it := sample("c1", 99, at)
		it.Event.Labels[alert.MuteLabel] = "true"
		core.Handle(it, at)
	}
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if len(rec.out) != 0 {
		t.Fatalf("muted: %v", rulesOf(rec.out))
	}
}

// storeRecorder keeps the notifications and writes the checkpoints to a
// real state file.
type storeRecorder struct {
	recorder
	store *state.Store
}

func (r *storeRecorder) Commit(out []notify.Outgoing, snap state.Snapshot) error {
	if _, err := r.store.Commit(nil, snap, 1000, time.Now()); err != nil {
		return err
	}
	return r.recorder.Commit(out, snap)
}

// A pressure incident is in the checkpoint: after a restart the samples
// that still match send nothing (the FOR is not waited again for an open
// incident), and the first that does not resolves it.
func TestPressureIncidentSurvivesARestart(t *testing.T) {
	store, err := state.OpenUnsynced(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	cfg := alert.Config{Rules: engine, ResolveAfter: time.Minute}
	rec := &storeRecorder{store: store}
	before := alert.New(cfg, rec, noMutes{}, quiet(), metrics.New())
	t0 := time.Unix(1_700_000_000, 0)
	before.Handle(start("c1", t0), t0)
	fired := feed(t, before, &rec.recorder, t0, 95, 95, 95, 95, 95)
	if len(fired) != 1 {
		t.Fatalf("before the restart: %v", rulesOf(fired))
	}
	after := alert.New(cfg, rec, noMutes{}, quiet(), metrics.New())
	snap, err := store.LoadSnapshot()
	if err == nil {
		err = after.Restore(snap)
	}
	if err != nil {
		t.Fatal(err)
	}
	if got := feed(t, after, &rec.recorder, t0.Add(10*time.Minute), 97, 97); len(got) != 0 {
		t.Fatalf("still holding after the restart: %v", rulesOf(got))
	}
	got := feed(t, after, &rec.recorder, t0.Add(11*time.Minute), 50)
	if len(got) != 1 || got[0].Rule != alert.ResolvedRule || got[0].Incident.ID != fired[0].Incident.ID {
		t.Fatalf("after the restart: %v", rulesOf(got))
	}
}

// A container that dies while muted still ends its pressure incident: no
// sample will come to resolve it.
func TestDeathWhileMutedResolvesThePressureIncident(t *testing.T) {
	core, rec, t0 := pressureCore(t)
	fired := feed(t, core, rec, t0, 95, 95, 95, 95, 95)
	at := t0.Add(150 * time.Second)
	d := die("c1", 137, at)
	d.Event.Labels = map[string]string{alert.MuteLabel: "true"}
	core.Handle(d, at)
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	got := rec.out[len(fired):]
	if len(fired) != 1 || len(got) != 1 || got[0].Rule != alert.ResolvedRule {
		t.Fatalf("fired %v, then %v", rulesOf(fired), rulesOf(got))
	}
}

// A healthy report is no recovery from pressure: only a sample tells.
func TestHealthyKeepsThePressureIncidentOpen(t *testing.T) {
	core, rec, t0 := pressureCore(t)
	fired := feed(t, core, rec, t0, 95, 95, 95, 95, 95)
	at := t0.Add(150 * time.Second)
	core.Handle(event.Item{Event: event.Event{Host: "h", Type: event.ContainerType, Action: "health_status", Status: "healthy",
		ActorID: "c1", Name: "web-c1", ExitCode: -1, Time: at, TimeNano: at.UnixNano()}}, at)
	core.Tick(at.Add(time.Hour))
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if len(fired) != 1 || len(rec.out) != 1 {
		t.Fatalf("after healthy and an hour: %v", rulesOf(rec.out))
	}
}

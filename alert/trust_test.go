package alert_test

import (
	"strconv"
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

func containerEvent(id, action, status string, at time.Time) event.Item {
	return event.Item{Event: event.Event{Host: "h", HostID: "D1", Type: event.ContainerType, Action: action, Status: status,
		ActorID: id, Name: "web-" + id, ExitCode: -1, Time: at, TimeNano: at.UnixNano(), Labels: map[string]string{notify.ComposeProject: "shop"}}}
}

// Health flapping: an unhealthy report held by the group window when its
// incident resolves is accounted for by the resolution, never sent as a
// group update after it; one that comes after the resolution opens a new
// incident with a message of its own, not a "1 more" of the old group. The
// resolution is stamped when it resolved, and group texts do not repeat the
// rule (every destination puts the rule first: "UNHEALTHY: UNHEALTHY: …").
func TestNoGroupUpdateAfterItsIncidentResolved(t *testing.T) {
	core, rec := newCore(t, 2*time.Minute)
	t0 := time.Unix(1_700_000_000, 0)
	core.Handle(containerEvent("c1", "health_status", "unhealthy", t0), t0)
	core.Handle(containerEvent("c1", "health_status", "healthy", t0.Add(time.Second)), t0.Add(time.Second))
	core.Handle(containerEvent("c1", "health_status", "unhealthy", t0.Add(2*time.Second)), t0.Add(2*time.Second)) // held by the group
	core.Handle(containerEvent("c1", "health_status", "healthy", t0.Add(3*time.Second)), t0.Add(3*time.Second))
	resolvedAt := t0.Add(3*time.Second + time.Minute)
	core.Tick(resolvedAt)
	again := resolvedAt.Add(time.Second)
	core.Handle(containerEvent("c1", "health_status", "unhealthy", again), again)
	for now := again; now.Before(again.Add(5 * time.Minute)); now = now.Add(time.Second) {
		core.Tick(now)
	}
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	var rules []string
	for _, n := range rec.out {
		rules = append(rules, n.Rule)
		if n.Rule == alert.ResolvedRule {
			if !n.Event.Time.Equal(resolvedAt) {
				t.Errorf("resolution stamped %s, want %s", n.Event.Time, resolvedAt)
			}
			if n.Group == nil || len(n.Group.Covers) != 1 {
				t.Errorf("resolution does not account for the held report: %+v", n.Group)
			}
		}
		if n.Group != nil && n.Group.Seq > 1 {
			t.Errorf("a group update: %q", n.Summary())
		}
		if strings.HasPrefix(n.Summary(), n.Rule+":") {
			t.Errorf("text repeats the rule: %q", n.Summary())
		}
	}
	if want := "UNHEALTHY RESOLVED UNHEALTHY"; strings.Join(rules, " ") != want {
		t.Errorf("messages %v, want %s", rules, want)
	}
}

// A cooldown's held matches of a container that is then removed are sent
// (they would wait forever for a next match), and its entries go.
func TestCooldownOfARemovedContainerIsReportedAndForgotten(t *testing.T) {
	specs := rules.Defaults()
	for i := range specs {
		specs[i].GroupWindow, specs[i].Cooldown = 0, time.Hour
	}
	engine, err := rules.Compile(specs)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	core := alert.New(alert.Config{Rules: engine}, rec, noMutes{}, quiet(), metrics.New())
	t0 := time.Unix(1_700_000_000, 0)
	first := die("c1", 1, t0)
	core.Handle(first, t0)
	core.Handle(die("c1", 1, t0.Add(time.Second)), t0.Add(time.Second))
	core.Handle(die("c1", 1, t0.Add(2*time.Second)), t0.Add(2*time.Second))
	gone := containerEvent("c1", "destroy", "", t0.Add(3*time.Second))
	gone.Event.HostID = "" // as the deaths
	core.Handle(gone, t0.Add(3*time.Second))
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if len(rec.out) != 2 {
		t.Fatalf("%d messages, want the first crash and the removal's count: %+v", len(rec.out), rec.out)
	}
	if g := rec.out[1].Group; g == nil || len(g.Covers) != 2 || !strings.Contains(rec.out[1].Summary(), "2 more matches") {
		t.Errorf("removal message = %q %+v", rec.out[1].Summary(), g)
	}
}

// Mutes are about containers: "/docker mute *" silences containers, never
// whalewatch's own notices or Swarm events.
func TestMutesNeverSilenceOwnNoticesOrSwarmEvents(t *testing.T) {
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	core := alert.New(alert.Config{Rules: engine}, rec, muteAll{}, quiet(), metrics.New())
	now := time.Unix(1_700_000_000, 0)
	core.Handle(event.Item{Event: event.Event{Host: "h", Type: event.SelfType, Action: "stream_gap", ActorID: "h", Name: "h", Time: now}}, now)
	core.Handle(event.Item{Event: event.Event{Host: "h", Type: "node", Action: "update", Scope: "swarm", ActorID: "n1", Name: "n1",
		Attributes: map[string]string{"state.new": "down", "state.old": "ready"}, Time: now}}, now)
	core.Handle(die("c1", 1, now), now)
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range rec.out {
		got = append(got, n.Event.Type)
	}
	if len(got) != 2 || got[0] != event.SelfType || got[1] != "node" {
		t.Errorf("sent %v, want the whalewatch notice and the node event only", got)
	}
}

type muteAll struct{}

func (muteAll) Mutes(now time.Time) (map[string]time.Time, error) {
	return map[string]time.Time{"*": now.Add(time.Hour)}, nil
}
func (muteAll) MuteGeneration() int64 { return 1 }

// State written before daemon IDs were kept is found under the host's
// name and moves to the daemon's ID the first time it is seen.
func TestStateUnderAHostNameMovesToTheDaemonsID(t *testing.T) {
	core, _ := newCore(t, 0)
	t0 := time.Unix(1_700_000_000, 0)
	old := die("c1", 0, t0) // HostID unknown, as an older whalewatch kept it
	core.Handle(old, t0)
	if _, ok := core.Resumes()["h"]; !ok {
		t.Fatal("no cursor under the host's name")
	}
	later := containerEvent("c2", "start", "", t0.Add(time.Second))
	core.Handle(later, t0.Add(time.Second))
	r := core.Resumes()
	if _, ok := r["h"]; ok {
		t.Error("the cursor stayed under the host's name")
	}
	if r["D1"].Cursor != later.Event.TimeNano || len(r["D1"].AtCursor) != 1 {
		t.Errorf("resume under the daemon's ID = %+v", r["D1"])
	}
}

// An event handed on ahead of an earlier one still held for settling (of
// another container) does not move the cursor past the held one — a kill
// then would lose it; it is kept in the checkpoint as handled ahead (so a
// resumed source drops it from the replay) until the cursor passes it.
func TestAnEventAheadOfAHeldOneKeepsTheCursorBehind(t *testing.T) {
	rec := &snapRecorder{}
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	core := alert.New(alert.Config{Rules: engine, ResolveAfter: time.Minute}, rec, noMutes{}, quiet(), metrics.New())
	t0 := time.Unix(1_700_000_000, 0)
	core.Handle(die("c1", 1, t0), t0)
	ahead := die("c2", 0, t0.Add(2*time.Second))
	ahead.Ahead = true
	core.Handle(ahead, t0)
	r := core.Resumes()["h"]
	if r.Cursor != t0.UnixNano() || len(r.Ahead) != 1 || r.Ahead[0] != ahead.Event.Key() {
		t.Fatalf("after an event ahead: cursor %d, ahead %v; want %d, [%s]", r.Cursor, r.Ahead, t0.UnixNano(), ahead.Event.Key())
	}
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	restored := alert.New(alert.Config{Rules: engine, ResolveAfter: time.Minute}, rec, noMutes{}, quiet(), metrics.New())
	snap := state.Snapshot{Cursors: rec.snaps[0].Cursors, Core: rec.snaps[0].Core}
	if err := restored.Restore(snap); err != nil {
		t.Fatal(err)
	}
	if r := restored.Resumes()["h"]; len(r.Ahead) != 1 {
		t.Fatalf("the checkpoint lost the events handled ahead: %+v", r)
	}
	// The held one, released, moves the cursor; the source then hands on
	// where it read up to, past both.
	held := die("c3", 137, t0.Add(time.Second))
	core.Handle(held, t0)
	if r := core.Resumes()["h"]; r.Cursor != held.Event.TimeNano || len(r.Ahead) != 1 {
		t.Fatalf("after the held one: %+v", r)
	}
	core.Handle(event.Item{Event: event.Event{Host: "h"}, Cursor: t0.Add(3 * time.Second).UnixNano()}, t0)
	if r := core.Resumes()["h"]; len(r.Ahead) != 0 {
		t.Fatalf("the cursor passed the events handled ahead, still kept: %v", r.Ahead)
	}
}

// A host's first cursor (where its first stream opened) commits at once,
// even by the commit after a burst, which otherwise leaves a moved cursor
// for the next tick: a kill before it would leave a restart nothing to
// resume from, and what happened meanwhile would be lost.
func TestTheFirstCursorCommitsAtOnce(t *testing.T) {
	rec := &snapRecorder{}
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	core := alert.New(alert.Config{Rules: engine, ResolveAfter: time.Minute}, rec, noMutes{}, quiet(), metrics.New())
	t0 := time.Unix(1_700_000_000, 0)
	core.Handle(event.Item{Event: event.Event{Host: "h"}, Cursor: t0.UnixNano()}, t0)
	if err := core.Commit(false); err != nil {
		t.Fatal(err)
	}
	if len(rec.snaps) != 1 || rec.snaps[0].Cursors["h"] != t0.UnixNano() {
		t.Fatalf("the first cursor was not committed: %+v", rec.snaps)
	}
	core.Handle(event.Item{Event: event.Event{Host: "h"}, Cursor: t0.Add(time.Second).UnixNano()}, t0)
	if err := core.Commit(false); err != nil {
		t.Fatal(err)
	}
	if len(rec.snaps) != 1 {
		t.Errorf("a later cursor alone was committed before the tick")
	}
}

// A crash loop revealed by an OOM death: the death's alert is its oom
// event's, so the loop's first message is no further alert of the
// incident (its count stays the number of deaths).
func TestALoopRevealedByAnOOMDeathCountsItOnce(t *testing.T) {
	core, rec := newCore(t, 0)
	t0 := time.Unix(1_700_000_000, 0)
	now := t0
	for range 4 {
		core.Handle(die("c1", 1, now), now)
		now = now.Add(10 * time.Second)
	}
	oom := die("c1", -1, now)
	oom.Event.Action = "oom"
	core.Handle(oom, now)
	death := die("c1", 137, now.Add(time.Millisecond))
	death.Event.OOMKilled = true
	core.Handle(death, now)
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	var alerts int
	for _, n := range rec.out {
		if n.Incident != nil {
			alerts = n.Incident.Alerts
		}
	}
	if alerts != 5 {
		t.Errorf("5 deaths, the last one OOM, revealing the loop: the incident counts %d alerts", alerts)
	}
}

// A reconciled death found again by a second look (a restart before the
// next cursor was committed) is no second alert: groups, crash loops and
// incidents count it once.
func TestAReconciledDeathFoundTwiceCountsOnce(t *testing.T) {
	core, rec := newCore(t, 10*time.Second)
	t0 := time.Unix(1_700_000_000, 0)
	death := die("c1", 3, t0)
	death.Event.Reconciled = true
	core.Handle(death, t0)
	core.Handle(death, t0.Add(time.Second))
	core.Handle(die("c1", 2, t0.Add(2*time.Second)), t0.Add(2*time.Second))
	core.Tick(t0.Add(time.Minute))
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	for _, n := range rec.out {
		if n.Incident != nil && n.Incident.Alerts > 2 {
			t.Errorf("two deaths counted %d times: %s", n.Incident.Alerts, n.ID)
		}
		if n.Group != nil && n.Group.Count > 2 {
			t.Errorf("two deaths make a group of %d: %s", n.Group.Count, n.ID)
		}
	}
}

// The count a stopped container's next start has (a die hands it on) is
// kept by the checkpoint until it starts again, as the running set keeps a
// running one's: a gap after it is measured against it. It is no part of
// the death's notification.
func TestTheCheckpointKeepsAStoppedContainersRestartCount(t *testing.T) {
	rec := &snapRecorder{}
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	cfg := alert.Config{Rules: engine, ResolveAfter: time.Minute}
	core := alert.New(cfg, rec, noMutes{}, quiet(), metrics.New())
	t0 := time.Unix(1_700_000_000, 0)
	crash := die("c1", 1, t0)
	four := 4
	crash.Event.Restarts = &four
	core.Handle(crash, t0)
	core.Tick(t0.Add(time.Minute))
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	for _, n := range rec.out {
		if n.Event.Restarts != nil {
			t.Errorf("the checkpoint's count in a notification: %+v", n.Event)
		}
	}
	restored := alert.New(cfg, rec, noMutes{}, quiet(), metrics.New())
	if err := restored.Restore(state.Snapshot{Cursors: rec.snaps[0].Cursors, Core: rec.snaps[0].Core}); err != nil {
		t.Fatal(err)
	}
	if got := restored.Resumes()["h"].Stopped; got["c1"] != 4 {
		t.Fatalf("restored stopped counts %v, want c1: 4", got)
	}
	restored.Handle(event.Item{Event: event.Event{Host: "h", Type: event.ContainerType, Action: "start", ActorID: "c1", Name: "web-c1",
		Time: t0.Add(time.Second), TimeNano: t0.Add(time.Second).UnixNano(), Restarts: &four}}, t0)
	if got := restored.Resumes()["h"].Stopped; len(got) != 0 {
		t.Errorf("started again, still kept as stopped: %v", got)
	}
}

// Two looks at one gap can name one reconciled death differently: at its
// state's end, or, once a later end overwrote the state, just before the
// start that followed it. Both name that start (event.EndedBefore): the
// second is a repeat, which no group, loop or incident counts again.
func TestAReconciledDeathNamedTwoWaysCountsOnce(t *testing.T) {
	core, rec := newCore(t, 0)
	t0 := time.Unix(1_700_000_000, 0)
	byState := die("c1", -1, t0)
	byState.Event.Reconciled = true
	byState.Event.Attributes = map[string]string{event.RunningAgain: "true", "whalewatch.restarted": "1",
		event.EndedBefore: strconv.FormatInt(t0.Add(10*time.Second).UnixNano(), 10)}
	core.Handle(byState, t0.Add(time.Minute))
	unseen := die("c1", -1, t0.Add(10*time.Second-1))
	unseen.Event.Reconciled = true
	unseen.Event.Attributes = map[string]string{"whalewatch.unseen": "true",
		event.EndedBefore: strconv.FormatInt(t0.Add(10*time.Second+200*time.Millisecond).UnixNano(), 10)}
	core.Handle(unseen, t0.Add(2*time.Minute))
	other := die("c1", -1, t0.Add(time.Minute))
	other.Event.Reconciled = true
	other.Event.Attributes = map[string]string{event.EndedBefore: strconv.FormatInt(t0.Add(61*time.Second).UnixNano(), 10)}
	core.Handle(other, t0.Add(3*time.Minute))
	core.Tick(t0.Add(time.Hour))
	deaths := 0
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	for _, n := range rec.out {
		if n.Event.Action == "die" && n.Rule == "CRASHED" {
			deaths++
		}
	}
	if deaths != 2 {
		t.Errorf("%d CRASHED notifications, want 2 (one death named two ways, and a later one)", deaths)
	}
}

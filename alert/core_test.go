package alert_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/alert"
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

// recorder is an Outbox that keeps what was committed.
type recorder struct{ out []notify.Notification }

func (r *recorder) Commit(out []notify.Outgoing, _ state.Snapshot) error {
	for _, o := range out {
		r.out = append(r.out, o.N)
	}
	return nil
}

type noMutes struct{}

func (noMutes) Mutes(time.Time) (map[string]time.Time, error) { return nil, nil }
func (noMutes) MuteGeneration() int64                         { return 0 }

func newCore(t *testing.T, window time.Duration) (*alert.Core, *recorder) {
	t.Helper()
	specs := rules.Defaults()
	for i := range specs {
		specs[i].GroupWindow = window
	}
	engine, err := rules.Compile(specs)
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	cfg := alert.Config{Rules: engine, ShownLabels: []string{notify.ComposeProject},
		CrashLoopDeaths: 5, CrashLoopWindow: 10 * time.Minute, CrashLoopQuiet: 5 * time.Minute, ResolveAfter: time.Minute}
	return alert.New(cfg, rec, noMutes{}, quiet(), metrics.New()), rec
}

func die(id string, code int, at time.Time) event.Item {
	return event.Item{Event: event.Event{Host: "h", Type: event.ContainerType, Action: "die", ActorID: id, Name: "web-" + id,
		ExitCode: code, Time: at, TimeNano: at.UnixNano(), Labels: map[string]string{notify.ComposeProject: "shop"}}}
}

// A restart-always container dying at Docker's restart backoff for a
// minute, then removed: the first crash, the loop (which absorbs the deaths
// a group still held), edits of that message, and its end — three messages
// in the channel.
func TestCrashLoopIsThreeMessages(t *testing.T) {
	core, rec := newCore(t, 10*time.Second)
	t0 := time.Unix(1_700_000_000, 0)
	now := t0
	backoff := 100 * time.Millisecond
	var deaths int
	for now.Sub(t0) < 75*time.Second {
		core.Handle(die("c1", 1, now), now)
		deaths++
		core.Tick(now)
		now = now.Add(backoff)
		backoff = min(2*backoff, 10*time.Second)
	}
	core.Handle(event.Item{Event: event.Event{Host: "h", Type: event.ContainerType, Action: "destroy", ActorID: "c1", Name: "web-c1", TimeNano: now.UnixNano()}}, now)
	core.Tick(now.Add(time.Hour))
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	var inChannel, edits []string
	covered := 1 // the first crash
	for _, n := range rec.out {
		if n.Group != nil && n.Group.Seq > 1 && !n.Group.Final {
			edits = append(edits, n.Summary())
		} else {
			inChannel = append(inChannel, fmt.Sprintf("%s seq %d: %s", n.Rule, n.Group.Seq, n.Summary()))
		}
		if n.Rule == alert.CrashLoopRule {
			covered += len(n.Group.Covers)
		}
	}
	if len(inChannel) != 3 || len(edits) == 0 {
		t.Errorf("%d messages in the channel (want 3: crash, loop, end), %d edits:\n%v", len(inChannel), len(edits), inChannel)
	}
	if covered != deaths {
		t.Errorf("the messages account for %d of %d deaths", covered, deaths)
	}
}

// A deploy storm of one compose project is one message, then one update
// per window that names every new death.
func TestStormIsOneMessageUpdatedInPlace(t *testing.T) {
	core, rec := newCore(t, 10*time.Second)
	t0 := time.Unix(1_700_000_000, 0)
	for i := range 50 {
		at := t0.Add(time.Duration(i) * 100 * time.Millisecond)
		core.Handle(die(fmt.Sprint("s", i), 1, at), at)
	}
	core.Tick(t0.Add(11 * time.Second))
	core.Tick(t0.Add(30 * time.Second))
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if len(rec.out) != 2 || rec.out[0].Group.Key != rec.out[1].Group.Key || len(rec.out[1].Group.Covers) != 49 {
		t.Fatalf("storm: %d messages: %+v", len(rec.out), rec.out)
	}
}

// The container label whalewatch.mute=true silences it.
func TestMuteLabel(t *testing.T) {
	core, rec := newCore(t, 0)
	now := time.Now()
	it := die("m", 1, now)
	it.Event.Labels[alert.MuteLabel] = "true"
	core.Handle(it, now)
	core.Handle(die("loud", 1, now), now) // the sentinel
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if len(rec.out) != 1 || rec.out[0].Event.Name != "web-loud" {
		t.Errorf("sent %+v", rec.out)
	}
}

// recorderTo keeps the routing too.
type recorderTo struct{ out []notify.Outgoing }

func (r *recorderTo) Commit(out []notify.Outgoing, _ state.Snapshot) error {
	r.out = append(r.out, out...)
	return nil
}

func labelled(id string, labels map[string]string, at time.Time) event.Item {
	it := die(id, 1, at)
	it.Event.Labels = labels
	return it
}

// Opt-in mode ignores containers without whalewatch.enable=true; the
// notify label routes to known destinations only; the owner label is
// mentioned only when it is a Slack ID.
func TestContainerLabelsSteerAlerts(t *testing.T) {
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorderTo{}
	core := alert.New(alert.Config{Rules: engine, OptIn: true, Destinations: []string{"slack", "ops"}}, rec, noMutes{}, quiet(), metrics.New())
	now := time.Unix(1_700_000_000, 0)
	core.Handle(labelled("plain", nil, now), now)
	core.Handle(labelled("off", map[string]string{alert.EnableLabel: "false"}, now), now)
	core.Handle(labelled("routed", map[string]string{alert.EnableLabel: "true", alert.NotifyLabel: "OPS, nowhere", alert.OwnerLabel: "S0123ABC"}, now), now)
	core.Handle(labelled("spoof", map[string]string{alert.EnableLabel: "true", alert.NotifyLabel: "nowhere", alert.OwnerLabel: "<!channel>"}, now), now)
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if len(rec.out) != 2 {
		t.Fatalf("got %d alerts, want the two opted-in containers': %+v", len(rec.out), rec.out)
	}
	routed, spoof := rec.out[0], rec.out[1]
	if routed.N.Event.ActorID != "routed" || fmt.Sprint(routed.To) != "[ops]" || routed.N.Owner != "S0123ABC" {
		t.Errorf("routed: to %v, owner %q", routed.To, routed.N.Owner)
	}
	if spoof.To != nil || spoof.N.Owner != "" {
		t.Errorf("a label naming no known destination or no ID steered the alert: to %v, owner %q", spoof.To, spoof.N.Owner)
	}
}

// An incident: the first crash opens it, the next joins it, a restart that
// stays up for ResolveAfter resolves it, in one message with the same id;
// a removed container's incident resolves at once.
func TestIncidentOpensUpdatesAndResolves(t *testing.T) {
	core, rec := newCore(t, 0)
	now := time.Unix(1_700_000_000, 0)
	start := func(id string, at time.Time) event.Item {
		it := die(id, -1, at)
		it.Event.Action = "start"
		return it
	}
	core.Handle(die("c1", 3, now), now)
	core.Handle(start("c1", now.Add(time.Second)), now.Add(time.Second))
	core.Handle(die("c1", 3, now.Add(2*time.Second)), now.Add(2*time.Second))
	core.Handle(start("c1", now.Add(3*time.Second)), now.Add(3*time.Second))
	core.Tick(now.Add(30 * time.Second)) // not yet
	core.Tick(now.Add(63 * time.Second))
	core.Handle(die("c2", 1, now.Add(64*time.Second)), now.Add(64*time.Second))
	destroy := die("c2", -1, now.Add(65*time.Second))
	destroy.Event.Action = "destroy"
	core.Handle(destroy, now.Add(65*time.Second))
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, n := range rec.out {
		got = append(got, fmt.Sprintf("%s %s %d/%d", n.Event.ActorID, n.Incident.Status, n.Incident.Seq, n.Incident.Alerts))
	}
	want := "[c1 firing 1/1 c1 firing 2/2 c1 resolved 3/2 c2 firing 1/1 c2 resolved 2/1]"
	if fmt.Sprint(got) != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	if rec.out[0].Incident.ID != rec.out[2].Incident.ID || rec.out[2].Rule != alert.ResolvedRule {
		t.Errorf("the resolution is not the same incident: %+v", rec.out[2])
	}
}

// snapRecorder keeps what was committed, checkpoints too.
type snapRecorder struct {
	out   []notify.Notification
	snaps []state.Snapshot
}

func (r *snapRecorder) Commit(out []notify.Outgoing, snap state.Snapshot) error {
	for _, o := range out {
		r.out = append(r.out, o.N)
	}
	r.snaps = append(r.snaps, snap)
	return nil
}

// A checkpoint of state format 2 (the core's state in one piece) is read,
// and replaced by entries at the next commit.
func TestRestoresTheOnePieceState(t *testing.T) {
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	rec := &snapRecorder{}
	core := alert.New(alert.Config{Rules: engine, ResolveAfter: time.Minute}, rec, noMutes{}, quiet(), metrics.New())
	legacy := `{"version":1,"groups":{"groups":{},"cooldowns":{},"suppressed":{}},"crash_loops":{"deaths":{},"loops":{}},
		"incidents":{"open":{"h|c1":{"info":{"id":"inc_1","status":"firing","seq":1,"alerts":1},"last":{"host":"h","type":"container","action":"die","actor_id":"c1","name":"web-c1","exit_code":3}}}}}`
	if err := core.Restore(state.Snapshot{Core: map[string][]byte{"state": []byte(legacy)}}); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	destroy := die("c1", -1, now)
	destroy.Event.Action = "destroy"
	core.Handle(destroy, now)
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if len(rec.out) != 1 || rec.out[0].Incident == nil || rec.out[0].Incident.ID != "inc_1" || rec.out[0].Incident.Status != notify.Resolved {
		t.Fatalf("the restored incident did not resolve: %+v", rec.out)
	}
	snap := rec.snaps[0]
	if data, ok := snap.Core["state"]; !ok || data != nil {
		t.Errorf("the one-piece state is not deleted: %q", data)
	}
	if data, ok := snap.Core["incident/h|c1"]; !ok || data != nil {
		t.Errorf("the resolved incident is not deleted: %q", data)
	}
}

// A crash loop's later messages (its progress and its end, sent by the
// timer) go where the container's whalewatch.notify label says, as its
// first one does.
func TestCrashLoopMessagesFollowTheNotifyLabel(t *testing.T) {
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorderTo{}
	core := alert.New(alert.Config{Rules: engine, Destinations: []string{"slack", "ops"},
		CrashLoopDeaths: 3, CrashLoopWindow: time.Minute, CrashLoopQuiet: 5 * time.Minute}, rec, noMutes{}, quiet(), metrics.New())
	now := time.Unix(1_700_000_000, 0)
	for i := range 5 {
		at := now.Add(time.Duration(i) * time.Second)
		core.Handle(labelled("loop", map[string]string{alert.NotifyLabel: "ops"}, at), at)
	}
	core.Tick(now.Add(2 * time.Minute))  // progress
	core.Tick(now.Add(10 * time.Minute)) // recovered
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	loops := 0
	for _, o := range rec.out {
		if o.N.Rule == alert.CrashLoopRule {
			loops++
			if fmt.Sprint(o.To) != "[ops]" {
				t.Errorf("%s (seq %d) went to %v, want [ops]", o.N.Summary(), o.N.Group.Seq, o.To)
			}
		}
	}
	if loops != 3 {
		t.Errorf("%d crash-loop messages, want the start, one update and the end", loops)
	}
}

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
		CrashLoopDeaths: 5, CrashLoopWindow: 10 * time.Minute, CrashLoopQuiet: 5 * time.Minute}
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

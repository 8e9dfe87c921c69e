package notify

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

func death(name, project string, code int, nano int64) Notification {
	return New("CRASHED", "", event.Event{Type: "container", Action: "die", Name: name, ActorID: "id-" + name, Host: "h",
		ExitCode: code, TimeNano: nano, Labels: map[string]string{composeProject: project}}, []string{composeProject})
}

func TestGrouperSendsFirstAtOnceThenOneUpdatePerWindow(t *testing.T) {
	g := NewGrouper(map[string]RuleOptions{"CRASHED": {GroupWindow: 10 * time.Second}})
	t0 := time.Unix(1000, 0)
	out := g.Add(Outgoing{N: death("web-0", "shop", 3, 1)}, t0)
	if len(out) != 1 || out[0].N.Group == nil || out[0].N.Group.Seq != 1 {
		t.Fatalf("first: %+v", out)
	}
	key := out[0].N.Group.Key
	for i := 1; i <= 11; i++ {
		if out := g.Add(Outgoing{N: death(fmt.Sprintf("web-%d", i), "shop", 3, int64(i+1))}, t0.Add(time.Second)); len(out) != 0 {
			t.Fatalf("member %d sent at once", i)
		}
	}
	if other := g.Add(Outgoing{N: death("api", "billing", 1, 50)}, t0.Add(time.Second)); len(other) != 1 {
		t.Error("another project joined the shop group")
	}
	if g.OldestPending("h") != 2 {
		t.Errorf("oldest pending = %d, want 2", g.OldestPending("h"))
	}
	if out := g.Tick(t0.Add(9 * time.Second)); len(out) != 0 {
		t.Errorf("sent before the window closed: %+v", out)
	}
	out = g.Tick(t0.Add(10 * time.Second))
	var upd Notification
	for _, o := range out {
		if o.N.Group.Key == key {
			upd = o.N
		}
	}
	if upd.Group == nil || upd.Group.Seq != 2 || upd.Group.Count != 12 || len(upd.Group.New) != 11 {
		t.Fatalf("update: %+v", upd.Group)
	}
	if !strings.HasPrefix(upd.Text, "CRASHED: 11 more matches of compose project shop on h (12 in all): web-1 (exit 3), web-2 (exit 3)") {
		t.Errorf("text = %s", upd.Text)
	}
	if g.OldestPending("h") != 0 {
		t.Error("still pending after the update")
	}
	// A quiet window ends the group; the next match starts a new one.
	g.Tick(t0.Add(21 * time.Second))
	if out := g.Add(Outgoing{N: death("web-99", "shop", 3, 99)}, t0.Add(22*time.Second)); len(out) != 1 || out[0].N.Group.Key == key {
		t.Errorf("after a quiet window: %+v", out)
	}
}

func TestGrouperCooldown(t *testing.T) {
	g := NewGrouper(map[string]RuleOptions{"CRASHED": {Cooldown: time.Minute}})
	t0 := time.Unix(1000, 0)
	if len(g.Add(Outgoing{N: death("web", "", 1, 1)}, t0)) != 1 {
		t.Fatal("first not sent")
	}
	for i := range 3 {
		if len(g.Add(Outgoing{N: death("web", "", 1, int64(i+2))}, t0.Add(time.Duration(i+1)*time.Second))) != 0 {
			t.Error("sent during the cooldown")
		}
	}
	out := g.Add(Outgoing{N: death("web", "", 1, 9)}, t0.Add(2*time.Minute))
	if len(out) != 1 || !strings.Contains(out[0].N.Text, "and 3 more times during the cooldown") {
		t.Errorf("after the cooldown: %+v", out)
	}
}

func TestCrashLoops(t *testing.T) {
	c := NewCrashLoops(3, time.Minute, 2*time.Minute)
	t0 := time.Unix(1000, 0)
	die := func(i int) event.Event {
		return event.Event{Type: "container", Action: "die", Name: "api", ActorID: "c1", Host: "h", ExitCode: 2}
	}
	for i := range 2 {
		if held, out := c.Observe(die(i), t0.Add(time.Duration(i)*time.Second)); held || len(out) > 0 {
			t.Fatalf("death %d: held=%v out=%v", i, held, out)
		}
	}
	held, out := c.Observe(die(2), t0.Add(2*time.Second))
	if !held || len(out) != 1 || out[0].Rule != CrashLoopRule || out[0].Group.Seq != 1 || !strings.Contains(out[0].Summary(), "crash loop: 3 deaths") {
		t.Fatalf("loop start: held=%v %+v", held, out)
	}
	for i := 3; i < 10; i++ {
		if held, out := c.Observe(die(i), t0.Add(time.Duration(i)*time.Second)); !held || len(out) > 0 {
			t.Fatalf("death %d in the loop: held=%v out=%v", i, held, out)
		}
	}
	if upd := c.Tick(t0.Add(70 * time.Second)); len(upd) != 1 || !strings.Contains(upd[0].Summary(), "still in a crash loop: 10 deaths") || upd[0].Group.Seq != 2 {
		t.Errorf("update: %+v", upd)
	}
	if rec := c.Tick(t0.Add(200 * time.Second)); len(rec) != 1 || !strings.Contains(rec[0].Summary(), "recovered") || rec[0].Group.Seq != 3 {
		t.Errorf("recovery: %+v", rec)
	}
	if held, _ := c.Observe(event.Event{Type: "container", Action: "die", ActorID: "c2", Intentional: true, ExitCode: 137}, t0); held {
		t.Error("a docker stop counted as a crash")
	}
}

package events

import (
	"os"
	"testing"

	mobyevents "github.com/moby/moby/api/types/events"

	"github.com/whalewatch/whalewatch/event"
)

func fixture(t *testing.T, name string) []mobyevents.Message {
	t.Helper()
	f, err := os.Open("../testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msgs, err := ReadJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestFromMessage(t *testing.T) {
	msgs := fixture(t, "docker-20.10-events.jsonl")
	byAction := map[string]event.Event{}
	for _, m := range msgs {
		ev := FromMessage("h1", m)
		byAction[string(m.Action)] = ev
	}
	die := byAction["die"]
	if die.ExitCode != 137 || die.Name != "web-1" || die.Image != "local/busybox" || die.Host != "h1" {
		t.Errorf("die = %+v", die)
	}
	if die.Labels["com.docker.compose.project"] != "shop" {
		t.Errorf("compose label missing: %v", die.Labels)
	}
	for _, k := range []string{"name", "image", "exitCode"} {
		if _, ok := die.Labels[k]; ok {
			t.Errorf("attribute %q counted as a label", k)
		}
	}
	health := byAction["health_status: unhealthy"]
	if health.Action != "health_status" || health.Status != "unhealthy" {
		t.Errorf("health = %q / %q", health.Action, health.Status)
	}
	exec := byAction["exec_start: /bin/sh -c false"]
	if exec.Action != "exec_start" || exec.Status != "/bin/sh -c false" {
		t.Errorf("exec = %q / %q", exec.Action, exec.Status)
	}
	if start := byAction["start"]; start.ExitCode != -1 {
		t.Errorf("start has exit code %d, want -1", start.ExitCode)
	}
	vol := byAction["create"]
	if vol.Time.IsZero() || vol.TimeNano == 0 {
		t.Errorf("time not set: %+v", vol)
	}
	network := FromMessage("h1", mobyevents.Message{Type: "network", Action: "connect", Actor: mobyevents.Actor{ID: "n1", Attributes: map[string]string{"container": "c1", "name": "bridge"}}})
	if network.Labels != nil {
		t.Errorf("labels on a network event: %v", network.Labels)
	}
	noNano := FromMessage("h1", mobyevents.Message{Type: "container", Action: "start", Time: 1700000000})
	if noNano.TimeNano != 1700000000_000000000 {
		t.Errorf("TimeNano from Time = %d", noNano.TimeNano)
	}
}

func TestReplayAnnotatesDies(t *testing.T) {
	evs := Replay("h1", fixture(t, "docker-20.10-events.jsonl"))
	type death struct {
		intentional, oom bool
	}
	got := map[string][]death{}
	for _, ev := range evs {
		if ev.Action == "die" {
			got[ev.Name] = append(got[ev.Name], death{ev.Intentional, ev.OOMKilled})
		}
	}
	want := map[string][]death{
		"crash-1": {{false, false}},               // killed from inside: a crash
		"oom-1":   {{false, true}},                // oom event just before
		"web-1":   {{true, false}, {true, false}}, // docker stop, docker kill
	}
	for name, w := range want {
		if len(got[name]) != len(w) {
			t.Fatalf("%s: deaths %v, want %v", name, got[name], w)
		}
		for i := range w {
			if got[name][i] != w[i] {
				t.Errorf("%s death %d: %+v, want %+v", name, i, got[name][i], w[i])
			}
		}
	}
}

func TestReplayDropsDuplicates(t *testing.T) {
	msgs := fixture(t, "docker-20.10-events.jsonl")
	doubled := append(append([]mobyevents.Message{}, msgs...), msgs[10:20]...)
	if a, b := len(Replay("h", msgs)), len(Replay("h", doubled)); a != b {
		t.Errorf("replayed overlap not dropped: %d events, then %d", a, b)
	}
}

func TestFormatSince(t *testing.T) {
	if got := formatSince(1795601537741382096); got != "1795601537.741382096" {
		t.Errorf("formatSince = %s", got)
	}
	if got := formatSince(1795601537000000005); got != "1795601537.000000005" {
		t.Errorf("formatSince = %s", got)
	}
}

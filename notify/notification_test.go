package notify

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/whalewatch/whalewatch/event"
)

func TestDefaultSummary(t *testing.T) {
	for _, tc := range []struct {
		ev   event.Event
		want string
	}{
		{event.Event{Type: "container", Action: "die", Name: "web-1", ExitCode: 3}, "container web-1 died: exit code 3 (application error)"},
		{event.Event{Type: "container", Action: "die", Name: "db", ExitCode: 137, OOMKilled: true}, "container db died: killed for running out of memory"},
		{event.Event{Type: "container", Action: "die", Name: "db", ExitCode: 2, Reconciled: true}, "container db died: exit code 2 (misuse of shell built-in or bad arguments) — found on reconnect, the event stream was down"},
		{event.Event{Type: "container", Action: "die", Name: "gone", ExitCode: -1, Reconciled: true, Attributes: map[string]string{"whalewatch.removed": "true"}}, "container gone died and was removed; exit code unknown — found on reconnect, the event stream was down"},
		{event.Event{Type: "container", Action: "oom", Name: "db"}, "container db ran out of memory (OOM kill)"},
		{event.Event{Type: "container", Action: "health_status", Status: "unhealthy", Name: "api"}, "container api is unhealthy"},
		{event.Event{Type: "image", Action: "pull", ActorID: "0123456789abcdef0123"}, "image 0123456789ab: pull"},
		{event.Event{Type: "whalewatch", Action: "stream_restored", Host: "h", Attributes: map[string]string{"down_for": "12s"}}, "Docker event stream of h restored after 12s; containers that died meanwhile are reported"},
		{event.Event{Type: "whalewatch", Action: "events_dropped", Host: "h", Attributes: map[string]string{"count": "5"}}, "5 Docker events from h were dropped: whalewatch's event queue was full"},
	} {
		if got := DefaultSummary(tc.ev); got != tc.want {
			t.Errorf("got  %q\nwant %q", got, tc.want)
		}
	}
}

func TestNewRedactsLabelsAndKeepsIDStable(t *testing.T) {
	ev := event.Event{Type: "container", Action: "die", Name: "web", Host: "h", TimeNano: 1, ActorID: "c1", ExitCode: 1,
		Attributes: map[string]string{"name": "web", "exitCode": "1", "traefik.http.middlewares.auth.basicauth.users": "admin:$apr1$secret", "com.docker.compose.project": "shop"},
		Labels:     map[string]string{"traefik.http.middlewares.auth.basicauth.users": "admin:$apr1$secret", "com.docker.compose.project": "shop"},
	}
	n := New("CRASHED", "", ev, []string{"com.docker.compose.project", "absent"})
	if strings.Contains(strings.Join(flat(n.Event.Labels), " ")+strings.Join(flat(n.Event.Attributes), " "), "secret") {
		t.Errorf("a label outside the allowlist survived: %v %v", n.Event.Labels, n.Event.Attributes)
	}
	if n.Event.Labels["com.docker.compose.project"] != "shop" || n.Event.Attributes["exitCode"] != "1" {
		t.Errorf("redacted too much: %v %v", n.Event.Labels, n.Event.Attributes)
	}
	if ev.Labels["traefik.http.middlewares.auth.basicauth.users"] == "" {
		t.Error("New changed the caller's event")
	}
	if again := New("CRASHED", "", ev, nil); again.ID != n.ID || !strings.HasPrefix(n.ID, "msg_") {
		t.Errorf("ID not stable: %s vs %s", n.ID, again.ID)
	}
	if other := New("OTHER", "", ev, nil); other.ID == n.ID {
		t.Error("two rules share an ID")
	}
	fields := n.Fields()
	var names []string
	for _, f := range fields {
		names = append(names, f.Name+"="+f.Value)
	}
	if got := strings.Join(names, "; "); got != "Container=web; Exit code=1 — application error; Host=h; Compose=shop" {
		t.Errorf("fields = %s", got)
	}
}

func flat(m map[string]string) []string {
	var out []string
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	return out
}

func TestRetryableStatus(t *testing.T) {
	for code, want := range map[int]bool{200: false, 400: false, 401: false, 404: false, 408: true, 410: false, 429: true, 500: true, 502: true, 503: true} {
		if RetryableStatus(code) != want {
			t.Errorf("RetryableStatus(%d) = %v", code, !want)
		}
	}
}

// An outbox entry of state format 1 (no JSON tags) is read with every field.
func TestUpgradeFormat1(t *testing.T) {
	old := `{"ID":"msg_1","Rule":"CRASHED","Event":{"Host":"h","Type":"container","Action":"die","ActorID":"abc",` +
		`"ExitCode":3,"TimeNano":42,"OOMKilled":true,"Labels":{"ExitCode":"label"}},"Text":"","Actions":null,"Group":{"Key":"g","Seq":2,"Count":3,"New":["web"]}}`
	data, err := UpgradeFormat1([]byte(old))
	if err != nil {
		t.Fatal(err)
	}
	var n Notification
	if err := json.Unmarshal(data, &n); err != nil {
		t.Fatal(err)
	}
	if n.ID != "msg_1" || n.Event.ActorID != "abc" || n.Event.ExitCode != 3 || n.Event.TimeNano != 42 || !n.Event.OOMKilled ||
		n.Event.Labels["ExitCode"] != "label" || n.Group == nil || n.Group.Seq != 2 {
		t.Errorf("upgraded: %+v", n)
	}
	if _, err := UpgradeFormat1([]byte(`{"rule":"x"}`)); err == nil {
		t.Error("an entry without an id was accepted")
	}
}

// An outbox entry written before offers carried the buttons minted
// ("actions"): it is still read, without them (nothing to offer: it is
// posted without buttons, and its tokens expire unused).
func TestAnEntryWithMintedActionsIsStillRead(t *testing.T) {
	old := `{"id":"msg_1","rule":"CRASHED","event":{"type":"container","action":"die","name":"web"},` +
		`"actions":[{"id":"whalewatch_ack","label":"Acknowledge","value":"0123"}]}`
	var n Notification
	if err := json.Unmarshal([]byte(old), &n); err != nil || n.ID != "msg_1" || n.Event.Name != "web" || n.Offer != nil {
		t.Fatalf("read %+v, %v", n, err)
	}
}

package alertmanager_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/internal/testalertmanager"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/alertmanager"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func crash(name string) notify.Notification {
	ev := event.Event{Host: "web1", Type: "container", Action: "die", Name: name, ActorID: "abc" + name, ExitCode: 3,
		Time:   time.Now().UTC().Add(-time.Minute).Truncate(time.Millisecond),
		Labels: map[string]string{notify.ComposeProject: "shop", "com.docker.compose.service": "api"}}
	n := notify.New("CRASHED", "", ev, []string{notify.ComposeProject, "com.docker.compose.service"})
	n.Incident = &notify.Incident{ID: "inc_" + name, Status: notify.Firing, Seq: 1, Alerts: 1, OpenedAt: ev.Time}
	n.Link = "https://logs.example/" + name
	return n
}

// resolution is what alert.Core sends: another rule, no labels shown.
func resolution(n notify.Notification) notify.Notification {
	r := notify.New("RESOLVED", "Resolved: container "+n.Event.Name+" ran again", n.Event, nil)
	inc := *n.Incident
	inc.Status, inc.Seq, inc.ResolvedAt = notify.Resolved, inc.Seq+1, time.Now().UTC()
	r.Incident = &inc
	return r
}

func openStore(t *testing.T, dir string) *state.Store {
	t.Helper()
	s, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestLabelsAreTheDaemonsTruth(t *testing.T) {
	n := crash("api-1")
	a := alertmanager.NewAlert(n, nil)
	want := map[string]string{"alertname": "CRASHED", "host": "web1", "container": "api-1", "compose_project": "shop",
		"compose_service": "api", "severity": "critical", "incident": "inc_api-1"}
	if len(a.Labels) != len(want) {
		t.Errorf("labels %v, want %v", a.Labels, want)
	}
	for k, v := range want {
		if a.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, a.Labels[k], v)
		}
	}
	if a.GeneratorURL != n.Link || a.Annotations["summary"] == "" || !strings.Contains(a.Annotations["description"], "Exit code: 3") {
		t.Errorf("alert: %+v", a)
	}
	if !a.StartsAt.Equal(n.Incident.OpenedAt) || !a.EndsAt.IsZero() {
		t.Errorf("times: %v %v", a.StartsAt, a.EndsAt)
	}
	if r := alertmanager.NewAlert(resolution(n), nil); r.EndsAt.IsZero() {
		t.Error("a resolution has no endsAt")
	}
	n.Rule = "UNHEALTHY"
	if s := alertmanager.NewAlert(n, nil).Labels["severity"]; s != "warning" {
		t.Errorf("UNHEALTHY: %s", s)
	}
	n.Link = "not a url"
	if g := alertmanager.NewAlert(n, nil).GeneratorURL; g != "" {
		t.Errorf("generatorURL %q from a link that is no URL", g)
	}
}

// counting is an Alertmanager stand-in that records posts.
type counting struct {
	*httptest.Server
	mu     sync.Mutex
	posts  [][]alertmanager.Alert
	status int
}

func newCounting(t *testing.T, status int) *counting {
	c := &counting{status: status}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var alerts []alertmanager.Alert
		_ = json.NewDecoder(r.Body).Decode(&alerts)
		c.mu.Lock()
		defer c.mu.Unlock()
		if r.URL.Path != "/api/v2/alerts" {
			w.WriteHeader(404)
			return
		}
		c.posts = append(c.posts, alerts)
		w.WriteHeader(c.status)
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *counting) got() [][]alertmanager.Alert {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]alertmanager.Alert(nil), c.posts...)
}

func TestClusterMembers(t *testing.T) {
	ctx := context.Background()
	up, down := newCounting(t, 200), newCounting(t, 503)
	store := openStore(t, t.TempDir())
	defer store.Close()
	// One member took it: delivered (it gossips to the rest).
	am := alertmanager.New(alertmanager.Config{Name: "am", URLs: []string{down.URL, up.URL + "/"}}, http.DefaultClient, store, quiet)
	if retry, err := am.Notify(ctx, crash("a")); err != nil || retry {
		t.Fatalf("one member up: retry=%v err=%v", retry, err)
	}
	if len(up.got()) != 1 || len(down.got()) != 1 {
		t.Errorf("posts: up %d, down %d; want one to each", len(up.got()), len(down.got()))
	}
	// None did: retried when a member's failure is worth it.
	am = alertmanager.New(alertmanager.Config{Name: "am2", URLs: []string{down.URL}}, http.DefaultClient, store, quiet)
	if retry, err := am.Notify(ctx, crash("b")); err == nil || !retry {
		t.Errorf("all down: retry=%v err=%v", retry, err)
	}
	bad := newCounting(t, 400)
	am = alertmanager.New(alertmanager.Config{Name: "am3", URLs: []string{bad.URL}}, http.DefaultClient, store, quiet)
	if retry, err := am.Notify(ctx, crash("c")); err == nil || retry {
		t.Errorf("400: retry=%v err=%v", retry, err)
	}
}

// Open incidents are re-sent from the state file, also by the next run;
// a resolution keeps the first alert's labels and ends the re-sends.
func TestResendSurvivesARestart(t *testing.T) {
	ctx := context.Background()
	srv := newCounting(t, 200)
	dir := t.TempDir()
	store := openStore(t, dir)
	am := alertmanager.New(alertmanager.Config{Name: "am", URLs: []string{srv.URL}}, http.DefaultClient, store, quiet)
	a, b := crash("a"), crash("b")
	for _, n := range []notify.Notification{a, b} {
		if _, err := am.Notify(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	store.Close()

	store = openStore(t, dir) // the next run
	defer store.Close()
	am = alertmanager.New(alertmanager.Config{Name: "am", URLs: []string{srv.URL}}, http.DefaultClient, store, quiet)
	am.ResendOpen(ctx)
	if got := srv.got(); len(got) != 4 {
		t.Fatalf("%d posts, want 2 + 2 re-sent", len(got))
	}
	if _, err := am.Notify(ctx, resolution(a)); err != nil {
		t.Fatal(err)
	}
	posts := srv.got()
	res := posts[len(posts)-1][0]
	if res.EndsAt.IsZero() || res.Labels["alertname"] != "CRASHED" || res.Labels["compose_project"] != "shop" ||
		!res.StartsAt.Equal(a.Incident.OpenedAt) {
		t.Errorf("the resolution is not the same alert: %+v", res)
	}
	am.ResendOpen(ctx)
	posts = srv.got()
	last := posts[len(posts)-1]
	if len(posts) != 6 || last[0].Labels["incident"] != "inc_b" || !last[0].EndsAt.IsZero() {
		t.Errorf("after the resolution, re-sent: %+v", last)
	}
}

// Against a real Alertmanager: a crash is an active alert with the
// labels, the receiver is notified once, the resolution resolves it.
func TestRealAlertmanager(t *testing.T) {
	recv := testalertmanager.NewReceiver(t)
	ams := testalertmanager.Start(t, 1, testalertmanager.Options{Receiver: recv.URL})
	store := openStore(t, t.TempDir())
	defer store.Close()
	am := alertmanager.New(alertmanager.Config{Name: "am", URLs: []string{ams[0].URL}}, http.DefaultClient, store, quiet)
	ctx := context.Background()
	n := crash("real")
	if _, err := am.Notify(ctx, n); err != nil {
		t.Fatal(err)
	}
	alerts := ams[0].Alerts(t)
	if len(alerts) != 1 {
		t.Fatalf("alerts: %+v", alerts)
	}
	got := alerts[0]
	for k, v := range map[string]string{"alertname": "CRASHED", "host": "web1", "container": "real", "compose_project": "shop",
		"compose_service": "api", "severity": "critical", "incident": "inc_real"} {
		if got.Labels[k] != v {
			t.Errorf("label %s=%q, want %q", k, got.Labels[k], v)
		}
	}
	if got.GeneratorURL != n.Link || !strings.Contains(got.Annotations["description"], "Exit code") || !got.StartsAt.Equal(n.Incident.OpenedAt) {
		t.Errorf("alert: %+v", got)
	}
	recv.Await(t, "the firing notification", func() bool { return recv.About("incident", "inc_real")["firing"] == 1 })
	am.ResendOpen(ctx) // a re-send is no new notification
	if _, err := am.Notify(ctx, resolution(n)); err != nil {
		t.Fatal(err)
	}
	recv.Await(t, "the resolved notification", func() bool { return recv.About("incident", "inc_real")["resolved"] == 1 })
	if c := recv.About("incident", "inc_real"); c["firing"] != 1 {
		t.Errorf("notifications: %v", c)
	}
	if alerts := ams[0].Alerts(t); len(alerts) != 0 {
		t.Errorf("still active after the resolution: %+v", alerts)
	}
}

// Against a real Alertmanager whose resolve_timeout is 2s: an incident
// that is re-sent stays active; one posted once (the control) resolves by
// timeout. The control going is the sentinel that the timeout passed.
func TestResendKeepsTheAlertActive(t *testing.T) {
	recv := testalertmanager.NewReceiver(t)
	ams := testalertmanager.Start(t, 1, testalertmanager.Options{Receiver: recv.URL, ResolveTimeout: 2 * time.Second})
	store := openStore(t, t.TempDir())
	defer store.Close()
	ctx, cancel := context.WithCancel(context.Background())
	kept := alertmanager.New(alertmanager.Config{Name: "kept", URLs: []string{ams[0].URL}, Resend: 300 * time.Millisecond}, http.DefaultClient, store, quiet)
	once := alertmanager.New(alertmanager.Config{Name: "once", URLs: []string{ams[0].URL}}, http.DefaultClient, store, quiet)
	if _, err := kept.Notify(ctx, crash("kept")); err != nil {
		t.Fatal(err)
	}
	if _, err := once.Notify(ctx, crash("control")); err != nil {
		t.Fatal(err)
	}
	posted := time.Now()
	done := make(chan error, 1)
	go func() { done <- kept.Run(ctx) }()
	defer func() { cancel(); <-done }()
	active := func(name string) bool {
		for _, a := range ams[0].Alerts(t) {
			if a.Labels["container"] == name {
				return true
			}
		}
		return false
	}
	// Alertmanager tells the receiver when the control resolves: each
	// notification is a moment to look.
	recv.Await(t, "the control resolved by Alertmanager's timeout", func() bool { return !active("control") })
	if waited := time.Since(posted); waited < 2*time.Second {
		t.Errorf("the control went after %s, before resolve_timeout", waited)
	}
	if !active("kept") {
		t.Errorf("the re-sent incident was resolved too")
	}
	recv.Await(t, "the control's resolved notification", func() bool { return recv.About("incident", "inc_control")["resolved"] == 1 })
	if got := recv.About("incident", "inc_kept"); got["resolved"] != 0 {
		t.Errorf("the re-sent incident: %v", got)
	}
}

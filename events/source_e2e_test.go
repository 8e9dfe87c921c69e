package events_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"go.uber.org/goleak"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/testdocker"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// watcher runs a Source and records the events of this test's containers.
type watcher struct {
	mu     sync.Mutex
	events []event.Event
	ids    map[string]bool // container IDs of interest; self events always kept
	// resume is where a restart would continue, kept as the alert core
	// keeps its checkpoint: the cursor, the events at it, what runs.
	resume event.Resume
	stop   func() // stops the source and waits for it
	// first is the first event of the stream handed on (not a reconciled
	// one), whoever's: other tests' containers share the daemon.
	first *event.Event
}

// follow moves the resume point as the alert core's checkpoint does.
func (w *watcher) follow(it event.Item) {
	r := &w.resume
	if r.Running == nil {
		r.Running = map[string]event.Container{}
	}
	ev := it.Event
	switch {
	case it.Cursor != 0:
		r.Cursor, r.AtCursor = it.Cursor, nil
	case it.Listed != nil:
		maps.Copy(r.Running, it.Listed)
	case ev.Type == event.SelfType || ev.Reconciled:
	case ev.TimeNano > r.Cursor:
		r.Cursor, r.AtCursor = ev.TimeNano, []string{ev.Key()}
	case ev.TimeNano == r.Cursor:
		r.AtCursor = append(r.AtCursor, ev.Key())
	}
	switch {
	case it.Listed != nil || ev.Type != event.ContainerType:
	case ev.Action == "start":
		r.Running[ev.ActorID] = event.Container{Name: ev.Name, Image: ev.Image, Labels: ev.Labels, Shadowed: ev.Shadowed}
	case ev.Action == "die", ev.Action == "destroy":
		delete(r.Running, ev.ActorID)
	}
}

// resumePoint is where a source started now would continue.
func (w *watcher) resumePoint() map[string]event.Resume {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.resume
	r.AtCursor = slices.Clone(r.AtCursor)
	r.Running = maps.Clone(r.Running)
	return map[string]event.Resume{"test": r}
}

func (w *watcher) track(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ids[id] = true
}

func (w *watcher) matching(pred func(event.Event) bool) []event.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []event.Event
	for _, ev := range w.events {
		if pred(ev) {
			out = append(out, ev)
		}
	}
	return out
}

// waitFor waits until pred matches n events and returns them.
func (w *watcher) waitFor(t *testing.T, what string, n int, timeout time.Duration, pred func(event.Event) bool) []event.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := w.matching(pred)
		if len(got) >= n {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: have %d of %d", what, len(got), n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startSource runs a source on c, tracking the containers ids from the start.
func startSource(t *testing.T, c events.Docker, tune func(*events.Options), ids ...string) *watcher {
	t.Helper()
	return startFrom(t, c, nil, tune, ids...)
}

// startFrom runs a source on c that resumes from points (nil: live).
func startFrom(t *testing.T, c events.Docker, points map[string]event.Resume, tune func(*events.Options), ids ...string) *watcher {
	t.Helper()
	opts := events.Options{Log: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Metrics: metrics.New(), RetryMin: 50 * time.Millisecond, RetryMax: 300 * time.Millisecond}
	if tune != nil {
		tune(&opts)
	}
	src := events.NewSource("test", c, opts)
	src.Restore(points)
	w := &watcher{ids: map[string]bool{}}
	for _, id := range ids {
		w.ids[id] = true
	}
	out := make(chan event.Item, 1024)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = src.Run(ctx, out) })
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case it := <-out:
				w.mu.Lock()
				w.follow(it)
				ev := it.Event
				if w.first == nil && it.Listed == nil && it.Cursor == 0 && ev.Type != event.SelfType && !ev.Reconciled {
					w.first = &ev
				}
				if it.Listed == nil && it.Cursor == 0 && (ev.Type == event.SelfType || w.ids[ev.ActorID]) {
					w.events = append(w.events, ev)
				}
				w.mu.Unlock()
			}
		}
	})
	w.stop = sync.OnceFunc(func() { cancel(); wg.Wait() })
	t.Cleanup(w.stop)
	waitReady(t, src)
	return w
}

func waitReady(t *testing.T, src *events.Source) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !src.Ready(0) {
		if time.Now().After(deadline) {
			t.Fatal("source never connected")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// Nothing more to wait for: the stream starts at the daemon's clock
	// before the list, so what the test does now comes on it.
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func isAction(id, action string) func(event.Event) bool {
	return func(ev event.Event) bool { return ev.ActorID == id && ev.Action == action }
}

func TestSourceReportsDeathsOnRealDaemon(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	w := startSource(t, c, nil)

	crash := testdocker.Run(t, c, testdocker.Spec{Name: "crash", NoStart: true, Args: []string{"exit", "3"}})
	clean := testdocker.Run(t, c, testdocker.Spec{Name: "clean", NoStart: true, Args: []string{"exit", "0"}})
	stopped := testdocker.Run(t, c, testdocker.Spec{Name: "stopped", NoStart: true, Args: []string{"sleep"}})
	killed := testdocker.Run(t, c, testdocker.Spec{Name: "killed", NoStart: true, Args: []string{"sleep"}})
	for _, ct := range []testdocker.Container{crash, clean, stopped, killed} {
		w.track(ct.ID)
		start(t, c, ct.ID)
	}
	ctx := context.Background()
	if _, err := c.ContainerStop(ctx, stopped.ID, client.ContainerStopOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ContainerKill(ctx, killed.ID, client.ContainerKillOptions{}); err != nil {
		t.Fatal(err)
	}

	die := w.waitFor(t, "crash die", 1, 10*time.Second, isAction(crash.ID, "die"))[0]
	if die.ExitCode != 3 || die.Intentional || die.OOMKilled || die.Reconciled {
		t.Errorf("crash die = %+v", die)
	}
	if die.Name != crash.Name || die.Image != "whalewatch-test/testprog:latest" || die.Labels[testdocker.LabelKey] != testdocker.RunID {
		t.Errorf("crash die lacks name/image/labels: %+v", die)
	}
	if got := w.waitFor(t, "clean die", 1, 10*time.Second, isAction(clean.ID, "die"))[0]; got.ExitCode != 0 {
		t.Errorf("clean exit code = %d", got.ExitCode)
	}
	if got := w.waitFor(t, "stop die", 1, 10*time.Second, isAction(stopped.ID, "die"))[0]; !got.Intentional {
		t.Errorf("die after docker stop not intentional: %+v", got)
	}
	if got := w.waitFor(t, "kill die", 1, 10*time.Second, isAction(killed.ID, "die"))[0]; !got.Intentional || got.ExitCode != 137 {
		t.Errorf("die after docker kill: %+v", got)
	}
}

func TestSourceReportsOOM(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.SkipOnPodman(t, c, testdocker.PodmanNoOOM)
	testdocker.Image(t, c)
	w := startSource(t, c, nil)

	oom := testdocker.Run(t, c, testdocker.Spec{Name: "oom", NoStart: true, Args: []string{"oom"}, Memory: 16 << 20})
	w.track(oom.ID)
	start(t, c, oom.ID)
	w.waitFor(t, "oom event", 1, 20*time.Second, isAction(oom.ID, "oom"))
	die := w.waitFor(t, "oom die", 1, 20*time.Second, isAction(oom.ID, "die"))[0]
	if !die.OOMKilled || die.ExitCode != 137 || die.Intentional {
		t.Errorf("oom die = %+v", die)
	}
}

func TestSourceReportsHealth(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	w := startSource(t, c, nil)

	sick := testdocker.Run(t, c, testdocker.Spec{Name: "sick", NoStart: true, Args: []string{"sleep"},
		Health: &container.HealthConfig{Test: []string{"CMD", "/testprog", "unhealthy"}, Interval: 200 * time.Millisecond, Retries: 1}})
	w.track(sick.ID)
	start(t, c, sick.ID)
	health := w.waitFor(t, "unhealthy", 1, 20*time.Second, func(ev event.Event) bool {
		return ev.ActorID == sick.ID && ev.Action == "health_status" && ev.Status == "unhealthy"
	})[0]
	if health.Name != sick.Name {
		t.Errorf("health event = %+v", health)
	}
	if execs := w.matching(isAction(sick.ID, "exec_start")); len(execs) == 0 {
		t.Log("no exec_start events seen for the health check (daemon does not send them)")
	}
}

// podman's own CLI stops and kills (no kill event on a stop; the stop
// event, when any, after the die): neither death is a crash.
func TestPodmanStopAndKillAreIntentional(t *testing.T) {
	c := testdocker.Client(t)
	if !testdocker.IsPodman(t, c) {
		t.Skip("docker: this test drives the podman CLI; TestSourceReportsDeathsOnRealDaemon stops and kills through the API on every engine")
	}
	testdocker.Image(t, c)
	w := startSource(t, c, nil)
	stopped := testdocker.Run(t, c, testdocker.Spec{Name: "podstop", NoStart: true, Args: []string{"stubborn"}})
	graceful := testdocker.Run(t, c, testdocker.Spec{Name: "podterm", NoStart: true, Args: []string{"sleep"}})
	killed := testdocker.Run(t, c, testdocker.Spec{Name: "podkill", NoStart: true, Args: []string{"sleep"}})
	for _, ct := range []testdocker.Container{stopped, graceful, killed} {
		w.track(ct.ID)
		start(t, c, ct.ID)
		w.waitFor(t, "start", 1, 10*time.Second, isAction(ct.ID, "start"))
	}
	testdocker.Podman(t, c, "stop", "-t", "1", stopped.ID) // SIGKILL after a second: exit 137
	testdocker.Podman(t, c, "stop", "-t", "5", graceful.ID)
	testdocker.Podman(t, c, "kill", killed.ID)
	for _, ct := range []testdocker.Container{stopped, graceful, killed} {
		d := w.waitFor(t, "die", 1, 20*time.Second, isAction(ct.ID, "die"))[0]
		if !d.Intentional && d.ExitCode != 0 {
			t.Errorf("die of %s after podman stop/kill: exit %d, not intentional", ct.Name, d.ExitCode)
		}
	}
	sentinel(t, c, w)
	for _, ct := range []testdocker.Container{stopped, graceful, killed} {
		if got := w.matching(isAction(ct.ID, "die")); len(got) != 1 {
			t.Errorf("%d deaths of %s, want 1", len(got), ct.Name)
		}
	}
}

// A container whose probe fails three times, then passes: one unhealthy
// report carrying the probe's output (however often the engine repeats
// the state), then one healthy.
func TestSourceReportsUnhealthyOnceThenHealthy(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	w := startSource(t, c, func(o *events.Options) {
		o.Interest = events.FakeInterest{Match: func(event.Event) bool { return true }}
		o.Evidence = events.EvidenceOptions{LogLines: 5, LogsTimeout: 5 * time.Second}
	})
	sick := testdocker.Run(t, c, testdocker.Spec{Name: "sickfor", NoStart: true, Args: []string{"sleep"},
		Health: &container.HealthConfig{Test: []string{"CMD", "/testprog", "sickfor", "3"}, Interval: 300 * time.Millisecond, Retries: 1}})
	w.track(sick.ID)
	start(t, c, sick.ID)
	isHealth := func(status string) func(event.Event) bool {
		return func(ev event.Event) bool {
			return ev.ActorID == sick.ID && ev.Action == "health_status" && ev.Status == status
		}
	}
	unhealthy := w.waitFor(t, "unhealthy", 1, 30*time.Second, isHealth("unhealthy"))[0]
	if unhealthy.Evidence == nil || len(unhealthy.Evidence.Health) == 0 ||
		!strings.Contains(unhealthy.Evidence.Health[len(unhealthy.Evidence.Health)-1].Output, "backend unreachable") {
		t.Errorf("unhealthy evidence = %+v", unhealthy.Evidence)
	}
	w.waitFor(t, "healthy", 1, 30*time.Second, isHealth("healthy"))
	if got := w.matching(isHealth("unhealthy")); len(got) != 1 {
		t.Errorf("%d unhealthy reports, want 1", len(got))
	}
}

func start(t *testing.T, c *client.Client, id string) {
	t.Helper()
	if _, err := c.ContainerStart(context.Background(), id, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
}

// proxy stands between the Source and the daemon so a test can cut the
// stream without touching the daemon.
type proxy struct {
	t             *testing.T
	network, addr string // the daemon
	path          string // our socket
	mu            sync.Mutex
	ln            net.Listener
	conns         []net.Conn
	wg            sync.WaitGroup
}

func newProxy(t *testing.T) *proxy {
	host := os.Getenv("DOCKER_HOST")
	if host == "" {
		host = "unix:///var/run/docker.sock"
	}
	network, addr, ok := strings.Cut(host, "://")
	if !ok || (network != "unix" && network != "tcp") {
		t.Skipf("cannot proxy DOCKER_HOST %q", host)
	}
	dir, err := os.MkdirTemp("", "wwproxy")
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy{t: t, network: network, addr: addr, path: dir + "/docker.sock"}
	p.listen()
	t.Cleanup(func() { p.cut(); p.wg.Wait(); os.RemoveAll(dir) })
	return p
}

func (p *proxy) listen() {
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		p.t.Fatal(err)
	}
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Go(func() {
		for {
			in, err := ln.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial(p.network, p.addr)
			if err != nil {
				in.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, in, out)
			p.mu.Unlock()
			p.wg.Go(func() { _, _ = io.Copy(out, in); out.Close() })
			p.wg.Go(func() { _, _ = io.Copy(in, out); in.Close() })
		}
	})
}

// cut closes the listener and every connection: the daemon seems gone.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.ln != nil {
		p.ln.Close()
		p.ln = nil
	}
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) client(t *testing.T) *client.Client {
	c, err := client.New(client.WithHost("unix://" + p.path))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dieWhileCut starts a container that exits after a delay, cuts the
// stream once the start is seen, and waits until the container has died.
func dieWhileCut(t *testing.T, c *client.Client, p *proxy, w *watcher, spec testdocker.Spec) testdocker.Container {
	t.Helper()
	spec.NoStart = true
	dying := testdocker.Run(t, c, spec)
	w.track(dying.ID)
	start(t, c, dying.ID)
	w.waitFor(t, "start", 1, 10*time.Second, isAction(dying.ID, "start"))
	p.cut()
	waitExited(t, c, dying.ID)
	return dying
}

func waitExited(t *testing.T, c *client.Client, id string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		res, err := c.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
		if err == nil && res.Container.State != nil && res.Container.State.Status == container.StateExited {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("container %s did not exit", id)
}

// The stream is cut while a container dies; the die is still in the
// daemon's buffer, so the resumed stream replays it: reported once, no
// duplicates of what came before the cut.
func TestSourceResumesWithoutGapsOrDuplicates(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	p := newProxy(t)
	w := startSource(t, p.client(t), func(o *events.Options) { o.GapNoticeAfter = -1 })

	dying := dieWhileCut(t, c, p, w, testdocker.Spec{Name: "resume", Args: []string{"exit", "5", "1500ms"}})
	p.listen()

	w.waitFor(t, "stream_restored", 1, 10*time.Second, func(ev event.Event) bool { return ev.Action == "stream_restored" })
	die := w.waitFor(t, "die", 1, 10*time.Second, isAction(dying.ID, "die"))[0]
	if die.Reconciled || die.ExitCode != 5 {
		t.Errorf("die = %+v; want the replayed event with exit code 5", die)
	}
	sentinel(t, c, w) // whatever was to come before it has come
	// (create may or may not be seen: the container is tracked after it is made)
	if got := actions(w.matching(func(ev event.Event) bool { return ev.ActorID == dying.ID && ev.Action != "create" })); strings.Join(got, ",") != "start,die" {
		t.Errorf("events of the container: %v, want [start die] (each once)", got)
	}
	seen := map[string]bool{}
	for _, ev := range w.matching(func(event.Event) bool { return true }) {
		if ev.Type != event.SelfType && seen[ev.Key()] {
			t.Errorf("duplicate event %s", ev.Key())
		}
		seen[ev.Key()] = true
	}
}

func actions(evs []event.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Action)
	}
	return out
}

// The stream is cut while a container dies and then more than 256 other
// events happen: the daemon no longer has the die. Reconcile reports it.
func TestSourceReconcilesDeathsTheDaemonForgot(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	p := newProxy(t)
	w := startSource(t, p.client(t), nil)

	dying := dieWhileCut(t, c, p, w, testdocker.Spec{Name: "forgotten", Args: []string{"exit", "7", "1s"}})
	floodEvents(t, c, 300)
	p.listen()

	die := w.waitFor(t, "reconciled die", 1, 15*time.Second, isAction(dying.ID, "die"))[0]
	if die.Reconciled == keepsHistory(t, c) || die.ExitCode != 7 || die.Name != dying.Name || die.Labels[testdocker.LabelKey] != testdocker.RunID {
		t.Errorf("reconciled die = %+v", die)
	}
	sentinel(t, c, w)
	if got := w.matching(isAction(dying.ID, "die")); len(got) != 1 {
		t.Errorf("%d die events, want 1", len(got))
	}
}

// floodEvents makes n events with volumes of our own, enough to push older
// events out of the daemon's 256-event buffer.
func floodEvents(t *testing.T, c *client.Client, n int) {
	t.Helper()
	ctx := context.Background()
	for i := 0; i < n/2; i++ {
		name := fmt.Sprintf("wwtest-%s-flood-%d", testdocker.RunID, i)
		if _, err := c.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: map[string]string{testdocker.LabelKey: testdocker.RunID}}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.VolumeRemove(ctx, name, client.VolumeRemoveOptions{}); err != nil {
			t.Fatal(err)
		}
	}
}

// A daemon that stays away is reported while it is away: once, not at
// every retry.
func TestSourceReportsUnreachableDaemon(t *testing.T) {
	c, err := client.New(client.WithHost("unix:///nonexistent/docker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	retried := retrySignal(make(chan struct{}, 1000))
	log := slog.New(slog.NewTextHandler(retried, nil))
	src := events.NewSource("gone", c, events.Options{Log: log, Metrics: metrics.New(),
		RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond, UnreachableAfter: 200 * time.Millisecond})
	out := make(chan event.Item, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = src.Run(ctx, out); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case it := <-out:
		ev := it.Event
		if ev.Type != event.SelfType || ev.Action != "daemon_unreachable" || ev.Host != "gone" || ev.Attributes["error"] == "" {
			t.Errorf("event = %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no daemon_unreachable event")
	}
	if src.Ready(time.Hour) {
		t.Error("ready without ever connecting")
	}
	// Ten more retries (the source logs each): still the one report.
	for range len(retried) {
		<-retried
	}
	for i := range 10 {
		select {
		case <-retried:
		case <-time.After(10 * time.Second):
			t.Fatalf("the source stopped retrying after %d more", i)
		}
	}
	select {
	case it := <-out:
		t.Errorf("reported again after retries: %+v", it.Event)
	default:
	}
}

// retrySignal is a log sink that signals each "reconnecting" line.
type retrySignal chan struct{}

func (r retrySignal) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("reconnecting")) {
		r <- struct{}{}
	}
	return len(p), nil
}

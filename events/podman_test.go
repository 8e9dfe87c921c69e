package events

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/moby/moby/api/types/container"
	mobyevents "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// podmanCapture is a real podman 4.3.1 stream (scripts/podman.sh): a crash
// (exit 3, "crash"), docker stop of a container made through the API
// (StopTimeout 0: "stopme", "s2"), a stop that timed out ("stub", "s3"),
// podman stop by the CLI (exit 0, "s1"), docker kill ("killme"), probes
// run with podman healthcheck run ("hc": unhealthy three times; "hc2":
// unhealthy twice, then healthy), a memory-limited container the kernel
// killed ("oom", "oom2": podman saw no OOM), a restart and rm -f.
const podmanCapture = "testdata/podman-4.3.1-events.jsonl"

// readPodmanJSONL decodes Podman's messages, one per line.
func readPodmanJSONL(r io.Reader) ([]podmanMessage, error) {
	var msgs []podmanMessage
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var m podmanMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			return nil, err
		}
		msgs = append(msgs, m)
	}
	return msgs, sc.Err()
}

func normaliseAll(msgs []podmanMessage) []mobyevents.Message {
	n := newPodmanNormaliser(&healthMerge{last: map[string][]healthChange{}})
	var out []mobyevents.Message
	for _, pm := range msgs {
		if m, ok := n.normalise(pm); ok {
			out = append(out, m)
		}
	}
	return out
}

func podmanFixture(t *testing.T) []podmanMessage {
	t.Helper()
	data, err := os.ReadFile(podmanCapture)
	if err != nil {
		t.Fatal(err)
	}
	msgs, err := readPodmanJSONL(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func TestEngineOf(t *testing.T) {
	var podman client.ServerVersionResult
	podman.Components = []system.ComponentVersion{{Name: "Podman Engine", Version: "4.3.1"}, {Name: "Conmon"}}
	podman.Platform.Name = "linux/amd64/debian-12"
	if got := EngineOf(podman); got != EnginePodman {
		t.Errorf("podman 4.3.1 = %q", got)
	}
	var docker client.ServerVersionResult
	docker.Platform.Name = "Docker Engine - Community"
	docker.Components = []system.ComponentVersion{{Name: "Engine"}, {Name: "containerd"}}
	if got := EngineOf(docker); got != EngineDocker {
		t.Errorf("docker = %q", got)
	}
}

// Podman's messages come out as Docker's: the health state in the action
// (and only when it changes), Docker's action names, the die's exit code,
// none of Podman's own attributes taken for labels, and a stop where
// Podman 4.3 shows one only by a second cleanup.
func TestPodmanNormaliserOnARealCapture(t *testing.T) {
	msgs := normaliseAll(podmanFixture(t))
	health := map[string][]string{}
	actions := map[string][]string{}
	for _, m := range msgs {
		ev := FromMessage("h", m)
		if ev.Type != event.ContainerType {
			continue
		}
		actions[ev.Name] = append(actions[ev.Name], ev.Action)
		if ev.Action == "health_status" {
			health[ev.Name] = append(health[ev.Name], ev.Status)
		}
		for _, k := range []string{"containerExitCode", "podId"} {
			if _, ok := ev.Labels[k]; ok {
				t.Errorf("%s of %s is a label: %v", k, ev.Name, ev.Labels)
			}
		}
		switch {
		case ev.Action == "die" && ev.Name == "crash" && ev.ExitCode != 3:
			t.Errorf("crash exit code %d, want 3", ev.ExitCode)
		case ev.Action == "die" && ev.ExitCode < 0:
			t.Errorf("die of %s without an exit code", ev.Name)
		case ev.Name == "crash" && ev.Labels["team"] != "a":
			t.Errorf("crash labels %v", ev.Labels)
		case ev.Action == "exec_died" || ev.Action == "remove" || ev.Action == "died" || ev.Action == "init" || ev.Action == "cleanup":
			t.Errorf("podman's action name %q came through", ev.Action)
		}
	}
	if got := health["hc"]; !slicesEqual(got, []string{"starting", "unhealthy"}) {
		t.Errorf("hc health = %v, want starting, unhealthy (repeats merged)", got)
	}
	if got := health["hc2"]; !slicesEqual(got, []string{"starting", "unhealthy", "healthy"}) {
		t.Errorf("hc2 health = %v", got)
	}
	stops := func(name string) int {
		n := 0
		for _, a := range actions[name] {
			if a == "stop" {
				n++
			}
		}
		return n
	}
	for _, name := range []string{"stopme", "stub", "s1", "s3"} {
		if stops(name) == 0 {
			t.Errorf("%s was stopped, but no stop came: %v", name, actions[name])
		}
	}
	for _, name := range []string{"crash", "killme", "oom"} {
		if stops(name) != 0 {
			t.Errorf("%s was not stopped, yet a stop came: %v", name, actions[name])
		}
	}
	if a := actions["hc2"]; a[len(a)-1] != "destroy" {
		t.Errorf("rm -f of hc2 ends with %q, want destroy", a[len(a)-1])
	}
}

func slicesEqual(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// A health state is merged across streams: an audit's replay of a repeat
// the live stream dropped drops it too, and the change itself passes again
// (the seen set then drops it).
func TestHealthMergeAcrossStreams(t *testing.T) {
	h := &healthMerge{last: map[string][]healthChange{}}
	for _, c := range []struct {
		nano   int64
		status string
		want   bool
	}{{1, "starting", true}, {2, "unhealthy", true}, {3, "unhealthy", false}, {4, "healthy", true},
		{2, "unhealthy", true}, {3, "unhealthy", false}, {5, "healthy", false}, {6, "unhealthy", true}} {
		if got := h.change("c", c.nano, c.status); got != c.want {
			t.Errorf("%d %s: change = %v, want %v", c.nano, c.status, got, c.want)
		}
	}
}

// fakePodman serves the capture as Podman's Docker-compatible /events on
// a unix socket (a stream, or with stream=false the kept events and an
// end), and tells /version that it is Podman.
type fakePodman struct {
	fakeDocker
	sock  string
	lines [][]byte
	died  map[string]int // exit codes by container ID, for inspect
}

func (f *fakePodman) ServerVersion(context.Context, client.ServerVersionOptions) (client.ServerVersionResult, error) {
	var v client.ServerVersionResult
	v.Components = []system.ComponentVersion{{Name: "Podman Engine", Version: "4.3.1"}}
	return v, nil
}

func (f *fakePodman) Dialer() func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", f.sock)
	}
}

func (f *fakePodman) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	var r client.SystemInfoResult
	r.Info.ID = "podman-fake"
	return r, nil
}

func (f *fakePodman) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	// What podman 4.3.1 said here of every one of these: exited, no OOM.
	return client.ContainerInspectResult{Container: container.InspectResponse{State: &container.State{Status: "exited", ExitCode: f.died[id]}}}, nil
}

func (f *fakePodman) serve(t *testing.T) {
	f.sock = filepath.Join(t.TempDir(), "podman.sock")
	l, err := net.Listen("unix", f.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1.41/events" {
			http.NotFound(w, r)
			return
		}
		since := parseSince(r.URL.Query().Get("since"))
		w.Header().Set("Content-Type", "application/json")
		for _, line := range f.lines {
			var m mobyevents.Message
			_ = json.Unmarshal(line, &m)
			if messageNano(m) >= since {
				_, _ = w.Write(append(line, '\n'))
			}
		}
		w.(http.Flusher).Flush()
		if r.URL.Query().Get("stream") != "false" {
			<-r.Context().Done()
		}
	})}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
}

// Through a Source, the capture's deaths are Docker's: the crash one
// CRASHED-worthy death with exit 3, every stop, kill and rm -f
// intentional, and each event named as the podman engine's.
func TestSourceOnAPodmanCapture(t *testing.T) {
	data, err := os.ReadFile(podmanCapture)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePodman{died: map[string]int{}}
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			f.lines = append(f.lines, line)
			var m mobyevents.Message
			_ = json.Unmarshal(line, &m)
			if m.Action == "die" {
				f.died[m.Actor.ID], _ = strconv.Atoi(m.Actor.Attributes["exitCode"])
			}
		}
	}
	f.serve(t)
	src := NewSource("h", f, Options{Log: quiet(), Metrics: metrics.New(), AuditEvery: -1})
	out := run(t, src, 1000)
	want := map[string]bool{"crash": false, "stopme": true, "stub": true, "killme": true, "s2": true, "s3": true, "hc2": true, "oom": false}
	deaths := map[string]event.Event{}
	got := until(t, out, func(ev event.Event) bool {
		if _, ok := want[ev.Name]; ok && ev.Action == "die" {
			deaths[ev.Name] = ev
		}
		return len(deaths) == len(want)
	})
	for _, ev := range got {
		if ev.Engine != EnginePodman {
			t.Errorf("%s %s: engine %q", ev.Action, ev.Name, ev.Engine)
		}
	}
	// (s1's podman stop ended it with exit 0: no crash either way.)
	for name, want := range want {
		if d := deaths[name]; d.Intentional != want {
			t.Errorf("die of %s (exit %d): intentional %v, want %v", name, deaths[name].ExitCode, d.Intentional, want)
		}
	}
	if d := deaths["crash"]; d.ExitCode != 3 {
		t.Errorf("crash exit code %d", d.ExitCode)
	}
}

// A replay (since and until) is read with stream=false and ends; what the
// daemon sends before since (Podman reads since as a float, so it is asked
// a millisecond early) or after until is dropped: Docker's inclusive since.
func TestPodmanReplayIsDockersSinceToUntil(t *testing.T) {
	f := &fakePodman{}
	var starts []int64 // start events pass the normaliser
	for _, line := range bytes.Split(mustRead(t, podmanCapture), []byte("\n")) {
		if len(bytes.TrimSpace(line)) > 0 {
			f.lines = append(f.lines, line)
			var m mobyevents.Message
			_ = json.Unmarshal(line, &m)
			if m.Action == "start" {
				starts = append(starts, messageNano(m))
			}
		}
	}
	f.serve(t)
	since, until := starts[2], starts[6]
	p := newPodmanEvents(rawClient(f.Dialer()))
	res := p.Events(context.Background(), client.EventsListOptions{Since: formatSince(since), Until: formatSince(until)})
	var got []int64
	for {
		select {
		case m := <-res.Messages:
			got = append(got, messageNano(m))
			continue
		case err := <-res.Err:
			if err != io.EOF {
				t.Fatalf("replay ended with %v, want io.EOF", err)
			}
		}
		break
	}
	if len(got) == 0 || got[0] != since {
		t.Fatalf("replay starts at %v, want the event at since %d", got, since)
	}
	for _, n := range got {
		if n < since || n > until {
			t.Errorf("event at %d outside [%d, %d]", n, since, until)
		}
	}
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

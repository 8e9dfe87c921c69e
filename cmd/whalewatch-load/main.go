// Command whalewatch-load measures whalewatch under an event storm. It
// serves the part of the Docker API whalewatch uses on a unix socket
// (ping, version, info, containers list/inspect/logs, and /events, which
// streams N synthetic events as fast as the reader takes them), runs a
// webhook sink on 127.0.0.1 that records when each notification arrives,
// runs the whalewatch binary against both, and prints what it measured.
//
// The population is realistic: a few hundred containers that live, exec,
// report health, die and start again; every 100th event is a death with
// exit code 1, and the last event is the death of "canary". Each container
// answers a stats request (cgroup v1 figures, 40 % of a 256 MiB limit; the
// first -hot ones 95 %), for the stats sampler (STATS_INTERVAL).
//
//	go build -o /tmp/whalewatch . && go run ./cmd/whalewatch-load -whalewatch /tmp/whalewatch -events 200000
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moby/moby/client"
)

func main() {
	var (
		binary     = flag.String("whalewatch", "", "the whalewatch binary to run (required)")
		events     = flag.Int("events", 20000, "events to stream")
		population = flag.Int("containers", 300, "containers in the population")
		dieEvery   = flag.Int("die-every", 100, "every n-th event is a death (exit code 1)")
		delay      = flag.Duration("sink-delay", 0, "how long the webhook sink takes to answer")
		errorRate  = flag.Float64("sink-errors", 0, "share of webhook posts answered 503 (retried)")
		wait       = flag.Duration("wait", 2*time.Minute, "how long to wait for the canary")
		settle     = flag.Duration("settle", 30*time.Second, "after the canary, how long to wait for the other deaths still in flight")
		idle       = flag.Duration("idle", 0, "after the canary, measure CPU over this long idle")
		hot        = flag.Int("hot", 10, "containers whose stats are at 95 % of their memory limit")
		churn      = flag.Bool("churn", false, "containers live whole lives (create, start, exec, die, destroy; every 10th dies exit 1) instead of -containers restarting")
		floor      = flag.Bool("floor", true, "after the run, time a minimal reader decoding the same stream into the SDK's events.Message")
		restarts   = flag.Int("restarts", 0, "after the run, start whalewatch this many times on its state file and time exec → /events")
	)
	var extraEnv multiFlag
	flag.Var(&extraEnv, "env", "extra NAME=value for whalewatch (repeatable)")
	flag.Parse()
	if *binary == "" {
		fmt.Fprintln(os.Stderr, "whalewatch-load: -whalewatch is required")
		os.Exit(2)
	}
	dir, err := os.MkdirTemp("", "whalewatch-load")
	check(err)
	defer os.RemoveAll(dir)

	gen := newGenerator(*events, *population, *dieEvery, *churn)
	daemon := &fakeDaemon{gen: gen, requested: make(chan time.Time, 1), hot: *hot}

	sock := filepath.Join(dir, "docker.sock")
	ln, err := net.Listen("unix", sock)
	check(err)
	go func() { _ = http.Serve(ln, daemon.handler()) }()

	sink := newSink(*delay, *errorRate)
	sinkLn, err := net.Listen("tcp", "127.0.0.1:0")
	check(err)
	go func() { _ = http.Serve(sinkLn, sink) }()

	env := append([]string{
		"PATH=" + os.Getenv("PATH"), "DOCKER_HOST=unix://" + sock, "HOST_NAME=load",
		"WEBHOOK_URL=http://" + sinkLn.Addr().String() + "/hook", "HTTP_ADDR=off", "LOG_LEVEL=warn",
		"STATE_DIR=" + filepath.Join(dir, "state"), "RULE_CRASHED_GROUP_WINDOW=0", "CRASHLOOP_DEATHS=0",
	}, extraEnv...)
	check(os.Mkdir(filepath.Join(dir, "state"), 0o700))
	logs, err := os.Create(filepath.Join(dir, "whalewatch.log"))
	check(err)
	cmd, started := startWhalewatch(*binary, env, logs)

	var streamStart time.Time
	select {
	case streamStart = <-daemon.requested:
	case <-time.After(30 * time.Second):
		fail(cmd, dir, "whalewatch never asked for /events")
	}
	canary, ok := sink.waitCanary(*wait)
	if ok {
		// The canary is the last death read, not the last delivered: the
		// others go out in parallel, some after it.
		sink.waitDeaths(gen.deaths, *settle)
	}
	var idleCPU time.Duration
	var idleStats int64
	if ok && *idle > 0 {
		before, statsBefore := cpuOf(cmd.Process.Pid), daemon.stats.Load()
		time.Sleep(*idle)
		idleCPU, idleStats = cpuOf(cmd.Process.Pid)-before, daemon.stats.Load()-statsBefore
	}
	streamEnd := daemon.finished()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	usage, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)

	deaths, delivered := gen.deaths, sink.deaths()
	if *churn {
		fmt.Printf("events streamed      %d (%d whole lives of new containers, every 10th dies exit 1)\n", *events, *events/lifeEvents)
	} else {
		fmt.Printf("events streamed      %d (%d containers, a death every %d)\n", *events, *population, *dieEvery)
	}
	fmt.Printf("exec → /events       %s\n", streamStart.Sub(started).Round(100*time.Microsecond))
	if !streamEnd.IsZero() {
		fmt.Printf("stream written in    %s (%.0f events/s taken by whalewatch)\n", streamEnd.Sub(streamStart).Round(time.Millisecond),
			float64(*events)/streamEnd.Sub(streamStart).Seconds())
	}
	if ok {
		fmt.Printf("canary delivered     %s after the stream started\n", canary.Sub(streamStart).Round(time.Millisecond))
	} else {
		fmt.Printf("canary delivered     NEVER (waited %s)\n", *wait)
	}
	fmt.Printf("deaths delivered     %d of %d (%d lost)\n", delivered, deaths, deaths-delivered)
	if usage != nil {
		cpu := time.Duration(usage.Utime.Nano() + usage.Stime.Nano())
		fmt.Printf("peak RSS             %.1f MB\n", float64(usage.Maxrss)/1024)
		fmt.Printf("CPU                  %s (%.1f µs per event)\n", cpu.Round(time.Millisecond), float64(cpu.Microseconds())/float64(*events))
	}
	if *idle > 0 && ok {
		fmt.Printf("CPU when idle        %s over %s (%.2f %% of one core)\n", idleCPU.Round(time.Millisecond), *idle,
			100*idleCPU.Seconds()/idle.Seconds())
		fmt.Printf("stats samples        %d while idle (%.1f/s); %d in all\n", idleStats, float64(idleStats)/idle.Seconds(), daemon.stats.Load())
	}
	if n := sink.count("MEMORY_HIGH"); n > 0 || daemon.stats.Load() > 0 {
		fmt.Printf("MEMORY_HIGH alerts   %d (%d containers at 95 %%)\n", n, *hot)
	}
	if !ok || delivered < deaths {
		fmt.Printf("whalewatch log: %s\n", tail(filepath.Join(dir, "whalewatch.log")))
		os.Exit(1)
	}
	if *floor {
		took, n := decodeFloor(sock)
		fmt.Printf("decode floor         %s for %d events (SDK reader; whalewatch's canary %.2f × it)\n", took.Round(time.Millisecond), n,
			canary.Sub(streamStart).Seconds()/took.Seconds())
	}
	if *restarts > 0 {
		timeRestarts(*restarts, *binary, env, logs, daemon, dir)
	}
}

// timeRestarts starts whalewatch n times on the state file the run left
// and prints the time from exec to its first /events request.
func timeRestarts(n int, binary string, env []string, logs *os.File, daemon *fakeDaemon, dir string) {
	var took []time.Duration
	for range n {
		select {
		case <-daemon.requested: // the last run's (or the floor's) request
		default:
		}
		cmd, started := startWhalewatch(binary, env, logs)
		select {
		case at := <-daemon.requested:
			took = append(took, at.Sub(started))
		case <-time.After(30 * time.Second):
			fail(cmd, dir, "a restarted whalewatch never asked for /events")
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	slices.Sort(took)
	fmt.Printf("restart → /events    median %s of %d (min %s, max %s; existing state file)\n", took[len(took)/2].Round(100*time.Microsecond),
		len(took), took[0].Round(100*time.Microsecond), took[len(took)-1].Round(100*time.Microsecond))
}

func startWhalewatch(binary string, env []string, logs *os.File) (*exec.Cmd, time.Time) {
	cmd := exec.Command(binary)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	started := time.Now()
	check(cmd.Start())
	return cmd, started
}

// decodeFloor is the least any reader of the stream can take: the SDK's
// own Events reader, decoding every event into its events.Message and
// doing nothing else, from the request to the canary's death.
func decodeFloor(sock string) (time.Duration, int) {
	c, err := client.New(client.WithHost("unix://" + sock))
	check(err)
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	start := time.Now()
	res := c.Events(ctx, client.EventsListOptions{})
	for n := 1; ; n++ {
		select {
		case m := <-res.Messages:
			if m.Actor.Attributes["name"] == "canary" {
				return time.Since(start), n
			}
		case err := <-res.Err:
			check(fmt.Errorf("decode floor: %w", err))
		}
	}
}

// ---- the synthetic stream --------------------------------------------------

type generator struct {
	n, population, dieEvery int
	churn                   bool // whole lives of new containers
	deaths                  int  // deaths (exit 1) in the stream, canary included
	base                    int64
	ids                     []string
}

func newGenerator(n, population, dieEvery int, churn bool) *generator {
	g := &generator{n: n, population: population, dieEvery: dieEvery, churn: churn, base: time.Now().UnixNano()}
	if churn {
		g.population = 0 // none lives before the stream, each lives once
	}
	for i := range g.population {
		g.ids = append(g.ids, fmt.Sprintf("%064x", i+1))
	}
	for i := range n - 1 {
		if g.crash(i) {
			g.deaths++
		}
	}
	g.deaths++ // the canary
	return g
}

// noise is what containers do between deaths.
var noise = []string{"exec_create: sh -c true", "exec_start: sh -c true", "exec_die", "health_status: healthy", "top", "exec_create: pg_isready", "exec_start: pg_isready", "exec_die"}

// event i of the stream, as the daemon writes it.
func (g *generator) event(i int, buf []byte) []byte {
	nano := g.base + int64(i)*1000
	if i == g.n-1 {
		return appendEvent(buf, "canary", strings.Repeat("c", 64), "die", nano, `,"exitCode":"1"`)
	}
	if g.churn {
		return g.life(i, nano, buf)
	}
	c := (i / g.dieEvery) % g.population
	action, extra := noise[i%len(noise)], ""
	switch {
	case i%g.dieEvery == g.dieEvery-1:
		action, extra = "die", `,"exitCode":"1"`
	case i%g.dieEvery == 0 && i > 0:
		c = (i/g.dieEvery - 1) % g.population // the one that died starts again
		action = "start"
	case strings.HasPrefix(action, "exec_die"):
		extra = `,"exitCode":"0","execID":"e` + strconv.Itoa(i) + `"`
	}
	return appendEvent(buf, fmt.Sprintf("app-%03d", c), g.ids[c], action, nano, extra)
}

// A life in churn: each container is new, lives lifeEvents events and
// is gone; lifeDie is the death's place in it.
var life = []string{"create", "start", "exec_start: sh -c true", "die", "destroy"}

const (
	lifeEvents = 5
	lifeDie    = 3
)

// crash: event i (not the canary) is a death with exit code 1.
func (g *generator) crash(i int) bool {
	if g.churn {
		return i%lifeEvents == lifeDie && (i/lifeEvents)%10 == 0
	}
	return i%g.dieEvery == g.dieEvery-1
}

// lifeOf is the life (in churn) of the container id, if it is one's.
func (g *generator) lifeOf(id string) (int, bool) {
	if !g.churn || len(id) != 64 {
		return 0, false
	}
	n, err := strconv.ParseUint(id, 16, 63)
	if err != nil || n == 0 || int(n) > g.n/lifeEvents {
		return 0, false
	}
	return int(n) - 1, true
}

func (g *generator) life(i int, nano int64, buf []byte) []byte {
	n := i / lifeEvents
	action, extra := life[i%lifeEvents], ""
	if i%lifeEvents == lifeDie {
		extra = `,"exitCode":"0"`
		if g.crash(i) {
			extra = `,"exitCode":"1"`
		}
	}
	return appendEvent(buf, fmt.Sprintf("job-%07d", n), fmt.Sprintf("%064x", n+1), action, nano, extra)
}

func appendEvent(buf []byte, name, id, action string, nano int64, extra string) []byte {
	return fmt.Appendf(buf, `{"Type":"container","Action":%q,"Actor":{"ID":%q,"Attributes":{"image":"shop/app:1.0","name":%q,"com.docker.compose.project":"shop"%s}},"scope":"local","time":%d,"timeNano":%d}`+"\n",
		action, id, name, extra, nano/1e9, nano)
}

// ---- the fake daemon ---------------------------------------------------------

type fakeDaemon struct {
	gen       *generator
	hot       int          // the first hot containers are near their memory limit
	written   atomic.Int64 // events of the stream written so far
	stats     atomic.Int64 // stats requests answered
	requested chan time.Time
	mu        sync.Mutex
	done      time.Time
}

func (d *fakeDaemon) finished() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.done
}

func (d *fakeDaemon) handler() http.Handler {
	mux := http.NewServeMux()
	ping := func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Api-Version", "1.45")
		_, _ = w.Write([]byte("OK"))
	}
	mux.HandleFunc("/_ping", ping)
	mux.HandleFunc("/{v}/_ping", ping)
	mux.HandleFunc("GET /{v}/version", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"Version": "load", "ApiVersion": "1.45", "MinAPIVersion": "1.24", "Os": "linux"})
	})
	mux.HandleFunc("GET /{v}/info", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, map[string]any{"Name": "load", "ID": "LOAD:0000", "MemTotal": 16 << 30, "Swarm": map[string]any{}})
	})
	mux.HandleFunc("GET /{v}/containers/json", func(w http.ResponseWriter, _ *http.Request) {
		var list []map[string]any
		for i, id := range d.gen.ids {
			list = append(list, map[string]any{"Id": id, "Names": []string{fmt.Sprintf("/app-%03d", i)}, "Image": "shop/app:1.0", "State": "running"})
		}
		writeJSON(w, list)
	})
	mux.HandleFunc("GET /{v}/containers/{id}/json", func(w http.ResponseWriter, r *http.Request) {
		if d.gone(w, r) {
			return
		}
		now := time.Now().UTC()
		if n, ok := d.gen.lifeOf(r.PathValue("id")); ok {
			// A churn container between its die and its destroy: exited.
			exit, finished := 0, time.Unix(0, d.gen.base+int64(n*lifeEvents+lifeDie)*1000).UTC()
			if d.gen.crash(n*lifeEvents + lifeDie) {
				exit = 1
			}
			writeJSON(w, map[string]any{"Id": r.PathValue("id"), "Name": fmt.Sprintf("/job-%07d", n), "Image": "sha256:" + strings.Repeat("a", 64),
				"State": map[string]any{"Status": "exited", "ExitCode": exit, "StartedAt": finished.Add(-2 * time.Microsecond).Format(time.RFC3339Nano),
					"FinishedAt": finished.Format(time.RFC3339Nano)}, "Config": map[string]any{"Tty": false}})
			return
		}
		writeJSON(w, map[string]any{"Id": r.PathValue("id"), "Name": "/app", "Image": "sha256:" + strings.Repeat("a", 64), "RestartCount": 0,
			"State": map[string]any{"Status": "running", "Running": true, "ExitCode": 1,
				"StartedAt": now.Add(-time.Minute).Format(time.RFC3339Nano), "FinishedAt": now.Format(time.RFC3339Nano)},
			"Config": map[string]any{"Tty": false}})
	})
	mux.HandleFunc("GET /{v}/containers/{id}/logs", func(w http.ResponseWriter, r *http.Request) {
		if d.gone(w, r) {
			return
		}
		line := []byte("panic: load test\n")
		header := []byte{2, 0, 0, 0, 0, 0, 0, byte(len(line))}
		_, _ = w.Write(append(header, line...))
	})
	mux.HandleFunc("GET /{v}/containers/{id}/stats", d.containerStats)
	mux.HandleFunc("GET /{v}/events", d.events)
	return mux
}

// gone answers as dockerd does for a container removed (its destroy is
// in the stream): 404, no such container.
func (d *fakeDaemon) gone(w http.ResponseWriter, r *http.Request) bool {
	n, ok := d.gen.lifeOf(r.PathValue("id"))
	if !ok || int64(n*lifeEvents+lifeEvents) > d.written.Load() {
		return false
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusNotFound)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": "No such container: " + r.PathValue("id")})
	return true
}

// eventsLimit is how many past events dockerd keeps for a replay
// (moby's daemon/events: eventsLimit).
const eventsLimit = 256

// events streams the synthetic stream (after since; of what was written
// before, only the last eventsLimit events, as dockerd replays), then
// holds the connection open as a daemon does. A request with until (whalewatch's
// audit) is a replay, answered as dockerd does: the events between since
// and until among the last eventsLimit written, then the end.
func (d *fakeDaemon) events(w http.ResponseWriter, r *http.Request) {
	since := queryNano(r, "since")
	w.Header().Set("Content-Type", "application/json")
	if r.URL.Query().Get("until") != "" {
		until := queryNano(r, "until")
		w.WriteHeader(http.StatusOK)
		var buf []byte
		for i, n := max(0, int(d.written.Load())-eventsLimit), int(d.written.Load()); i < n; i++ {
			if t := d.gen.base + int64(i)*1000; t >= since && t <= until {
				buf = d.gen.event(i, buf)
			}
		}
		_, _ = w.Write(buf)
		return
	}
	select {
	case d.requested <- time.Now():
	default:
	}
	w.WriteHeader(http.StatusOK)
	bw := bufio.NewWriterSize(w, 64<<10)
	buf := make([]byte, 0, 512)
	kept := 0 // without since, the whole stream (the first connection, the decode floor's reader)
	if since > 0 {
		kept = int(d.written.Load()) - eventsLimit // a reconnect's replay: only the last eventsLimit written
	}
	for i := range d.gen.n {
		if d.gen.base+int64(i)*1000 < since || i < kept {
			continue
		}
		buf = d.gen.event(i, buf[:0])
		if _, err := bw.Write(buf); err != nil {
			return
		}
		d.written.Store(int64(i + 1))
	}
	_ = bw.Flush()
	w.(http.Flusher).Flush()
	d.mu.Lock()
	d.done = time.Now()
	d.mu.Unlock()
	<-r.Context().Done()
}

// queryNano is the time the query parameter name gives (seconds with a
// fraction, as the SDK writes since and until), 0 when absent.
func queryNano(r *http.Request, name string) int64 {
	s := r.URL.Query().Get(name)
	if s == "" {
		return 0
	}
	sec, frac, _ := strings.Cut(s, ".")
	secs, _ := strconv.ParseInt(sec, 10, 64)
	nanos, _ := strconv.ParseInt((frac + "000000000")[:9], 10, 64)
	return secs*1e9 + nanos
}

// containerStats answers a one-shot stats request as a cgroup v1 daemon
// does (no precpu), the CPU counters growing with the clock.
func (d *fakeDaemon) containerStats(w http.ResponseWriter, r *http.Request) {
	n := d.stats.Add(1)
	const limit = 256 << 20
	used := uint64(limit * 40 / 100)
	if i := slices.Index(d.gen.ids, r.PathValue("id")); i >= 0 && i < d.hot {
		used = limit * 95 / 100
	}
	now := time.Now()
	writeJSON(w, map[string]any{
		"id": r.PathValue("id"), "name": "/app", "read": now.UTC().Format(time.RFC3339Nano),
		"pids_stats": map[string]any{"current": 12, "limit": 1000},
		"cpu_stats": map[string]any{"cpu_usage": map[string]any{"total_usage": uint64(n) * 1e6, "percpu_usage": []uint64{uint64(n) * 1e6, 0}},
			"system_cpu_usage": uint64(now.UnixNano()) * 2, "online_cpus": 2},
		"precpu_stats": map[string]any{"cpu_usage": map[string]any{"total_usage": 0}},
		"memory_stats": map[string]any{"usage": used + 4<<20, "limit": limit,
			"stats": map[string]any{"total_inactive_file": 4 << 20, "total_cache": 8 << 20, "total_rss": used}},
	})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// ---- the webhook sink ------------------------------------------------------------

type sink struct {
	delay     time.Duration
	errorRate float64
	mu        sync.Mutex
	rng       *rand.Rand
	seen      map[string]bool // webhook-ids of deaths delivered
	rules     map[string]int  // posts by rule
	canary    chan time.Time
	death     chan struct{} // a new death delivered
	posts     atomic.Int64
}

func newSink(delay time.Duration, errorRate float64) *sink {
	return &sink{delay: delay, errorRate: errorRate, rng: rand.New(rand.NewSource(1)), seen: map[string]bool{}, rules: map[string]int{}, canary: make(chan time.Time, 1), death: make(chan struct{}, 1)}
}

func (s *sink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var p struct {
		Rule, Name string
	}
	_ = json.NewDecoder(r.Body).Decode(&p)
	time.Sleep(s.delay)
	s.posts.Add(1)
	s.mu.Lock()
	fail := s.rng.Float64() < s.errorRate
	if !fail {
		s.rules[p.Rule]++
	}
	if !fail && p.Rule == "CRASHED" {
		s.seen[r.Header.Get("webhook-id")] = true
		select {
		case s.death <- struct{}{}:
		default:
		}
		if p.Name == "canary" {
			select {
			case s.canary <- time.Now():
			default:
			}
		}
	}
	s.mu.Unlock()
	if fail {
		w.WriteHeader(http.StatusServiceUnavailable)
	}
}

func (s *sink) count(rule string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rules[rule]
}

func (s *sink) deaths() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.seen)
}

// waitDeaths waits until n deaths are delivered or for at most wait.
func (s *sink) waitDeaths(n int, wait time.Duration) {
	deadline := time.After(wait)
	for s.deaths() < n {
		select {
		case <-s.death:
		case <-deadline:
			return
		}
	}
}

func (s *sink) waitCanary(wait time.Duration) (time.Time, bool) {
	select {
	case at := <-s.canary:
		return at, true
	case <-time.After(wait):
		return time.Time{}, false
	}
}

// ---- helpers ------------------------------------------------------------------

// cpuOf is the CPU time a process has used so far (user + system).
func cpuOf(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	fields := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+2:]))
	utime, _ := strconv.ParseInt(fields[11], 10, 64)
	stime, _ := strconv.ParseInt(fields[12], 10, 64)
	return time.Duration(utime+stime) * time.Second / 100 // USER_HZ
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "whalewatch-load:", err)
		os.Exit(2)
	}
}

func fail(cmd *exec.Cmd, dir, msg string) {
	_ = cmd.Process.Kill()
	fmt.Fprintf(os.Stderr, "whalewatch-load: %s\n%s\n", msg, tail(filepath.Join(dir, "whalewatch.log")))
	os.Exit(1)
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// Package sim is the whole-pipeline fault simulator: the real event source,
// alert core and dispatcher over a real bbolt file, against a fake Docker
// daemon that keeps moby's promises and no more (fakedaemon_test.go), in
// testing/synctest bubbles so that seconds of daemon latency and minutes of
// crash loops take no time. whalewatch is killed at random quiescent
// instants; the checks hold the daemon's ground truth against what the
// destination received. A failure prints its seed; SIM_SEED=n replays one.
package sim

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/whalewatch/whalewatch/alert"
	"github.com/whalewatch/whalewatch/event"
	ev "github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

const hostName = "node1"

func TestPipelineSimulation(t *testing.T) {
	schedules := 200 // 20 s under -race on 2 cores (42 s with the cores shared)
	if testing.Short() {
		schedules = 40
	}
	if s := os.Getenv("SIM_SCHEDULES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil {
			t.Fatalf("SIM_SCHEDULES: %v", err)
		}
		schedules = n
	}
	first := int64(1)
	if s := os.Getenv("SIM_SEED"); s != "" {
		seed, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("SIM_SEED: %v", err)
		}
		first, schedules = seed, 1
	}
	dir := t.TempDir()
	var total stats
	began := time.Now()
	for seed := first; seed < first+int64(schedules); seed++ {
		var w *world
		synctest.Test(t, func(t *testing.T) {
			if os.Getenv("SIM_DEBUG") != "" {
				debugf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, time.Now().Format("15:04:05.000 ")+f+"\n", a...) }
			}
			w = newWorld(t, seed, filepath.Join(dir, strconv.FormatInt(seed, 10)))
			w.play()
			w.check()
		})
		total.add(w)
		_ = os.RemoveAll(filepath.Join(dir, strconv.FormatInt(seed, 10)))
		if w != nil && w.failed {
			for _, f := range w.failures {
				t.Error(f)
			}
			t.Errorf("seed %d failed; replay it with SIM_SEED=%d go test ./internal/sim -run TestPipelineSimulation -v", seed, seed)
			if os.Getenv("SIM_KEEP_GOING") == "" {
				t.FailNow()
			}
		}
	}
	t.Logf("%d schedules in %s: %d daemon events (%d lost to subscribers), %d deaths to report, %d whalewatch kills, %d daemon restarts, %d gaps, %d clock steps, %d deliveries (%d resent after a kill, %d reconciled deaths, %d resolutions)",
		schedules, time.Since(began).Round(time.Millisecond), total.events, total.dropped, total.required, total.kills, total.restarts, total.gaps, total.steps,
		total.deliveries, total.resent, total.reconciled, total.resolutions)
}

// clockSteps: the daemon's clock steps back in some schedules
// (SIM_CLOCK_STEPS=1). Off by default: a replay by time cannot always tell
// what came before a step from what came after (see docs/ARCHITECTURE.md).
var clockSteps = os.Getenv("SIM_CLOCK_STEPS") != ""

type stats struct {
	events, dropped, required, kills, restarts, gaps, steps, deliveries, resent, reconciled, resolutions int
}

func (s *stats) add(w *world) {
	if w == nil {
		return
	}
	s.events += len(w.d.log)
	s.dropped += w.d.dropped
	s.required += w.required
	s.kills += len(w.kills)
	s.restarts += w.restarts
	s.steps += w.steps
	s.deliveries += len(w.dest.got)
	s.resent += w.dest.resent
	for _, n := range w.dest.got {
		if n.Event.Reconciled {
			s.reconciled++
		}
		if n.Incident != nil && n.Incident.Status == notify.Resolved {
			s.resolutions++
		}
		if n.Event.Type == event.SelfType && n.Event.Action == "stream_gap" {
			s.gaps++
		}
	}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// death is one end of a container's run, as the daemon knows it.
type death struct {
	idx         int // in the daemon's log
	id          string
	nano        int64 // the die event's time
	finished    int64 // State.FinishedAt
	code        int
	oom         bool
	intentional bool
}

type world struct {
	t        *testing.T
	failed   bool     // a check failed
	failures []string // what failed, reported outside the bubble
	seed     int64
	rng      *rand.Rand
	dir      string

	d      *fakeDaemon
	dest   *destination
	engine *rules.Engine
	cfg    alert.Config
	queue  int
	conc   int

	proc *proc
	gen  int
	// timeline: what the daemon does by itself later (restarts by policy).
	timeline []planned

	ctrs     []*fakeContainer // every container ever created
	byID     map[string]*fakeContainer
	kills    []int // log index at each kill
	left     int   // still in the outbox at the end
	restarts int
	steps    int
	required int
}

type planned struct {
	at time.Time
	do func()
}

// proc is one incarnation of whalewatch.
type proc struct {
	gen    int
	dir    string
	store  *state.Store
	cancel context.CancelFunc
	done   chan struct{}
}

func newWorld(t *testing.T, seed int64, dir string) *world {
	rng := rand.New(rand.NewSource(seed))
	specs := rules.Defaults()
	window := []time.Duration{0, 10 * time.Second, 30 * time.Second}[rng.Intn(3)]
	for i := range specs {
		specs[i].GroupWindow = window
	}
	engine, err := rules.Compile(specs)
	if err != nil {
		t.Fatal(err)
	}
	d := newFakeDaemon(fmt.Sprintf("D%04d:ABCD:EFGH", seed%10000))
	d.infoDelay = time.Duration(rng.Intn(3)) * time.Duration(rng.Intn(1500)) * time.Millisecond
	d.listDelay = time.Duration(rng.Intn(3)) * time.Duration(rng.Intn(2000)) * time.Millisecond
	d.inspectDelay = time.Duration(rng.Intn(50)) * time.Millisecond
	w := &world{
		t: t, seed: seed, rng: rng, dir: dir, d: d, engine: engine,
		cfg: alert.Config{Rules: engine, ShownLabels: []string{notify.ComposeProject},
			CrashLoopDeaths: 3 + rng.Intn(3), CrashLoopWindow: time.Minute, CrashLoopQuiet: 2 * time.Minute,
			ResolveAfter: []time.Duration{0, 30 * time.Second, time.Minute}[rng.Intn(3)]},
		queue: []int{4, 64, 4096}[rng.Intn(3)],
		conc:  1 + rng.Intn(3),
		byID:  map[string]*fakeContainer{},
	}
	w.dest = newDestination(seed, rng.Intn(25))
	return w
}

// start runs a new incarnation of whalewatch on the state in its dir,
// wired as watch.go's newCore and runIntake wire it.
func (w *world) start() {
	w.gen++
	p := &proc{gen: w.gen, dir: filepath.Join(w.dir, fmt.Sprintf("gen%d", w.gen)), done: make(chan struct{})}
	if w.proc != nil {
		w.copyState(w.proc.dir, p.dir)
	}
	store, err := state.OpenUnsynced(p.dir)
	if err != nil {
		w.t.Fatal(err)
	}
	p.store = store
	m := metrics.New()
	log := quiet()
	if os.Getenv("SIM_DEBUG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("gen", w.gen)
	}
	disp := notify.NewDispatcher(log, m, store, 50000,
		notify.Destination{Name: "sink", Notifier: &notifier{dest: w.dest, gen: w.gen}, Concurrency: w.conc})
	cfg := w.cfg
	cfg.Destinations = disp.Names()
	core := alert.New(cfg, disp, store, log, m)
	src := ev.NewSource(hostName, w.d, ev.Options{Log: log, Metrics: m, Interest: alert.NewInterest(w.engine, false),
		Evidence: ev.EvidenceOptions{LogLines: 5, LogsTimeout: 5 * time.Second}})
	snap, err := store.LoadSnapshot()
	if err == nil {
		err = core.Restore(snap)
	}
	if err != nil {
		w.t.Fatalf("seed %d: gen %d cannot resume: %v", w.seed, w.gen, err)
	}
	src.Restore(core.Resumes())

	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	var wg sync.WaitGroup
	dispatchCtx, stopDispatch := context.WithCancel(context.Background())
	dispatchDone := make(chan struct{})
	go func() { _ = disp.Run(dispatchCtx); close(dispatchDone) }()
	queue := make(chan event.Item, w.queue)
	in := queue
	if os.Getenv("SIM_DEBUG") != "" {
		// Every item, as it enters the queue.
		in = make(chan event.Item, w.queue)
		wg.Go(func() {
			for {
				select {
				case it := <-in:
					log.Debug("item", "action", it.Event.Action, "name", it.Event.Name, "nano", it.Event.TimeNano, "exit", it.Event.ExitCode,
						"reconciled", it.Event.Reconciled, "oomkilled", it.Event.OOMKilled, "intentional", it.Event.Intentional, "ahead", it.Ahead, "listed", len(it.Listed), "cursor", it.Cursor, "restarts", fmtRestarts(it))
					queue <- it
				case <-ctx.Done():
					return
				}
			}
		})
	}
	wg.Go(func() { _ = src.Run(ctx, in) })
	wg.Go(func() { core.Run(ctx, queue) })
	go func() {
		wg.Wait()
		stopDispatch()
		<-dispatchDone
		close(p.done)
	}()
	w.proc = p
}

func (w *world) copyState(from, to string) {
	data, err := os.ReadFile(filepath.Join(from, "whalewatch.db"))
	if err != nil {
		w.t.Fatal(err)
	}
	if err := os.MkdirAll(to, 0o700); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(to, "whalewatch.db"), data, 0o600); err != nil {
		w.t.Fatal(err)
	}
}

// kill is kill -9 at a quiescent instant: the file as committed now is
// what the next incarnation gets (copied before the old one is told to
// stop, so its graceful shutdown commits nothing that counts), and the
// destination ignores whatever the old one still sends.
func (w *world) kill() {
	synctest.Wait()
	p := w.proc
	w.copyState(p.dir, p.dir+".killed")
	w.dest.kill(p.gen)
	w.kills = append(w.kills, w.logLen())
	p.cancel()
	<-p.done
	if err := p.store.Close(); err != nil {
		w.t.Fatal(err)
	}
	p.dir += ".killed"
	w.proc = &proc{dir: p.dir, gen: p.gen} // down until restart
}

func (w *world) up() bool { return w.proc != nil && w.proc.store != nil }

func (w *world) logLen() int {
	w.d.lock()
	defer w.d.unlock()
	return len(w.d.log)
}

// sleepUntil passes time, doing what the daemon does by itself meanwhile.
func (w *world) sleep(dur time.Duration) {
	end := time.Now().Add(dur)
	for {
		slices.SortStableFunc(w.timeline, func(a, b planned) int { return a.at.Compare(b.at) })
		if len(w.timeline) == 0 || w.timeline[0].at.After(end) {
			break
		}
		next := w.timeline[0]
		w.timeline = w.timeline[1:]
		time.Sleep(time.Until(next.at))
		next.do()
	}
	time.Sleep(time.Until(end))
}

func (w *world) newContainer(name string) *fakeContainer {
	labels := map[string]string{notify.ComposeProject: fmt.Sprintf("p%d", w.rng.Intn(3))}
	switch w.rng.Intn(8) {
	case 0:
		labels["exitCode"] = "0" // shadows the daemon's exit code
	case 1:
		labels[alert.EnableLabel] = "false"
	}
	policy := "no"
	if w.rng.Intn(2) == 0 {
		policy = "always"
	}
	c := w.d.create(name, "shop/"+name, labels, policy)
	w.ctrs = append(w.ctrs, c)
	w.byID[c.id] = c
	return c
}

func (w *world) pick(running bool) *fakeContainer {
	var cands []*fakeContainer
	w.d.lock()
	for _, c := range w.ctrs {
		if w.d.containers[c.id] == c && c.running == running {
			cands = append(cands, c)
		}
	}
	w.d.unlock()
	if len(cands) == 0 {
		return nil
	}
	return cands[w.rng.Intn(len(cands))]
}

// planRestart: the restart manager starts a container with a policy again
// after its backoff (100 ms, doubling).
func (w *world) planRestart(c *fakeContainer) {
	if c.policy != "always" {
		return
	}
	delay := 100 * time.Millisecond << min(c.restarts, 6)
	w.timeline = append(w.timeline, planned{at: time.Now().Add(delay), do: func() { w.d.restartByPolicy(c) }})
}

// play runs one schedule.
func (w *world) play() {
	w.start()
	for i := range 2 + w.rng.Intn(6) {
		c := w.newContainer(fmt.Sprintf("svc%d", i))
		w.d.start(c)
	}
	var downUntil time.Time
	steps := 30 + w.rng.Intn(50)
	for range steps {
		w.sleep(time.Duration(w.rng.Intn(3000)) * time.Millisecond)
		if !w.up() && !time.Now().Before(downUntil) {
			w.start()
		}
		switch r := w.rng.Intn(100); {
		case r < 22: // a crash
			if c := w.pick(true); c != nil {
				if _, ok := w.d.crash(c, 1+w.rng.Intn(3)); ok {
					w.planRestart(c)
				}
			}
		case r < 27: // an OOM kill
			if c := w.pick(true); c != nil {
				if _, ok := w.d.oomKill(c, 1+w.rng.Intn(3)); ok {
					w.planRestart(c)
				}
			}
		case r < 31: // a clean exit (restart=always restarts it too, as moby's restart manager does)
			if c := w.pick(true); c != nil {
				if _, ok := w.d.crash(c, 0); ok {
					w.planRestart(c)
				}
			}
		case r < 36: // docker stop
			if c := w.pick(true); c != nil {
				w.d.stop(c)
			}
		case r < 44: // docker start of a stopped one
			if c := w.pick(false); c != nil {
				w.d.start(c)
			}
		case r < 50: // docker rm -f, and maybe recreated under its name
			if c := w.pick(w.rng.Intn(2) == 0); c != nil {
				w.d.remove(c)
				if w.rng.Intn(2) == 0 {
					w.d.start(w.newContainer(c.name))
				}
			}
		case r < 54: // docker rename
			if c := w.pick(w.rng.Intn(2) == 0); c != nil {
				w.d.rename(c, c.name+"x")
			}
		case r < 60: // a new container
			w.d.start(w.newContainer(fmt.Sprintf("new%d", len(w.ctrs))))
		case r < 72: // health checks: noise that rolls the daemon's buffer over
			if c := w.pick(true); c != nil {
				for range 1 + w.rng.Intn(40) {
					w.d.exec(c)
					time.Sleep(time.Duration(w.rng.Intn(50)) * time.Millisecond)
				}
			}
		case r < 75: // the daemon restarts
			w.restarts++
			w.d.shutdown()
			w.sleep(time.Duration(1+w.rng.Intn(20)) * time.Second)
			w.d.boot()
		case r < 77: // the daemon's clock steps back
			if !clockSteps {
				continue
			}
			w.steps++
			w.d.stepBack(time.Duration(1+w.rng.Intn(120)) * time.Second)
		default: // kill -9 whalewatch; down for a while
			if w.up() && len(w.kills) < 4 {
				w.kill()
				downUntil = time.Now().Add(time.Duration(w.rng.Intn(60)) * time.Second)
			}
		}
	}
	if !w.up() {
		w.start()
	}
	// The end: nothing more happens; every window closes, loops recover,
	// incidents resolve, the destination takes everything.
	w.sleep(6 * time.Minute)
	synctest.Wait()
	w.proc.cancel()
	<-w.proc.done
	w.left = w.proc.store.Len("sink")
	_ = w.proc.store.Close()
}

func fmtRestarts(it event.Item) string {
	s := ""
	if it.Event.Restarts != nil {
		s += fmt.Sprintf("ev=%d ", *it.Event.Restarts)
	}
	for id, c := range it.Listed {
		if c.Restarts != nil {
			s += fmt.Sprintf("%s=%d ", id[56:], *c.Restarts)
		} else {
			s += id[56:] + "=nil "
		}
	}
	return s
}

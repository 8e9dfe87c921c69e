package notify

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
)

// The dispatcher's fault simulator (the alert core's, with kills, is in
// alert/sim_test.go): seeded schedules run the real Dispatcher, lanes and
// bbolt file with a destination that fails now and then, a poison
// notification that fails retryably for ever (with, behind it, later
// notifications about the same container), and a disk that fails every
// write (ENOSPC, EIO, EROFS) from any commit or removal on and recovers
// later. Invariants, on every schedule: nothing is lost while the process
// lives (every notification but the poison's container's is delivered,
// whatever the disk does); nothing is sent twice; each container's
// notifications arrive in order; the poison holds back only its own
// container's (the others all arrive while it is still being retried);
// once the disk recovers the file holds exactly what is left. SIM_SEED=n
// replays one schedule.
func TestDispatcherSimulation(t *testing.T) {
	schedules := 2000
	if testing.Short() {
		schedules = 200
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
	var st dispatchStats
	start := time.Now()
	for seed := first; seed < first+int64(schedules); seed++ {
		playDispatch(t, seed, filepath.Join(dir, fmt.Sprint(seed)), &st)
		if t.Failed() {
			t.Fatalf("seed %d failed; replay it with SIM_SEED=%d go test ./notify -run TestDispatcherSimulation -v", seed, seed)
		}
	}
	t.Logf("%d schedules in %s: %d notifications delivered (%d retried failures), %d poisons tried %d times, %d disk outages (%d writes failed)",
		schedules, time.Since(start).Round(time.Millisecond), st.delivered, st.failures, st.poisons, st.poisonTries, st.outages, st.failedWrites)
}

type dispatchStats struct{ delivered, failures, poisons, poisonTries, outages, failedWrites int }

// simSink fails a notification's attempt when a hash of its id and the
// attempt says so (the same on every run of a seed), and POISON always.
type simSink struct {
	mu          sync.Mutex
	failRate    uint32
	attempts    map[string]int
	got         []Notification
	poisonTries int
	failures    int
	changed     chan struct{} // signalled at every delivery
}

func (s *simSink) Notify(ctx context.Context, n Notification) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n.Rule == "POISON" {
		s.poisonTries++
		return true, errors.New("503 for ever")
	}
	s.attempts[n.ID]++
	h := fnv.New32a()
	fmt.Fprint(h, n.ID, s.attempts[n.ID])
	if h.Sum32()%100 < s.failRate {
		s.failures++
		return true, errors.New("502 now and then")
	}
	s.got = append(s.got, n)
	select {
	case s.changed <- struct{}{}:
	default:
	}
	return false, nil
}

func (s *simSink) delivered() []Notification {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Notification(nil), s.got...)
}

func playDispatch(t *testing.T, seed int64, dir string, st *dispatchStats) {
	rng := rand.New(rand.NewSource(seed))
	fault := &seam{}
	var failedWrites atomic.Int64
	store, err := state.OpenWith(dir, state.Options{NoSync: true, BeforeWrite: func(op string) error {
		err := fault.before(op)
		if err != nil {
			failedWrites.Add(1)
		}
		return err
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sink := &simSink{failRate: uint32(rng.Intn(30)), attempts: map[string]int{}, changed: make(chan struct{}, 1)}
	d := NewDispatcher(quietLog(), metrics.New(), store, 100_000, Destination{Name: "sink", Notifier: sink, Concurrency: 1 + rng.Intn(6)})
	d.RetryMin, d.RetryMax, d.RetryFor = time.Millisecond, 3*time.Millisecond, time.Hour
	d.StateRetryMin, d.StateRetryMax = time.Millisecond, 5*time.Millisecond
	d.DrainTimeout, d.ReportEvery = time.Millisecond, time.Hour
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// The plan: notifications about a few containers, a poison among them.
	containers := 2 + rng.Intn(8)
	total := 20 + rng.Intn(60)
	poisonAt := -1
	if rng.Intn(4) > 0 {
		poisonAt = rng.Intn(total)
		st.poisons++
	}
	order := map[string][]string{} // container → ids in commit order
	held := map[string]bool{}      // the poison's container: held behind it
	sent := 0
	for sent < total {
		burst := 1 + rng.Intn(8)
		var out []Outgoing
		for ; burst > 0 && sent < total; burst-- {
			ctr := fmt.Sprint("c", rng.Intn(containers))
			rule := fmt.Sprint("R", sent)
			if sent == poisonAt {
				ctr, rule = "poisoned", "POISON"
			} else if poisonAt >= 0 && sent > poisonAt && rng.Intn(6) == 0 {
				ctr = "poisoned" // behind the poison: must wait
			}
			n := New(rule, "", event.Event{Host: "h", Type: "container", Action: "die", ActorID: ctr, Name: ctr, ExitCode: 1, TimeNano: int64(sent + 1)}, nil)
			if ctr == "poisoned" {
				held[n.ID] = true
			} else {
				order[ctr] = append(order[ctr], n.ID)
			}
			out = append(out, Outgoing{N: n})
			sent++
		}
		if err := d.Commit(out, state.Snapshot{Cursors: map[string]int64{"h": int64(sent)}}); err != nil {
			t.Errorf("seed %d: commit: %v", seed, err)
		}
		switch r := rng.Intn(10); {
		case r < 2:
			fault.fail([]error{syscall.ENOSPC, syscall.EIO, syscall.EROFS}[rng.Intn(3)])
			st.outages++
		case r < 4:
			fault.heal()
		}
		if rng.Intn(3) == 0 {
			runtime.Gosched() // let deliveries interleave with commits
		}
	}
	want := 0
	for _, ids := range order {
		want += len(ids)
	}
	// The sentinel: everything not behind the poison delivered, while the
	// poison is still being retried (RetryFor is an hour).
	deadline := time.Now().Add(30 * time.Second)
	count := func() int {
		n := 0
		for _, x := range sink.delivered() {
			if x.Event.Type != event.SelfType {
				n++
			}
		}
		return n
	}
	if !await(sink.changed, time.Until(deadline), func() bool { return count() >= want }) {
		t.Errorf("seed %d: only %d of %d notifications delivered in 30 s (poison: %v, disk: %v)", seed, count(), want, poisonAt >= 0, fault.before(""))
		return
	}
	seen := map[string]bool{}
	next := map[string]int{}
	for _, x := range sink.delivered() {
		if x.Event.Type == event.SelfType {
			continue
		}
		if seen[x.ID] {
			t.Errorf("seed %d: %s (%s) delivered twice", seed, x.ID, x.Rule)
		}
		seen[x.ID] = true
		if held[x.ID] {
			t.Errorf("seed %d: %s went ahead of the poison before it about the same container", seed, x.Rule)
			continue
		}
		ctr := x.Event.ActorID
		if i := next[ctr]; i >= len(order[ctr]) || order[ctr][i] != x.ID {
			t.Errorf("seed %d: container %s: %s out of order", seed, ctr, x.Rule)
		}
		next[ctr]++
	}
	// The disk recovers: the file holds what is left (the poison's container).
	fault.heal()
	timeout := time.After(30 * time.Second)
	for {
		changed := store.Changed() // before the look: no change slips between
		if store.WriteError() == nil && store.Len("sink") == len(held) {
			break
		}
		select {
		case <-changed:
		case <-timeout:
			t.Errorf("seed %d: after the disk recovered: write error %v, %d left in the outbox, want %d", seed, store.WriteError(), store.Len("sink"), len(held))
			return
		}
	}
	sink.mu.Lock()
	st.delivered += len(sink.got)
	st.failures += sink.failures
	st.poisonTries += sink.poisonTries
	sink.mu.Unlock()
	st.failedWrites += int(failedWrites.Load())
}

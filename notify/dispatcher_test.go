package notify

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"go.uber.org/goleak"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// scripted answers Notify from a list of results, then succeeds.
type scripted struct {
	mu      sync.Mutex
	results []error
	retry   bool
	got     []string
	times   []time.Time
	block   chan struct{} // when set, Notify waits on it
}

func (s *scripted) Notify(ctx context.Context, n Notification) (bool, error) {
	if s.block != nil {
		select {
		case <-s.block:
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.times = append(s.times, time.Now())
	if len(s.results) > 0 {
		err := s.results[0]
		s.results = s.results[1:]
		return s.retry, err
	}
	s.got = append(s.got, n.Rule)
	return false, nil
}

func (s *scripted) delivered() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.got...)
}

func tempStore(t *testing.T) *state.Store {
	s, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

var noteSeq atomic.Int64

// note makes a new notification of rule: each call is about another event.
func note(rule string) Notification {
	return New(rule, "", event.Event{Type: "container", Action: "die", Name: rule, ExitCode: 1, TimeNano: noteSeq.Add(1)}, nil)
}

// send queues one notification as the alert core does (with no checkpoint).
func send(tb testing.TB, d *Dispatcher, n Notification, to []string) {
	tb.Helper()
	if err := d.Commit([]Outgoing{{N: n, To: to}}, state.Snapshot{}); err != nil {
		tb.Fatal(err)
	}
}

// The outbox refuses an id it holds or delivered recently: a replay after
// a crash is not sent again.
func TestCommitRefusesKnownIDs(t *testing.T) {
	dst := &scripted{}
	d := NewDispatcher(quietLog(), metrics.New(), tempStore(t), 10, Destination{Name: "d", Notifier: dst})
	a := note("A")
	send(t, d, a, nil)
	send(t, d, a, nil) // still queued
	stop := runDispatcher(t, d)
	defer stop()
	waitFor(t, func() bool { return len(dst.delivered()) == 1 })
	send(t, d, a, nil)         // delivered
	send(t, d, note("B"), nil) // the sentinel
	waitFor(t, func() bool { return len(dst.delivered()) == 2 })
	if got := dst.delivered(); got[0] != "A" || got[1] != "B" {
		t.Errorf("delivered %v", got)
	}
}

func runDispatcher(t *testing.T, d *Dispatcher) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	return func() { cancel(); <-done }
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// noteAbout is note about one container: its notifications share an
// order key.
func noteAbout(rule, container string) Notification {
	return New(rule, "", event.Event{Type: "container", Action: "die", Name: rule, ActorID: container, ExitCode: 1, TimeNano: noteSeq.Add(1)}, nil)
}

// Notifications about one container stay in order through retries.
func TestDispatcherRetriesInOrderAndHonoursRetryAfter(t *testing.T) {
	flaky := &scripted{retry: true, results: []error{
		errors.New("500"),
		&RetryAfterError{After: time.Second, Err: errors.New("429")},
	}}
	d := NewDispatcher(quietLog(), metrics.New(), tempStore(t), 10, Destination{Name: "flaky", Notifier: flaky})
	d.RetryMin, d.RetryMax = 10*time.Millisecond, 50*time.Millisecond
	stop := runDispatcher(t, d)
	defer stop()
	send(t, d, noteAbout("A", "c1"), nil)
	send(t, d, noteAbout("B", "c1"), nil)
	waitFor(t, func() bool { return len(flaky.delivered()) == 2 })
	if got := flaky.delivered(); got[0] != "A" || got[1] != "B" {
		t.Errorf("order = %v", got)
	}
	flaky.mu.Lock()
	defer flaky.mu.Unlock()
	if gap := flaky.times[2].Sub(flaky.times[1]); gap < time.Second {
		t.Errorf("retried %s after a Retry-After of 1s", gap)
	}
}

func TestDispatcherGivesUpOnPermanentErrors(t *testing.T) {
	bad := &scripted{retry: false, results: []error{errors.New("404")}}
	m := metrics.New()
	d := NewDispatcher(quietLog(), m, tempStore(t), 10, Destination{Name: "bad", Notifier: bad})
	stop := runDispatcher(t, d)
	send(t, d, note("A"), nil)
	send(t, d, note("B"), nil)
	waitFor(t, func() bool { return len(bad.delivered()) == 1 })
	stop()
	if len(bad.times) != 2 {
		t.Errorf("%d attempts, want 2 (one each, no retry of the 404)", len(bad.times))
	}
}

// A slow destination holds up neither Send nor the other destinations.
func TestDispatcherIsolatesSlowDestinationsAndReportsDrops(t *testing.T) {
	slow := &scripted{block: make(chan struct{})}
	fast := &scripted{}
	d := NewDispatcher(quietLog(), metrics.New(), tempStore(t), 2, Destination{Name: "slow", Notifier: slow}, Destination{Name: "fast", Notifier: fast})
	d.ReportEvery = 50 * time.Millisecond
	stop := runDispatcher(t, d)
	defer stop()
	start := time.Now()
	for range 5 { // slow holds at most one and queues two: the rest is dropped
		send(t, d, note("X"), []string{"slow"})
	}
	send(t, d, note("Y"), []string{"fast"})
	if time.Since(start) > 100*time.Millisecond {
		t.Error("Send blocked on a slow destination")
	}
	waitFor(t, func() bool { return len(fast.delivered()) == 2 }) // Y and the drop report
	if got := fast.delivered(); got[0] != "Y" || got[1] != "WHALEWATCH" {
		t.Errorf("fast got %v, want Y then the drop report", got)
	}
	close(slow.block)
}

func TestDispatcherRoutesByName(t *testing.T) {
	a, b := &scripted{}, &scripted{}
	d := NewDispatcher(quietLog(), metrics.New(), tempStore(t), 10, Destination{Name: "a", Notifier: a}, Destination{Name: "b", Notifier: b})
	stop := runDispatcher(t, d)
	send(t, d, note("only-b"), []string{"b"})
	send(t, d, note("both"), nil)
	waitFor(t, func() bool { return len(a.delivered()) == 1 && len(b.delivered()) == 2 })
	stop()
}

// On shutdown what is queued is still delivered.
func TestDispatcherDrainsOnShutdown(t *testing.T) {
	dst := &scripted{}
	d := NewDispatcher(quietLog(), metrics.New(), tempStore(t), 100, Destination{Name: "d", Notifier: dst})
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // already stopping when the notifications arrive
	for range 20 {
		send(t, d, note("N"), nil)
	}
	_ = d.Run(ctx)
	if n := len(dst.delivered()); n != 20 {
		t.Errorf("delivered %d of 20 on shutdown", n)
	}
}

// gate holds incident A's first message until B's arrives: with Concurrency above 1, a
// slow message does not hold up another incident, and each incident's
// messages still come in order.
type gate struct {
	mu      sync.Mutex
	order   []string
	bCame   chan struct{}
	allDone chan struct{}
	want    int
}

func (g *gate) Notify(ctx context.Context, n Notification) (bool, error) {
	if n.Incident.ID == "A" && n.Incident.Seq == 1 {
		select {
		case <-g.bCame:
		case <-ctx.Done():
			return true, ctx.Err()
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	g.order = append(g.order, fmt.Sprintf("%s%d", n.Incident.ID, n.Incident.Seq))
	if n.Incident.ID == "B" {
		close(g.bCame)
	}
	if len(g.order) == g.want {
		close(g.allDone)
	}
	return false, nil
}

func TestLanesKeepEachIncidentInOrder(t *testing.T) {
	g := &gate{bCame: make(chan struct{}), allDone: make(chan struct{}), want: 4}
	d := NewDispatcher(quietLog(), metrics.New(), tempStore(t), 100, Destination{Name: "d", Notifier: g, Concurrency: 8})
	for _, inc := range []struct {
		id  string
		seq int
	}{{"A", 1}, {"A", 2}, {"A", 3}, {"B", 1}} {
		n := note(inc.id + fmt.Sprint(inc.seq))
		n.Incident = &Incident{ID: inc.id, Seq: inc.seq}
		send(t, d, n, nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = d.Run(ctx); close(done) }()
	<-g.allDone
	cancel()
	<-done
	if got := fmt.Sprint(g.order); got != "[B1 A1 A2 A3]" {
		t.Errorf("delivered %s; want B while A waits, then A in order", got)
	}
}

// Failing names a destination whose deliveries are being retried, from
// the first failed try until one succeeds. In a synctest bubble: each try
// is awaited with synctest.Wait, the retries' clock is the bubble's.
func TestFailingWhileRetried(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		down := &scripted{results: []error{errors.New("503"), errors.New("503")}, retry: true}
		up := &scripted{}
		d := NewDispatcher(slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.New(), tempStore(t), 100,
			Destination{Name: "down", Notifier: down, Concurrency: 1}, Destination{Name: "up", Notifier: up, Concurrency: 1})
		d.RetryMin, d.RetryMax = 200*time.Millisecond, 200*time.Millisecond
		if name, _ := d.Failing(); name != "" {
			t.Fatalf("failing before anything: %s", name)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- d.Run(ctx) }()
		defer func() { cancel(); <-done }()
		before := time.Now()
		n := New("R", "", event.Event{Host: "h", Type: "container", Action: "die", ActorID: "a", TimeNano: 1}, nil)
		if err := d.Commit([]Outgoing{{N: n}}, state.Snapshot{}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait() // the first try failed; its retry waits for the clock
		name, since := d.Failing()
		if name != "down" || since.Before(before) {
			t.Fatalf("failing: %q since %v", name, since)
		}
		time.Sleep(5 * d.RetryMax) // the bubble's clock: the second try fails, the third succeeds
		synctest.Wait()            // and its Notify returned
		if name, _ = d.Failing(); name != "" {
			t.Errorf("still failing after a success: %s", name)
		}
	})
}

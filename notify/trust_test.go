package notify

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
)

// recorder delivers everything but the notifications of rule POISON,
// which always fail retryably (a 503 for ever).
type recorder struct {
	mu      sync.Mutex
	got     []Notification
	poisons atomic.Int64  // attempts of POISON
	changed chan struct{} // signalled at every delivery, once asked for
}

func (r *recorder) Notify(ctx context.Context, n Notification) (bool, error) {
	if n.Rule == "POISON" {
		r.poisons.Add(1)
		return true, errors.New("503 Service Unavailable")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, n)
	if r.changed != nil {
		select {
		case r.changed <- struct{}{}:
		default:
		}
	}
	return false, nil
}

// changes is signalled at every delivery from now on.
func (r *recorder) changes() <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.changed == nil {
		r.changed = make(chan struct{}, 1)
	}
	return r.changed
}

// await waits until cond holds, checking it again at every change (no
// polling), and reports false when timeout passed first.
func await(changes <-chan struct{}, timeout time.Duration, cond func() bool) bool {
	deadline := time.After(timeout)
	for !cond() {
		select {
		case <-changes:
		case <-deadline:
			return cond()
		}
	}
	return true
}

func (r *recorder) all() []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

func (r *recorder) rules() []string {
	var out []string
	for _, n := range r.all() {
		out = append(out, n.Rule)
	}
	return out
}

// One notification retried for NOTIFY_RETRY_FOR holds back only the
// notifications of its own incident, group or container, never the
// others: with any concurrency, every other notification is delivered
// while the poison is still being retried, each container's in order.
func TestPoisonNotificationHoldsBackOnlyItsOwnKey(t *testing.T) {
	for _, concurrency := range []int{1, 3, 8} {
		t.Run(fmt.Sprint("concurrency=", concurrency), func(t *testing.T) {
			dst := &recorder{}
			d := NewDispatcher(quietLog(), metrics.New(), tempStore(t), 100, Destination{Name: "d", Notifier: dst, Concurrency: concurrency})
			d.RetryMin, d.RetryMax, d.RetryFor = time.Millisecond, 5*time.Millisecond, time.Hour
			d.DrainTimeout = 10 * time.Millisecond // the poison would be retried through all of it
			send(t, d, noteAbout("POISON", "c0"), nil)
			send(t, d, noteAbout("AFTER-POISON", "c0"), nil) // same container: must wait
			var want []string
			for i := range 30 {
				rule := fmt.Sprintf("R%02d", i)
				send(t, d, noteAbout(rule, fmt.Sprint("c", 1+i%10)), nil)
				want = append(want, rule)
			}
			stop := runDispatcher(t, d)
			defer stop()
			if !await(dst.changes(), 30*time.Second, func() bool { return len(dst.all()) >= len(want) }) {
				t.Fatalf("after 30 s only %d of %d others delivered (%v); the poison was tried %d times", len(dst.all()), len(want), dst.rules(), dst.poisons.Load())
			}
			if dst.poisons.Load() == 0 {
				t.Fatal("the poison was never tried")
			}
			last := map[string]string{}
			for _, n := range dst.all() {
				if n.Rule == "AFTER-POISON" {
					t.Errorf("a notification went ahead of the one before it about the same container")
				}
				if prev := last[n.Event.ActorID]; prev > n.Rule {
					t.Errorf("container %s: %s after %s", n.Event.ActorID, n.Rule, prev)
				}
				last[n.Event.ActorID] = n.Rule
			}
		})
	}
}

// seam fails every write of the state file while broken holds an error.
type seam struct{ broken atomic.Pointer[error] }

func (s *seam) before(string) error {
	if p := s.broken.Load(); p != nil {
		return *p
	}
	return nil
}

func (s *seam) fail(err error) { s.broken.Store(&err) }
func (s *seam) heal()          { s.broken.Store(nil) }

func notices(r *recorder, action string) int {
	n := 0
	for _, x := range r.all() {
		if x.Event.Type == event.SelfType && x.Event.Action == action {
			n++
		}
	}
	return n
}

// A full disk (or EIO, or a read-only remount) stops nothing: the alert
// core's commits succeed, notifications are delivered from memory, every
// destination is told (state_unwritable), the gauge says 0; once the disk
// takes writes again, what waited is written (state_writable) and the
// outbox is empty.
func TestUnwritableStateStillDeliversAndSaysSo(t *testing.T) {
	fault := &seam{}
	store, err := state.OpenWith(t.TempDir(), state.Options{BeforeWrite: fault.before})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a, b := &recorder{}, &recorder{}
	m := metrics.New()
	d := NewDispatcher(quietLog(), m, store, 100, Destination{Name: "a", Notifier: a}, Destination{Name: "b", Notifier: b, Concurrency: 4})
	d.StateRetryMin, d.StateRetryMax = 5*time.Millisecond, 20*time.Millisecond
	stop := runDispatcher(t, d)
	defer stop()
	send(t, d, note("BEFORE"), nil)
	waitFor(t, func() bool { return len(a.all()) == 1 && len(b.all()) == 1 })

	fault.fail(syscall.ENOSPC)
	for i := range 20 {
		n := note(fmt.Sprint("N", i))
		if err := d.Commit([]Outgoing{{N: n}}, state.Snapshot{Cursors: map[string]int64{"h": int64(i)}}); err != nil {
			t.Fatalf("Commit on a full disk: %v", err)
		}
	}
	waitFor(t, func() bool {
		return notices(a, "state_unwritable") == 1 && notices(b, "state_unwritable") == 1 && len(a.all()) == 22 && len(b.all()) == 22
	})
	if got := value(m.StateWritable); got != 0 {
		t.Errorf("whalewatch_state_writable = %v while the disk is full", got)
	}
	if value(m.StateWriteFailures) == 0 {
		t.Error("no write failure counted")
	}
	for _, x := range a.all() {
		if x.Event.Action == "state_unwritable" && !strings.Contains(x.Event.Attributes["reason"], "no space left") {
			t.Errorf("notice without the reason: %+v", x.Event.Attributes)
		}
	}

	fault.heal()
	waitFor(t, func() bool { return notices(a, "state_writable") == 1 && notices(b, "state_writable") == 1 })
	waitFor(t, func() bool { return store.Len("a") == 0 && store.Len("b") == 0 && store.WriteError() == nil })
	if got := value(m.StateWritable); got != 1 {
		t.Errorf("whalewatch_state_writable = %v after recovery", got)
	}
	if snap, _ := store.LoadSnapshot(); snap.Cursors["h"] != 19 {
		t.Errorf("checkpoint after recovery: %+v", snap.Cursors)
	}
	for _, r := range []*recorder{a, b} {
		seen := map[string]bool{}
		for _, x := range r.all() {
			if seen[x.ID] {
				t.Errorf("%s delivered twice", x.Rule)
			}
			seen[x.ID] = true
		}
	}
}

func value(c prometheus.Metric) float64 {
	var m dto.Metric
	_ = c.Write(&m)
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// An outbox page damaged while whalewatch runs (after the check at open)
// costs the entries on it — counted, logged and announced on the other
// destinations — and never stalls the destination: everything after it
// is delivered.
func TestDamagedOutboxPageIsSkippedNotStalled(t *testing.T) {
	dir := t.TempDir()
	store, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	const total = 1000
	var msgs []state.Message
	for i := range total {
		n := note(fmt.Sprintf("R%04d", i))
		n.Text = strings.Repeat("x", 300)
		data, _ := json.Marshal(n)
		msgs = append(msgs, state.Message{ID: n.ID, Data: data, Dests: []string{"a"}})
	}
	if _, err := store.Commit(msgs, state.Snapshot{}, 1<<20, time.Now()); err != nil {
		t.Fatal(err)
	}
	store.Close()
	path := filepath.Join(dir, state.FileName)
	file, _ := os.ReadFile(path)
	page := os.Getpagesize()
	damaged := false
	for p := len(file)/page/2 + 1; p*page < len(file); p++ {
		if bytes.Contains(file[p*page:(p+1)*page], []byte(`"rule":"R`)) {
			for i := range page {
				file[p*page+i] = 0xff
			}
			damaged = true
			break
		}
	}
	if !damaged {
		t.Fatal("no outbox page found to damage")
	}
	if err := os.WriteFile(path, file, 0o600); err != nil {
		t.Fatal(err)
	}
	store, err = state.OpenWith(dir, state.Options{SkipCheck: true}) // as if it broke after the check
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	a, b := &recorder{}, &recorder{}
	m := metrics.New()
	d := NewDispatcher(quietLog(), m, store, 1<<20, Destination{Name: "a", Notifier: a, Concurrency: 4}, Destination{Name: "b", Notifier: b})
	d.ReportEvery = 20 * time.Millisecond
	stop := runDispatcher(t, d)
	defer stop()
	if !await(b.changes(), 10*time.Second, func() bool { return notices(b, "notifications_unreadable") > 0 }) {
		t.Fatalf("no notice; a got %d, unreadable %v, b got %v", len(a.all()), value(m.OutboxUnreadable.WithLabelValues("a")), b.rules())
	}
	lost := int(value(m.OutboxUnreadable.WithLabelValues("a")))
	others := func() (n int) {
		for _, x := range a.all() {
			if x.Event.Type != event.SelfType { // a damaged page can also make the file unwritable (a notice)
				n++
			}
		}
		return n
	}
	if !await(a.changes(), 10*time.Second, func() bool { return others() == total-lost }) {
		got := map[string]int{}
		for _, x := range a.all() {
			got[x.Rule]++
		}
		var missing, twice []string
		for i := range total {
			r := fmt.Sprintf("R%04d", i)
			if got[r] == 0 {
				missing = append(missing, r)
			}
			if got[r] > 1 {
				twice = append(twice, r)
			}
		}
		t.Fatalf("a got %d, want %d - %d lost; missing %v, twice %v; write error %v; left %d", len(a.all()), total, lost, missing, twice, store.WriteError(), store.Len("a"))
	}
	if lost == 0 || lost > 100 {
		t.Errorf("%d entries lost to one damaged page", lost)
	}
	if !slices.Contains(a.rules(), fmt.Sprintf("R%04d", total-1)) {
		t.Errorf("the last notification was not delivered: the queue after the damage was not")
	}
	for _, x := range b.all() {
		if x.Event.Action == "notifications_unreadable" && x.Event.Attributes["count"] != fmt.Sprint(lost) {
			t.Errorf("notice says %s lost, the metric %d", x.Event.Attributes["count"], lost)
		}
	}
}

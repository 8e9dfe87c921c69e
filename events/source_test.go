package events

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	mobyevents "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// fakeDocker streams what the test sends; other calls answer empty.
type fakeDocker struct {
	Docker
	messages chan mobyevents.Message
}

func (f *fakeDocker) ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error) {
	return client.ContainerListResult{}, nil
}

func (f *fakeDocker) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	return client.SystemInfoResult{}, nil // not in a swarm
}

func (f *fakeDocker) Events(context.Context, client.EventsListOptions) client.EventsResult {
	return client.EventsResult{Messages: f.messages, Err: make(chan error)}
}

// run starts src on a fresh queue of n items and stops it when the test ends.
func run(t *testing.T, src *Source, n int) chan event.Item {
	t.Helper()
	out := make(chan event.Item, n)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = src.Run(ctx, out); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return out
}

// until reads events (not container lists) until one satisfies last, and
// returns them all, last included.
func until(t *testing.T, out <-chan event.Item, last func(event.Event) bool) []event.Event {
	t.Helper()
	var got []event.Event
	timeout := time.After(10 * time.Second)
	for {
		select {
		case it := <-out:
			if it.Listed != nil {
				continue
			}
			got = append(got, it.Event)
			if last(it.Event) {
				return got
			}
		case <-timeout:
			t.Fatalf("timed out; got %d events: %+v", len(got), got)
		}
	}
}

func msg(action, id string, nano int64, attrs map[string]string) mobyevents.Message {
	a := map[string]string{"name": "db-" + id, "image": "db"}
	maps.Copy(a, attrs)
	return mobyevents.Message{Type: "container", Action: mobyevents.Action(action), TimeNano: nano, Actor: mobyevents.Actor{ID: id, Attributes: a}}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// A full queue never blocks the reader and loses no death: deaths wait in
// a backlog and arrive in order; routine events (starts) are shed, and a
// fresh container list follows once there is room.
func TestSourceKeepsDeathsThroughAFullQueue(t *testing.T) {
	f := &fakeDocker{messages: make(chan mobyevents.Message)}
	src := NewSource("h", f, Options{Log: quiet(), Metrics: metrics.New()})
	out := run(t, src, 3)
	<-out // the container list
	for i := range 20 {
		m := msg("start", fmt.Sprintf("c%02d", i), int64(2*i+1), nil)
		if i%2 == 1 {
			m = msg("die", fmt.Sprintf("c%02d", i), int64(2*i+1), map[string]string{"exitCode": "1"})
		}
		select {
		case f.messages <- m:
		case <-time.After(time.Second):
			t.Fatalf("reader blocked at message %d", i)
		}
	}
	var deaths []string
	listed := false
	timeout := time.After(10 * time.Second)
	for !listed || len(deaths) < 10 {
		select {
		case it := <-out:
			switch {
			case it.Listed != nil:
				listed = true
			case it.Event.Action == "die":
				deaths = append(deaths, it.Event.ActorID)
			case it.Event.Type == event.SelfType:
				t.Fatalf("unexpected notice %+v", it.Event)
			}
		case <-timeout:
			t.Fatalf("got deaths %v, listed again %v", deaths, listed)
		}
	}
	if !slices.IsSorted(deaths) || len(deaths) != 10 {
		t.Errorf("deaths %v; want all ten, in order", deaths)
	}
}

// Only when the backlog is full too are deaths lost: counted, and
// reported as soon as there is room.
func TestSourceReportsDeathsLostBeyondTheBacklog(t *testing.T) {
	f := &fakeDocker{messages: make(chan mobyevents.Message)}
	src := NewSource("h", f, Options{Log: quiet(), Metrics: metrics.New()})
	out := run(t, src, 3)
	<-out
	const sent = maxBacklog + 3 + 5
	for i := range sent {
		f.messages <- msg("die", "c", int64(i+1), map[string]string{"exitCode": "1"})
	}
	passed, dropped := 0, 0
	for passed+dropped < sent {
		select {
		case it := <-out:
			ev := it.Event
			if ev.Type != event.SelfType {
				passed++
				continue
			}
			n, _ := strconv.Atoi(ev.Attributes["count"])
			dropped += n
		case <-time.After(10 * time.Second):
			t.Fatalf("%d passed and %d reported dropped; want %d in all", passed, dropped, sent)
		}
	}
	// Every death passed or was reported; the backlog held its share.
	if dropped == 0 || passed < maxBacklog {
		t.Errorf("%d passed, %d reported dropped; want the backlog's %d passed and the rest reported", passed, dropped, maxBacklog)
	}
}

// inspectDocker answers inspect with a fixed state, after a delay; when
// asked is set, it says there that it was asked.
type inspectDocker struct {
	fakeDocker
	state container.State
	delay time.Duration
	asked chan string
}

func (d *inspectDocker) ContainerInspect(ctx context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	select {
	case d.asked <- id: // nil: nobody listens
	default:
	}
	select {
	case <-time.After(d.delay):
	case <-ctx.Done():
		return client.ContainerInspectResult{}, ctx.Err()
	}
	var res client.ContainerInspectResult
	st := d.state
	res.Container.State = &st
	return res, nil
}

// The daemon sends one OOM kill's oom event 1–7 times, before the die,
// after it, or not at all. Whatever the order, the source passes on one
// oom event and the die marked OOMKilled, in that order. Seeded: a failure
// names its seed.
func TestSourceReportsAnOOMKillOnceWhateverTheOrder(t *testing.T) {
	for seed := int64(1); seed <= 40; seed++ {
		rng := rand.New(rand.NewSource(seed))
		repeats := rng.Intn(8) // 0: the daemon never sends it
		before := 0
		if repeats > 0 {
			before = rng.Intn(repeats + 1)
		}
		late := rng.Intn(2) == 0 // the ones after the die come after the source asked the daemon
		f := &inspectDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, state: container.State{OOMKilled: true, ExitCode: 137},
			asked: make(chan string, 1)}
		src := NewSource("h", f, Options{Log: quiet(), Metrics: metrics.New(), OOMWait: 20 * time.Millisecond})
		out := run(t, src, 64)
		nano := int64(0)
		next := func() int64 { nano++; return nano }
		for range before {
			f.messages <- msg("oom", "c1", next(), nil)
		}
		f.messages <- msg("die", "c1", next(), map[string]string{"exitCode": "137"})
		if late && before == 0 {
			<-f.asked // the wait for an oom event is over: the source asked the daemon
		}
		for range repeats - before {
			f.messages <- msg("oom", "c1", next(), nil)
		}
		f.messages <- msg("destroy", "c1", next(), nil) // the sentinel, after everything of c1
		got := until(t, out, func(ev event.Event) bool { return ev.Action == "destroy" })
		var seen []string
		for _, ev := range got {
			seen = append(seen, fmt.Sprintf("%s/%v", ev.Action, ev.OOMKilled))
		}
		if strings.Join(seen, " ") != "oom/false die/true destroy/false" {
			t.Errorf("seed %d (%d oom events, %d before the die, late=%v): %v; want one oom, the die marked OOMKilled, the destroy",
				seed, repeats, before, late, seen)
		}
	}
}

// A label can shadow a daemon attribute: Docker copies labels over the
// event's attributes, so a container labelled exitCode=0 that exits 3
// sends a die with exitCode "0". The source learns the shadow (an exitCode
// on a start event) and takes the exit code from inspect.
func TestSourceTakesShadowedAttributesFromInspect(t *testing.T) {
	f := &inspectDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, state: container.State{ExitCode: 3}, delay: 300 * time.Millisecond}
	src := NewSource("h", f, Options{Log: quiet(), Metrics: metrics.New()})
	out := run(t, src, 64)
	label := map[string]string{"exitCode": "0", "signal": "SIGTERM"}
	f.messages <- msg("start", "c1", 1, label)
	f.messages <- msg("die", "c1", 2, label)
	f.messages <- msg("destroy", "c1", 3, label)
	// Meanwhile another container's events are not held up by the inspect.
	f.messages <- msg("die", "c2", 4, map[string]string{"exitCode": "1"})
	got := until(t, out, func(ev event.Event) bool { return ev.ActorID == "c2" })
	if len(got) != 2 || got[0].Action != "start" {
		t.Fatalf("the slow inspect held up other events: %+v", got)
	}
	got = until(t, out, func(ev event.Event) bool { return ev.Action == "destroy" })
	die := got[0]
	if die.Action != "die" || die.ExitCode != 3 || die.Attributes["exitCode"] != "3" || !slices.Equal(die.Verified, []string{"exitCode"}) {
		t.Errorf("die = %+v; want exit code 3 from inspect", die)
	}
	f.messages <- msg("kill", "c1", 5, map[string]string{"signal": "SIGKILL"}) // after destroy: shadows forgotten
	if kill := until(t, out, func(event.Event) bool { return true })[0]; kill.Attributes["signal"] != "SIGKILL" {
		t.Errorf("kill after destroy lost its signal: %+v", kill)
	}
}

// An inspect that fails (the daemon is too slow, or the container is gone)
// still gives one death, with the exit code unknown rather than the label's.
func TestSourceReportsShadowedDeathWhenInspectFails(t *testing.T) {
	f := &inspectDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, delay: time.Hour}
	src := NewSource("h", f, Options{Log: quiet(), Metrics: metrics.New(), InspectTimeout: 50 * time.Millisecond})
	out := run(t, src, 64)
	f.messages <- msg("start", "c1", 1, map[string]string{"exitCode": "0"})
	f.messages <- msg("die", "c1", 2, map[string]string{"exitCode": "0"})
	got := until(t, out, func(ev event.Event) bool { return ev.Action == "die" })
	if die := got[len(got)-1]; die.ExitCode != -1 || die.Attributes["exitCode"] != "" {
		t.Errorf("die = %+v; want the exit code unknown", die)
	}
}

// A daemon's strings become label values only from known sets: random
// types and actions keep the series of events_received few.
func TestSourceMetricsStayBounded(t *testing.T) {
	f := &fakeDocker{messages: make(chan mobyevents.Message)}
	m := metrics.New()
	out := run(t, NewSource("h", f, Options{Log: quiet(), Metrics: m}), 4096)
	rng := rand.New(rand.NewSource(7))
	for i := range 500 {
		f.messages <- mobyevents.Message{Type: mobyevents.Type(fmt.Sprint("t", rng.Int63())), Action: mobyevents.Action(fmt.Sprint("a", rng.Int63())), TimeNano: int64(i + 1)}
	}
	f.messages <- msg("destroy", "sentinel", 1000, nil)
	until(t, out, func(ev event.Event) bool { return ev.ActorID == "sentinel" })
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() == "whalewatch_events_received_total" && len(fam.GetMetric()) > 2 {
			t.Errorf("%d series after 500 random types and actions", len(fam.GetMetric()))
		}
	}
}

// managerDocker is a swarm manager, the leader or not.
type managerDocker struct {
	fakeDocker
	leader bool
}

func (m *managerDocker) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	var res client.SystemInfoResult
	res.Info.Swarm.ControlAvailable, res.Info.Swarm.NodeID = true, "n1"
	return res, nil
}

func (m *managerDocker) NodeInspect(_ context.Context, id string, _ client.NodeInspectOptions) (client.NodeInspectResult, error) {
	var res client.NodeInspectResult
	res.Node.ID, res.Node.ManagerStatus = id, &swarm.ManagerStatus{Leader: m.leader}
	return res, nil
}

// Every manager sends Swarm-scope events; by default only the leader's
// stream passes them, so N watched managers report each once.
func TestSourcePassesSwarmEventsFromTheLeaderOnly(t *testing.T) {
	for _, tc := range []struct {
		mode   string
		leader bool
		passes bool
	}{{SwarmLeader, true, true}, {SwarmLeader, false, false}, {SwarmAll, false, true}, {SwarmOff, true, false}} {
		f := &managerDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, leader: tc.leader}
		src := NewSource("h", f, Options{Log: quiet(), Metrics: metrics.New(), SwarmEvents: tc.mode})
		out := run(t, src, 16)
		f.messages <- mobyevents.Message{Type: "service", Action: "update", Scope: "swarm", TimeNano: 1,
			Actor: mobyevents.Actor{ID: "s1", Attributes: map[string]string{"name": "web", "updatestate.new": "rollback_started"}}}
		f.messages <- msg("destroy", "sentinel", 2, nil)
		got := until(t, out, func(ev event.Event) bool { return ev.ActorID == "sentinel" })
		if passed := len(got) == 2; passed != tc.passes {
			t.Errorf("mode %s, leader %v: passed %v, want %v", tc.mode, tc.leader, passed, tc.passes)
		}
	}
}

// clockDocker tells its clock in Info and records what Events was asked.
type clockDocker struct {
	fakeDocker
	now   time.Time
	since chan string
}

func (c *clockDocker) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	var res client.SystemInfoResult
	res.Info.SystemTime = c.now.Format(time.RFC3339Nano)
	return res, nil
}

func (c *clockDocker) Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	c.since <- opts.Since
	return c.fakeDocker.Events(ctx, opts)
}

// With nothing to resume, the stream starts at the daemon's clock read
// before the container list: an event between the list and the
// subscription is replayed, not missed.
func TestFirstStreamStartsAtTheDaemonsClock(t *testing.T) {
	now := time.Date(2026, 11, 29, 10, 0, 0, 123456789, time.UTC)
	d := &clockDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, now: now, since: make(chan string, 1)}
	run(t, NewSource("h", d, Options{Log: quiet(), Metrics: metrics.New()}), 8)
	if got := <-d.since; got != "1795946400.123456789" {
		t.Errorf("since = %q, want the daemon's clock 1795946400.123456789", got)
	}
}

// A replay with nothing since a cursor that names no event is a gap when
// the list has a container made after the cursor (and not just now, which
// the live stream brings): the daemon restarted and lost its history.
func TestAContainerMadeAfterAQuietCursorIsAGap(t *testing.T) {
	cursor := time.Unix(100, 360_000_000).UnixNano()
	now := time.Unix(154, 299_000_000)
	made := func(sec int64) []container.Summary { return []container.Summary{{ID: "c", Created: sec}} }
	for _, c := range []struct {
		created int64
		gap     bool
	}{{100, false}, {101, true}, {153, true}, {154, false}} {
		if got := createdSince(made(c.created), cursor, now); got != c.gap {
			t.Errorf("created at %d s, cursor at 100.36 s, clock at 154.3 s: gap %v, want %v", c.created, got, c.gap)
		}
	}
}

// The source judges a death once and hands the verdict on with it (the
// core does not run the rules again); an event whose settling changed
// what the rules see (a SIGKILL death the daemon then calls an OOM kill)
// goes on unjudged, and so does what the source does not judge (a start).
func TestSourceHandsTheVerdictOnWithTheDeath(t *testing.T) {
	f := &inspectDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, state: container.State{OOMKilled: true, ExitCode: 137}}
	judged := make(chan string, 8)
	src := NewSource("h", f, Options{Log: quiet(), Metrics: metrics.New(), OOMWait: time.Hour,
		Interest: FakeInterest{Match: func(ev event.Event) bool { judged <- ev.ActorID; return true },
			Watch: func(map[string]string) bool { return false }}}) // no evidence: c1's death is not held
	out := run(t, src, 64)
	f.messages <- msg("start", "c1", 1, nil)
	f.messages <- msg("die", "c1", 2, map[string]string{"exitCode": "1"})
	f.messages <- msg("die", "c2", 3, map[string]string{"exitCode": "137"}) // held for its oom event
	f.messages <- msg("oom", "c2", 4, nil)
	f.messages <- msg("destroy", "c2", 5, nil) // the sentinel
	verdicts := map[string]event.Verdict{}
	timeout := time.After(10 * time.Second)
	for _, done := verdicts["destroy/c2"]; !done; _, done = verdicts["destroy/c2"] {
		select {
		case it := <-out:
			if it.Event.Action != "" {
				verdicts[it.Event.Action+"/"+it.Event.ActorID] = it.Verdict
			}
		case <-timeout:
			t.Fatalf("timed out: %+v", verdicts)
		}
	}
	if v := verdicts["die/c1"]; !v.Judged || !slices.Equal(v.Rules, []int{0}) {
		t.Errorf("the death's verdict: %+v", v)
	}
	for _, k := range []string{"start/c1", "die/c2", "oom/c2", "destroy/c2"} {
		if v, ok := verdicts[k]; !ok || v.Judged {
			t.Errorf("%s: handed on %v, verdict %+v; want it unjudged", k, ok, v)
		}
	}
	if len(judged) != 2 {
		t.Errorf("judged %d times, want once per death", len(judged))
	}
}

package events

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	mobyevents "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// truthDocker has a clock, a container list that may block, and knows no
// container (inspect: "No such container").
type truthDocker struct {
	fakeDocker
	now     time.Time
	lists   atomic.Int32
	blockAt int32         // the list of this number (1 = the first) waits for release
	release chan struct{} // closed to let it answer
	blocked chan struct{} // closed when the list of number blockAt waits
}

func (d *truthDocker) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	var res client.SystemInfoResult
	res.Info.ID, res.Info.SystemTime = "DAEMON-ID", d.now.Format(time.RFC3339Nano)
	return res, nil
}

func (d *truthDocker) ContainerList(ctx context.Context, _ client.ContainerListOptions) (client.ContainerListResult, error) {
	if d.lists.Add(1) == d.blockAt {
		close(d.blocked)
		select {
		case <-d.release:
		case <-ctx.Done():
			return client.ContainerListResult{}, ctx.Err()
		}
	}
	return client.ContainerListResult{Items: []container.Summary{}}, nil
}

func (d *truthDocker) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	return client.ContainerInspectResult{}, fmt.Errorf("No such container: %s: %w", id, errdefs.ErrNotFound)
}

// items reads until last says stop, failing after 10 s.
func items(t *testing.T, out <-chan event.Item, last func(event.Item) bool) []event.Item {
	t.Helper()
	var got []event.Item
	timeout := time.After(10 * time.Second)
	for {
		select {
		case it := <-out:
			got = append(got, it)
			if last(it) {
				return got
			}
		case <-timeout:
			t.Fatalf("timed out; got %+v", got)
		}
	}
}

// The daemon's clock is behind the saved cursor (a VM restored, an NTP
// step): resuming from the cursor would replay nothing until the clock
// caught up, and the cursor would never move again. The source announces
// it, moves the cursor back to the daemon's clock, and reconciles by the
// container list: a container known running and now gone was removed.
func TestResumeBehindTheDaemonsClockReconcilesAndMovesTheCursor(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d := &truthDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, now: now}
	src := NewSource("h", d, Options{Log: quiet(), Metrics: metrics.New()})
	src.Restore(map[string]event.Resume{"DAEMON-ID": {Cursor: now.Add(time.Hour).UnixNano(),
		Running: map[string]event.Container{"c1": {Name: "web-1"}}}})
	out := run(t, src, 16)
	got := items(t, out, func(it event.Item) bool { return it.Event.Action == "destroy" })
	var cursor int64
	stepped := false
	for _, it := range got {
		if it.Cursor != 0 {
			cursor = it.Cursor
		}
		stepped = stepped || it.Event.Action == "clock_stepped_back"
		if it.Event.Action == "die" {
			t.Errorf("a removed container reported as a death: %+v", it.Event)
		}
		if it.Event.HostID != "DAEMON-ID" {
			t.Errorf("item without the daemon's ID: %+v", it)
		}
	}
	if cursor != now.UnixNano() || !stepped {
		t.Errorf("cursor moved to %d (want %d), announced %v", cursor, now.UnixNano(), stepped)
	}
}

// The clock steps back while the stream is open: the cursor follows it
// (else it would stay ahead and every later restart would resume nothing).
func TestClockSteppingBackWhileStreamingMovesTheCursor(t *testing.T) {
	now := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d := &truthDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, now: now}
	out := run(t, NewSource("h", d, Options{Log: quiet(), Metrics: metrics.New()}), 16)
	d.messages <- msg("start", "c1", now.UnixNano(), nil)
	back := now.Add(-time.Minute).UnixNano()
	d.messages <- msg("start", "c2", back, nil)
	got := items(t, out, func(it event.Item) bool { return it.Event.ActorID == "c2" })
	var cursor int64
	for _, it := range got {
		if it.Cursor != 0 {
			cursor = it.Cursor
		}
	}
	if cursor != back {
		t.Errorf("cursor moved to %d, want %d", cursor, back)
	}
}

// The container list that makes up for shed events takes seconds on a busy
// host; it runs beside the reader, which keeps reading meanwhile (a stalled
// reader makes the daemon drop events).
func TestSlowContainerListNeverBlocksTheReader(t *testing.T) {
	d := &truthDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, now: time.Now(), blockAt: 2, release: make(chan struct{}), blocked: make(chan struct{})}
	src := NewSource("h", d, Options{Log: quiet(), Metrics: metrics.New()})
	out := run(t, src, 4)
	<-out // the first list
	send := func(i int) {
		t.Helper()
		select {
		case d.messages <- msg("start", fmt.Sprintf("c%04d", i), int64(i+1), nil):
		case <-time.After(5 * time.Second):
			t.Fatalf("reader blocked at message %d", i)
		}
	}
	for i := range 10 { // fills the queue: starts are shed, a list is due
		send(i)
	}
	listed := make(chan struct{})
	go func() { // room again: the list is asked for on the next flush
		for it := range out {
			if it.Listed != nil {
				close(listed)
				return
			}
		}
	}()
	select { // the flush tick started the slow list
	case <-d.blocked:
	case <-time.After(10 * time.Second):
		t.Fatal("no list was asked for")
	}
	for i := range 200 { // the list is stuck; the reader is not
		send(100 + i)
	}
	close(d.release)
	<-listed
}

// A destroy ends incidents, crash loops and cooldowns: a full queue never
// sheds it like a routine event.
func TestFullQueueNeverShedsADestroy(t *testing.T) {
	f := &fakeDocker{messages: make(chan mobyevents.Message)}
	out := run(t, NewSource("h", f, Options{Log: quiet(), Metrics: metrics.New()}), 2)
	<-out
	for i := range 20 {
		f.messages <- msg("destroy", fmt.Sprintf("c%02d", i), int64(i+1), nil)
	}
	got := until(t, out, func(ev event.Event) bool { return ev.ActorID == "c19" })
	n := 0
	for _, ev := range got {
		if ev.Action == "destroy" {
			n++
		}
	}
	if n != 20 {
		t.Errorf("%d of 20 destroys arrived", n)
	}
}

// slowInfo fails /info a few times, then answers with the daemon's ID.
type slowInfo struct {
	fakeDocker
	fails  atomic.Int32
	opened atomic.Bool // Events was called
}

func (d *slowInfo) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	if d.fails.Add(-1) >= 0 {
		return client.SystemInfoResult{}, context.DeadlineExceeded
	}
	var res client.SystemInfoResult
	res.Info.ID = "DAEMON-ID"
	return res, nil
}

func (d *slowInfo) Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	if d.fails.Load() >= 0 {
		panic("the stream was opened before /info answered")
	}
	d.opened.Store(true)
	return d.fakeDocker.Events(ctx, opts)
}

// /info keys the state (the daemon's ID): a source waits and asks again
// rather than opening a stream it could not name, and every event then
// carries the ID.
func TestSourceWaitsForInfo(t *testing.T) {
	d := &slowInfo{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}}
	d.fails.Store(3)
	src := NewSource("h", d, Options{Log: quiet(), Metrics: metrics.New(), RetryMin: time.Millisecond, RetryMax: 5 * time.Millisecond})
	out := run(t, src, 8)
	d.messages <- msg("start", "c1", 1, nil)
	got := until(t, out, func(ev event.Event) bool { return ev.ActorID == "c1" })
	if ev := got[len(got)-1]; ev.HostID != "DAEMON-ID" {
		t.Errorf("event without the daemon's ID: %+v", ev)
	}
}

// historyDocker keeps every event it sent, replays them for since/until
// requests (and ends the stream, as the daemon does), and streams live
// what the test sends.
type historyDocker struct {
	fakeDocker
	history []mobyevents.Message
}

func (d *historyDocker) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	var res client.SystemInfoResult
	res.Info.ID, res.Info.SystemTime = "D", time.Unix(0, 1).UTC().Format(time.RFC3339Nano) // at the cursor: the resume replays a only
	return res, nil
}

func (d *historyDocker) Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	if opts.Until == "" {
		return d.fakeDocker.Events(ctx, opts)
	}
	since, until := parseSince(opts.Since), parseSince(opts.Until)
	msgs, errs := make(chan mobyevents.Message), make(chan error, 1)
	go func() {
		for _, m := range d.history {
			if m.TimeNano >= since && m.TimeNano <= until {
				select {
				case msgs <- m:
				case <-ctx.Done():
					return
				}
			}
		}
		errs <- io.EOF
	}()
	return client.EventsResult{Messages: msgs, Err: errs}
}

// The daemon drops events for a subscriber that was slow for 100 ms, and
// says nothing. The audit compares the stream with the daemon's replay and
// hands on what the stream lost.
func TestAuditFindsEventsTheDaemonDroppedForTheReader(t *testing.T) {
	a := msg("start", "a", 1, nil)
	b, lost, d := msg("start", "b", 2, nil), msg("die", "c", 3, map[string]string{"exitCode": "1"}), msg("start", "d", 4, nil)
	f := &historyDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, history: []mobyevents.Message{a, b, lost, d}}
	m := metrics.New()
	src := NewSource("h", f, Options{Log: quiet(), Metrics: m, AuditEvery: 20 * time.Millisecond})
	src.Restore(map[string]event.Resume{"D": {Cursor: 1, AtCursor: []string{FromMessage("h", a).Key()}}})
	out := run(t, src, 16)
	f.messages <- b
	f.messages <- d // the die of c never comes on the stream
	got := until(t, out, func(ev event.Event) bool { return ev.ActorID == "c" })
	if ev := got[len(got)-1]; ev.Action != "die" || ev.ExitCode != 1 {
		t.Errorf("found %+v", ev)
	}
}

// spoofDocker knows one dead container: exit 3, ended just before its die.
type spoofDocker struct {
	fakeDocker
	finished time.Time
}

func (d *spoofDocker) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	var res client.ContainerInspectResult
	res.Container.ID = id
	res.Container.State = &container.State{Status: container.StateExited, ExitCode: 3, FinishedAt: d.finished.Format(time.RFC3339Nano)}
	return res, nil
}

// A label exitCode=0 makes a crash's die say 0. The rules are asked about
// the card as if the exit code were unknown (never the label's 0), so the
// spoofed crash gets its evidence, and the payload says what was verified.
func TestSpoofedDeathGetsItsCardAndItsTrueExitCode(t *testing.T) {
	died := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	d := &spoofDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, finished: died.Add(-time.Millisecond)}
	src := NewSource("h", d, Options{Log: quiet(), Metrics: metrics.New(),
		Interest: FakeInterest{Match: func(ev event.Event) bool { return ev.Action == "die" && ev.ExitCode != 0 }}})
	out := run(t, src, 8)
	d.messages <- msg("start", "c1", died.Add(-time.Second).UnixNano(), map[string]string{"exitCode": "0"}) // the label, on a start
	d.messages <- msg("die", "c1", died.UnixNano(), map[string]string{"exitCode": "0"})
	got := until(t, out, func(ev event.Event) bool { return ev.Action == "die" })
	die := got[len(got)-1]
	if die.ExitCode != 3 || die.Evidence == nil || !slices.Contains(die.Verified, "exitCode") {
		t.Errorf("die = exit %d, evidence %v, verified %v; want exit 3 with a card, exitCode verified", die.ExitCode, die.Evidence != nil, die.Verified)
	}
}

// A run killed after handling an OOM kill's first oom event, its die and
// the restart ahead of its cursor (event.Resume.Ahead) resumes with the
// daemon replaying the repeats of that oom event (moby sends up to 7) and
// a later crash: the repeat is the same kill's, not a second one, and the
// crash after the restart is no OOM kill.
func TestReplayAfterHandledAheadKeepsAnOOMKillsRepeatsOne(t *testing.T) {
	const id = "c1"
	oom1, oom2 := msg("oom", id, 100, nil), msg("oom", id, 101, nil)
	die1 := msg("die", id, 102, map[string]string{"exitCode": "137"})
	start := msg("start", id, 200, nil)
	die2 := msg("die", id, 300, map[string]string{"exitCode": "2"})
	key := func(m mobyevents.Message) string { return FromMessage("h", m).Key() }
	st := newStreamState()
	st.restore(event.Resume{Cursor: 50, Ahead: []string{key(oom1), key(die1), key(start)}})
	var passed []event.Event
	for _, m := range []mobyevents.Message{oom1, oom2, die1, start, die2} {
		if ev, ok := st.accept("h", m, defaultIntentWindow); ok {
			passed = append(passed, ev)
		}
	}
	if len(passed) != 1 || passed[0].Action != "die" || passed[0].TimeNano != 300 {
		t.Fatalf("passed %+v, want only the crash at 300", passed)
	}
	if passed[0].OOMKilled {
		t.Errorf("the crash after the restart was taken for an OOM kill: %+v", passed[0])
	}
}

// RestartCount as moby keeps it: its policy's restarts add one, any other
// start (a docker start after an end asked for, the daemon's boot) resets
// it (daemon/start.go: Container.ResetRestartManager(true)). A die hands
// the checkpoint the count its next start has if its policy's.
func TestRestartCountFollowsPolicyRestartsAndResets(t *testing.T) {
	const id = "c1"
	st := newStreamState()
	three := 3
	st.restore(event.Resume{Cursor: 1, Running: map[string]event.Container{id: {Name: "db-c1", Restarts: &three}}})
	accept := func(m mobyevents.Message) event.Event {
		t.Helper()
		ev, ok := st.accept("h", m, defaultIntentWindow)
		if !ok {
			t.Fatalf("%s at %d dropped", m.Action, m.TimeNano)
		}
		return ev
	}
	sec := int64(time.Second)
	if ev := accept(msg("die", id, 10*sec, map[string]string{"exitCode": "1"})); ev.Restarts == nil || *ev.Restarts != 4 {
		t.Errorf("a crash hands on %v, want 4 (its policy's restart next)", ev.Restarts)
	}
	if ev := accept(msg("start", id, 11*sec, nil)); ev.Restarts == nil || *ev.Restarts != 4 {
		t.Errorf("a restart after a crash counts %v, want 4", ev.Restarts)
	}
	accept(msg("kill", id, 20*sec, map[string]string{"signal": "15"}))
	if ev := accept(msg("die", id, 20*sec+1, map[string]string{"exitCode": "143"})); ev.Restarts == nil || *ev.Restarts != 0 {
		t.Errorf("a stop hands on %v, want 0 (only a docker start starts it again)", ev.Restarts)
	}
	if ev := accept(msg("start", id, 30*sec, nil)); ev.Restarts == nil || *ev.Restarts != 0 {
		t.Errorf("a docker start after a stop counts %v, want 0", ev.Restarts)
	}

	// The checkpoint's count of a stopped container is the next start's.
	st = newStreamState()
	st.restore(event.Resume{Cursor: 1, Stopped: map[string]int{id: 5}})
	if ev := accept(msg("start", id, 40*sec, nil)); ev.Restarts == nil || *ev.Restarts != 5 {
		t.Errorf("a start after the checkpoint's end counts %v, want 5", ev.Restarts)
	}
}

// An inspect read RestartCount as of the run that began at its StartedAt:
// the starts up to that one, read after it (the replay handed on after a
// gap, a stream racing the inspect, a create the replay still holds), are
// counted in it already; the next run's is not.
func TestRestartCountFromAnInspectCountsEarlierStartsOnce(t *testing.T) {
	const id = "c1"
	sec := int64(time.Second)
	st := newStreamState()
	st.restarts[id], st.countedTo[id] = 2, 12*sec
	for _, m := range []mobyevents.Message{msg("create", id, 1*sec, nil), msg("start", id, 1*sec+1, nil),
		msg("die", id, 5*sec, map[string]string{"exitCode": "1"}), msg("start", id, 6*sec, nil),
		msg("die", id, 11*sec, map[string]string{"exitCode": "1"}), msg("start", id, 12*sec, nil)} {
		st.accept("h", m, defaultIntentWindow)
	}
	if n := st.knownRestarts(id); n == nil || *n != 2 {
		t.Fatalf("after the counted run's start: %v, want 2", n)
	}
	st.accept("h", msg("die", id, 20*sec, map[string]string{"exitCode": "1"}), defaultIntentWindow)
	st.accept("h", msg("start", id, 21*sec, nil), defaultIntentWindow)
	if n := st.knownRestarts(id); n == nil || *n != 3 {
		t.Errorf("after a later restart: %v, want 3", n)
	}
}

// slowListDocker lost its history since the cursor (a gap), and its
// container c1, with restart policy always, crashes and is restarted
// twice while the container list is read. Its clock moves on meanwhile.
type slowListDocker struct {
	fakeDocker
	mu      sync.Mutex
	now     int64
	history []mobyevents.Message
}

func (d *slowListDocker) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	var res client.SystemInfoResult
	res.Info.ID, res.Info.SystemTime = "D", time.Unix(0, d.now).UTC().Format(time.RFC3339Nano)
	return res, nil
}

func (d *slowListDocker) ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, m := range []mobyevents.Message{msg("die", "c1", d.now+1e9, map[string]string{"exitCode": "1"}), msg("start", "c1", d.now+2e9, nil),
		msg("die", "c1", d.now+3e9, map[string]string{"exitCode": "1"}), msg("start", "c1", d.now+4e9, nil)} {
		d.history = append(d.history, m)
	}
	d.now += 5e9
	return client.ContainerListResult{Items: []container.Summary{{ID: "c1", Names: []string{"/db-c1"}, State: container.StateRunning}}}, nil
}

func (d *slowListDocker) ContainerInspect(context.Context, string, client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	last := d.history[len(d.history)-1].TimeNano
	return client.ContainerInspectResult{Container: container.InspectResponse{ID: "c1", RestartCount: 3,
		State: &container.State{Status: container.StateRunning, Running: true,
			StartedAt: time.Unix(0, last).UTC().Format(time.RFC3339Nano), FinishedAt: time.Unix(0, last-1e9-1000).UTC().Format(time.RFC3339Nano)}}}, nil
}

func (d *slowListDocker) Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	since, until := parseSince(opts.Since), parseSince(opts.Until)
	d.mu.Lock()
	var replay []mobyevents.Message
	for _, m := range d.history {
		if m.TimeNano >= since && (until == 0 || m.TimeNano <= until) {
			replay = append(replay, m)
		}
	}
	d.mu.Unlock()
	msgs, errs := make(chan mobyevents.Message), make(chan error, 1)
	go func() {
		for _, m := range replay {
			select {
			case msgs <- m:
			case <-ctx.Done():
				return
			}
		}
		if until != 0 {
			errs <- io.EOF
			return
		}
		for {
			select {
			case m := <-d.messages:
				msgs <- m
			case <-ctx.Done():
				return
			}
		}
	}()
	return client.EventsResult{Messages: msgs, Err: errs}
}

// After a gap, restarts made while the list was read are in RestartCount
// already, yet their events come on the stream: they are no deaths lost
// in the gap. The running set gets the daemon's count.
func TestRestartsDuringASlowListAfterAGapAreNotLost(t *testing.T) {
	cursor := time.Unix(100, 0).UnixNano()
	d := &slowListDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, now: cursor + 60e9}
	d.history = []mobyevents.Message{msg("exec_die", "c1", cursor+50e9, nil)} // the cursor's own event is gone
	one := 1
	src := NewSource("h", d, Options{Log: quiet(), Metrics: metrics.New()})
	src.Restore(map[string]event.Resume{"D": {Cursor: cursor, AtCursor: []string{"x"}, Running: map[string]event.Container{"c1": {Name: "db-c1", Restarts: &one}}}})
	out := run(t, src, 64)
	var counted *int
	got := items(t, out, func(it event.Item) bool {
		if c, ok := it.Listed["c1"]; ok && c.Restarts != nil {
			counted = c.Restarts
		}
		return it.Event.Action == "start" && it.Event.TimeNano == cursor+64e9
	})
	dies := 0
	for _, it := range got {
		if it.Event.Action == "die" {
			dies++
			if it.Event.Reconciled {
				t.Errorf("a restart the stream brings reported as a death lost in the gap: %+v", it.Event)
			}
		}
	}
	if dies != 2 || counted == nil || *counted != 3 {
		t.Errorf("%d deaths handed on (want the stream's 2); running set's count %v (want the daemon's 3)", dies, counted)
	}
}

// A container running at the cursor whose first replayed event after a gap
// is a start died before it; but when that die was handled already (ahead
// of the cursor, kept in the checkpoint's Resume.Ahead), it is no death
// "unseen while the stream was down".
func TestADeathHandledAheadIsNotReportedAgainAsUnseen(t *testing.T) {
	sec := int64(time.Second)
	src := NewSource("h", &fakeDocker{}, Options{Log: quiet(), Metrics: metrics.New()})
	out := make(chan event.Item, 4)
	in := newInspector(src, newStream(src, out))
	in.believed = map[string]event.Container{"c1": {Name: "db-c1"}}
	in.facts = scanReplay("h", []mobyevents.Message{msg("start", "c1", 15*sec, nil), msg("die", "c1", 50*sec, map[string]string{"exitCode": "2"})}, defaultIntentWindow)
	in.facts.handled(map[string][]int64{"c1": {12 * sec}})
	r := inspectResult{job: inspectJob{id: "c1", purpose: purposeGap, known: event.Container{Name: "db-c1"}, from: 6 * sec, until: 15 * sec, now: 60 * sec},
		state: &container.State{Running: true, StartedAt: time.Unix(51, 0).UTC().Format(time.RFC3339Nano), FinishedAt: time.Unix(50, 0).UTC().Format(time.RFC3339Nano)}}
	r.job.head = in.reconciledDeath(r)
	in.reconciled(r)
	if len(out) != 0 {
		t.Errorf("reported again: %+v", (<-out).Event)
	}
}

// A reconciling inspect that the daemon does not answer (it went down
// between the list and the inspect) tells nothing of the container: no
// death at the cursor is made up, and the session is to end so that the
// next one reconciles again (seed 96 of the pipeline simulator).
func TestAnUnansweredReconcileMakesUpNoDeath(t *testing.T) {
	c, err := client.New(client.WithHost("unix:///nonexistent/whalewatch-test/docker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, down := c.Ping(t.Context(), client.PingOptions{})
	if !client.IsErrConnectionFailed(down) {
		t.Fatalf("a request to no daemon: %v", down)
	}
	for _, purpose := range []string{purposeReconcile, purposeGap} {
		src := NewSource("h", &fakeDocker{}, Options{Log: quiet(), Metrics: metrics.New()})
		out := make(chan event.Item, 4)
		in := newInspector(src, newStream(src, out))
		in.pending = 1
		r := inspectResult{job: inspectJob{id: "c1", purpose: purpose, known: event.Container{Name: "db-c1"}}, err: down}
		r.job.head = in.reconciledDeath(r)
		in.settled(t.Context(), r)
		if len(out) != 0 || in.unanswered == nil || in.pending != 0 {
			t.Errorf("%s: %d items handed on, unanswered %v, %d pending", purpose, len(out), in.unanswered, in.pending)
		}
	}
}

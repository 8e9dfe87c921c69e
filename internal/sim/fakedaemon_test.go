package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	ev "github.com/whalewatch/whalewatch/events"
)

// The fake daemon models what moby does (daemon/events/events.go,
// moby/pubsub publisher.go, daemon/server/router/system/system_routes.go
// getEvents, and the client's Events in moby/moby/client):
//   - the last eventsLimit events are kept in memory; a subscription with
//     since replays the kept ones with timeNano >= since, scanning back from
//     the newest and stopping at the first older one (as loadBufferedEvents
//     does, so a clock that stepped back hides what came before the step);
//   - until before the daemon's now: the kept events in range, then the
//     stream ends (the client's Err gets io.EOF); until < since is an error;
//   - each subscriber has a subBuffer-deep channel; the publisher waits
//     pubTimeout for a full one, then drops the event for it silently; a
//     publish holds the publisher's lock, so a subscribe waits behind it;
//   - the client's Messages channel is unbuffered and never closed; Err
//     carries one error and is closed;
//   - a restart loses the kept events, ends every stream with an error, and
//     answers nothing while it is down; the clock can step back;
//   - /info, the container list and inspect take time (fake time in the
//     bubble); inspect of a removed container is errdefs.ErrNotFound,
//     wrapped as the client wraps it.
//
// Locks are channels: in a synctest bubble a goroutine blocked on a channel
// is durably blocked (the fake clock can advance), one on a sync.Mutex is not.
const (
	eventsLimit = 256
	subBuffer   = 1024
	pubTimeout  = 100 * time.Millisecond
)

var debugf func(format string, args ...any)

// errDown is what a client gets from a daemon that does not answer: the
// client's errConnectionFailed (moby/moby/client request.go doRequest wraps
// every failed request so), unexported, so taken from a real client's
// request to a socket no daemon listens on (made before any bubble).
var errDown = func() error {
	c, err := client.New(client.WithHost("unix:///nonexistent/whalewatch-sim/docker.sock"))
	if err != nil {
		panic(err)
	}
	defer c.Close()
	_, err = c.Ping(context.Background(), client.PingOptions{})
	if !client.IsErrConnectionFailed(err) {
		panic(fmt.Sprintf("a request to no daemon: %v", err))
	}
	return err
}()

type fakeContainer struct {
	id, name, image string
	labels          map[string]string
	policy          string // "no" or "always"
	running         bool
	created         bool // created, never started
	exitCode        int
	oom             bool
	createdAt       time.Time
	startedAt       time.Time
	finishedAt      time.Time
	restarts        int
}

type subscriber struct {
	ch     chan events.Message
	closed chan struct{} // the daemon went down: the stream breaks
}

type fakeDaemon struct {
	id, name string

	// mu guards everything below (a channel: see above).
	mu         chan struct{}
	up         bool
	offset     time.Duration // the daemon's clock is time.Now()+offset
	lastNano   int64
	kept       []events.Message
	containers map[string]*fakeContainer
	byName     map[string]string
	seq        int

	// pub is the publisher's lock: held across a publish (and its waits).
	pub  chan struct{}
	subs map[*subscriber]bool

	// Latencies (fake time).
	infoDelay, listDelay, inspectDelay time.Duration

	// Ground truth for the checks: every event ever logged, in order, and
	// what each subscriber missed.
	log       []events.Message
	deaths    []death
	destroyed map[string]int // container → index of its destroy in log
	// policyStarts are the log indexes of starts by a restart policy (which
	// count in RestartCount, unlike a start at the daemon's boot).
	policyStarts map[int]bool
	lives        []int // index in log where each live subscription began
	shutdowns    []int // index in log at each daemon shutdown
	steps        []int // index in log at each clock step back
	dropped      int
	// firstLive: the daemon time of the first live subscription.
	firstLive int64
}

func newFakeDaemon(id string) *fakeDaemon {
	return &fakeDaemon{id: id, name: "node-" + id, mu: make(chan struct{}, 1), pub: make(chan struct{}, 1), up: true,
		containers: map[string]*fakeContainer{}, byName: map[string]string{}, subs: map[*subscriber]bool{}, destroyed: map[string]int{}, policyStarts: map[int]bool{}}
}

func (d *fakeDaemon) lock()   { d.mu <- struct{}{} }
func (d *fakeDaemon) unlock() { <-d.mu }

// now is the daemon's clock.
func (d *fakeDaemon) now() time.Time { return time.Now().Add(d.offset).UTC() }

// sleep waits a latency of the daemon, or until ctx ends.
func sleep(ctx context.Context, dur time.Duration) error {
	if dur <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(dur)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// emit logs one event (the caller holds mu), as Events.Log does: stamped
// with the daemon's clock, kept, and published. Inside a bubble the clock
// stands still between sleeps; a real clock would not give two events one
// nanosecond, so the stamp moves on by a nanosecond, unless the clock
// stepped back (then it follows the clock).
func (d *fakeDaemon) emit(typ events.Type, action string, actor events.Actor) events.Message {
	now := d.now().UnixNano()
	if now <= d.lastNano {
		now = d.lastNano + 1
	}
	d.lastNano = now
	m := events.Message{Type: typ, Action: events.Action(action), Actor: actor, Scope: "local", Time: now / 1e9, TimeNano: now}
	if len(d.kept) == eventsLimit {
		copy(d.kept, d.kept[1:])
		d.kept[len(d.kept)-1] = m
	} else {
		d.kept = append(d.kept, m)
	}
	d.log = append(d.log, m)
	d.publish(m)
	return m
}

// publish is pubsub.Publisher.Publish with its timeout: every subscriber
// gets pubTimeout to take m, else misses it.
func (d *fakeDaemon) publish(m events.Message) {
	d.pub <- struct{}{}
	defer func() { <-d.pub }()
	for sub := range d.subs {
		select {
		case sub.ch <- m:
			continue
		default:
		}
		t := time.NewTimer(pubTimeout)
		select {
		case sub.ch <- m:
		case <-t.C:
			d.dropped++
		}
		t.Stop()
	}
}

// containerEvent logs a container event: the daemon copies every label
// into the attributes, then sets its own (name, image); attrs are added
// only where no label of that name is (a label shadows the daemon's
// exitCode: daemon/events.go LogContainerEventWithAttributes copies the
// labels over the attributes it was given, then name and image).
func (d *fakeDaemon) containerEvent(c *fakeContainer, action string, attrs map[string]string) events.Message {
	a := map[string]string{}
	maps.Copy(a, attrs)
	maps.Copy(a, c.labels)
	a["name"], a["image"] = c.name, c.image
	return d.emit(events.ContainerEventType, action, events.Actor{ID: c.id, Attributes: a})
}

// --- lifecycle (the scenario calls these; each takes mu) ---

func (d *fakeDaemon) create(name, image string, labels map[string]string, policy string) *fakeContainer {
	d.lock()
	defer d.unlock()
	d.seq++
	c := &fakeContainer{id: fmt.Sprintf("%064x", d.seq*7919+len(name)), name: name, image: image, labels: labels, policy: policy, created: true, createdAt: d.now()}
	d.containers[c.id], d.byName[name] = c, c.id
	d.containerEvent(c, "create", nil)
	return c
}

// start is docker start (and docker run's start): moby's ContainerStart
// calls containerStart with resetRestartManager, whose
// Container.ResetRestartManager(true) sets RestartCount to 0
// (daemon/start.go, daemon/container/container.go): only the restart
// manager's own starts (daemon/monitor.go handleContainerExit) count.
func (d *fakeDaemon) start(c *fakeContainer) {
	d.lock()
	defer d.unlock()
	if !c.running && d.containers[c.id] == c && d.up {
		c.restarts = 0
	}
	d.startLocked(c)
}

func (d *fakeDaemon) startLocked(c *fakeContainer) {
	if c.running || d.containers[c.id] != c || !d.up {
		return
	}
	c.running, c.created, c.exitCode, c.oom, c.startedAt = true, false, 0, false, d.now()
	d.containerEvent(c, "start", nil)
}

// die ends a run: State is set (FinishedAt a little before the event, as
// SetStopped runs before the event is logged), then the die event.
func (d *fakeDaemon) dieLocked(c *fakeContainer, code int, oom, intentional bool) events.Message {
	c.running, c.exitCode, c.oom = false, code, oom
	c.finishedAt = d.now().Add(-time.Microsecond)
	m := d.containerEvent(c, "die", map[string]string{"exitCode": strconv.Itoa(code), "execDuration": "1"})
	d.deaths = append(d.deaths, death{idx: len(d.log) - 1, id: c.id, nano: m.TimeNano, finished: c.finishedAt.UnixNano(),
		code: code, oom: oom, intentional: intentional})
	return m
}

// crash: the process exits with code by itself.
func (d *fakeDaemon) crash(c *fakeContainer, code int) (events.Message, bool) {
	d.lock()
	defer d.unlock()
	if !c.running || d.containers[c.id] != c {
		return events.Message{}, false
	}
	return d.dieLocked(c, code, false, false), true
}

// oomKill: the kernel kills it; the daemon sends oom (once or more), die 137.
func (d *fakeDaemon) oomKill(c *fakeContainer, repeats int) (events.Message, bool) {
	d.lock()
	defer d.unlock()
	if !c.running || d.containers[c.id] != c {
		return events.Message{}, false
	}
	for range repeats {
		d.containerEvent(c, "oom", nil)
	}
	return d.dieLocked(c, 137, true, false), true
}

// restartByPolicy: the restart manager starts it again, RestartCount+1.
func (d *fakeDaemon) restartByPolicy(c *fakeContainer) {
	d.lock()
	defer d.unlock()
	if c.running || d.containers[c.id] != c || c.policy != "always" || !d.up {
		return
	}
	c.restarts++
	d.startLocked(c)
	d.policyStarts[len(d.log)-1] = true
}

// stop is docker stop as on 20.10: kill (15), die, stop.
func (d *fakeDaemon) stop(c *fakeContainer) {
	d.lock()
	defer d.unlock()
	if !c.running || d.containers[c.id] != c {
		return
	}
	d.containerEvent(c, "kill", map[string]string{"signal": "15"})
	d.dieLocked(c, 143, false, true)
	d.containerEvent(c, "stop", nil)
}

// remove is docker rm -f: a running one is killed (kill 9, die 137) first.
func (d *fakeDaemon) remove(c *fakeContainer) {
	d.lock()
	defer d.unlock()
	if d.containers[c.id] != c {
		return
	}
	if c.running {
		d.containerEvent(c, "kill", map[string]string{"signal": "9"})
		d.dieLocked(c, 137, false, true)
	}
	d.containerEvent(c, "destroy", nil)
	d.destroyed[c.id] = len(d.log) - 1
	delete(d.containers, c.id)
	if d.byName[c.name] == c.id {
		delete(d.byName, c.name)
	}
}

func (d *fakeDaemon) rename(c *fakeContainer, name string) {
	d.lock()
	defer d.unlock()
	if d.containers[c.id] != c || d.byName[name] != "" {
		return
	}
	old := c.name
	delete(d.byName, old)
	c.name, d.byName[name] = name, c.id
	d.containerEvent(c, "rename", map[string]string{"oldName": "/" + old})
}

// exec is a health probe's noise: exec_create, exec_start, exec_die.
func (d *fakeDaemon) exec(c *fakeContainer) {
	d.lock()
	defer d.unlock()
	if !c.running || d.containers[c.id] != c {
		return
	}
	id := strconv.Itoa(d.seq)
	d.seq++
	d.containerEvent(c, "exec_create: /bin/check", map[string]string{"execID": id})
	d.containerEvent(c, "exec_start: /bin/check", map[string]string{"execID": id})
	d.containerEvent(c, "exec_die", map[string]string{"execID": id, "exitCode": "0"})
}

// shutdown stops the daemon: running containers get kill (15) and die
// (143); every stream breaks; the kept events are gone.
func (d *fakeDaemon) shutdown() {
	d.lock()
	defer d.unlock()
	for _, id := range slices.Sorted(maps.Keys(d.containers)) {
		if c := d.containers[id]; c.running {
			d.containerEvent(c, "kill", map[string]string{"signal": "15"})
			d.dieLocked(c, 143, false, true)
		}
	}
	d.pub <- struct{}{}
	for sub := range d.subs {
		close(sub.closed)
		delete(d.subs, sub)
	}
	<-d.pub
	d.up, d.kept = false, nil
	d.shutdowns = append(d.shutdowns, len(d.log))
}

// boot starts the daemon again: containers with a restart policy start,
// through containerStart with resetRestartManager as a docker start does
// (daemon/daemon.go restore): RestartCount 0 again.
func (d *fakeDaemon) boot() {
	d.lock()
	defer d.unlock()
	d.up = true
	for _, id := range slices.Sorted(maps.Keys(d.containers)) {
		if c := d.containers[id]; c.policy == "always" && !c.running && !c.created {
			c.restarts = 0
			d.startLocked(c)
		}
	}
}

// stepBack sets the daemon's clock back (NTP step, VM restore).
func (d *fakeDaemon) stepBack(by time.Duration) {
	d.lock()
	defer d.unlock()
	d.offset -= by
	d.lastNano = 0
	d.steps = append(d.steps, len(d.log))
}

// --- the API (events.Docker) ---

var _ ev.Docker = (*fakeDaemon)(nil)

func (d *fakeDaemon) answering(ctx context.Context, delay time.Duration) error {
	if debugf != nil {
		debugf("call delay=%s", delay)
		defer debugf("answered")
	}
	if err := sleep(ctx, delay); err != nil {
		return err
	}
	d.lock()
	up := d.up
	d.unlock()
	if !up {
		return errDown
	}
	return nil
}

func (d *fakeDaemon) Info(ctx context.Context, _ client.InfoOptions) (client.SystemInfoResult, error) {
	if err := d.answering(ctx, d.infoDelay); err != nil {
		return client.SystemInfoResult{}, err
	}
	d.lock()
	defer d.unlock()
	return client.SystemInfoResult{Info: system.Info{ID: d.id, Name: d.name, SystemTime: d.now().Format(time.RFC3339Nano)}}, nil
}

func (d *fakeDaemon) ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error) {
	if err := d.answering(ctx, d.listDelay); err != nil {
		return client.ContainerListResult{}, err
	}
	d.lock()
	defer d.unlock()
	var out []container.Summary
	for _, id := range slices.Sorted(maps.Keys(d.containers)) {
		c := d.containers[id]
		st := container.StateExited
		switch {
		case c.running:
			st = container.StateRunning
		case c.created:
			st = container.StateCreated
		}
		if !opts.All && !c.running {
			continue
		}
		out = append(out, container.Summary{ID: c.id, Names: []string{"/" + c.name}, Image: c.image, Labels: maps.Clone(c.labels), State: st, Created: c.createdAt.Unix()})
	}
	return client.ContainerListResult{Items: out}, nil
}

func rfc(t time.Time) string {
	if t.IsZero() {
		return "0001-01-01T00:00:00Z"
	}
	return t.Format(time.RFC3339Nano)
}

func (d *fakeDaemon) ContainerInspect(ctx context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	if err := d.answering(ctx, d.inspectDelay); err != nil {
		return client.ContainerInspectResult{}, err
	}
	d.lock()
	defer d.unlock()
	c, ok := d.containers[id]
	if !ok {
		// As the client reports a 404: the errdefs class, wrapped.
		return client.ContainerInspectResult{}, fmt.Errorf("Error response from daemon: No such container: %s: %w", id, errdefs.ErrNotFound)
	}
	status := container.StateExited
	switch {
	case c.running:
		status = container.StateRunning
	case c.created:
		status = container.StateCreated
	}
	return client.ContainerInspectResult{Container: container.InspectResponse{
		ID: c.id, Name: "/" + c.name, Image: "sha256:" + strings.Repeat("ab", 32), RestartCount: c.restarts,
		State: &container.State{Status: status, Running: c.running, ExitCode: c.exitCode, OOMKilled: c.oom,
			StartedAt: rfc(c.startedAt), FinishedAt: rfc(c.finishedAt)},
	}}, nil
}

// ContainerLogs answers an empty stream.
func (d *fakeDaemon) ContainerLogs(ctx context.Context, _ string, _ client.ContainerLogsOptions) (client.ContainerLogsResult, error) {
	if err := d.answering(ctx, 0); err != nil {
		return nil, err
	}
	return io.NopCloser(strings.NewReader("")), nil
}

func (d *fakeDaemon) NodeInspect(context.Context, string, client.NodeInspectOptions) (client.NodeInspectResult, error) {
	return client.NodeInspectResult{}, errors.New("This node is not a swarm manager.")
}

// parseTime reads since/until as the client sends them: seconds[.nanoseconds].
func parseTime(s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return 0, err
	}
	var ns int64
	if frac != "" {
		frac = (frac + "000000000")[:9]
		if ns, err = strconv.ParseInt(frac, 10, 64); err != nil {
			return 0, err
		}
	}
	return n*1e9 + ns, nil
}

// Events serves /events as getEvents does, through the client's Events.
func (d *fakeDaemon) Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	messages := make(chan events.Message)
	errs := make(chan error, 1)
	fail := func(err error) client.EventsResult {
		errs <- err
		close(errs)
		return client.EventsResult{Messages: messages, Err: errs}
	}
	since, err1 := parseTime(opts.Since)
	until, err2 := parseTime(opts.Until)
	if err := errors.Join(err1, err2); err != nil {
		return fail(err)
	}
	if until != 0 && until < since {
		return fail(errors.New("Error response from daemon: `since` time cannot be after `until` time"))
	}
	d.lock()
	if !d.up {
		d.unlock()
		return fail(errDown)
	}
	now := d.now().UnixNano()
	// until at or before now: moby's timer fires at once, after the buffered
	// events: no live stream.
	onlyPast := until != 0 && until <= now
	var buffered []events.Message
	if since != 0 || until != 0 {
		for _, m := range slices.Backward(d.kept) {
			if m.TimeNano < since {
				break
			}
			if until > 0 && m.TimeNano > until {
				continue
			}
			buffered = append(buffered, m)
		}
		slices.Reverse(buffered)
	}
	if debugf != nil {
		debugf("Events since=%d until=%d now=%d onlyPast=%v buffered=%d kept=%d", since, until, now, onlyPast, len(buffered), len(d.kept))
	}
	sub := &subscriber{ch: make(chan events.Message, subBuffer), closed: make(chan struct{})}
	d.pub <- struct{}{}
	d.subs[sub] = true
	<-d.pub
	if !onlyPast {
		if d.firstLive == 0 {
			d.firstLive = now
		}
		d.lives = append(d.lives, len(d.log))
	}
	d.unlock()
	unsubscribe := func() {
		d.pub <- struct{}{}
		delete(d.subs, sub)
		<-d.pub
	}
	go func() {
		defer close(errs)
		defer unsubscribe()
		var timeout <-chan time.Time
		if until != 0 && !onlyPast {
			t := time.NewTimer(time.Duration(until - now))
			timeout = t.C
			defer t.Stop()
		}
		send := func(m events.Message) bool {
			select {
			case messages <- m:
				return true
			case <-ctx.Done():
				errs <- ctx.Err()
				return false
			case <-sub.closed:
				errs <- io.ErrUnexpectedEOF
				return false
			}
		}
		for _, m := range buffered {
			if !send(m) {
				return
			}
		}
		if onlyPast {
			errs <- io.EOF
			return
		}
		for {
			select {
			case m := <-sub.ch:
				if !send(m) {
					return
				}
			case <-timeout:
				errs <- io.EOF
				return
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			case <-sub.closed:
				errs <- io.ErrUnexpectedEOF
				return
			}
		}
	}()
	return client.EventsResult{Messages: messages, Err: errs}
}

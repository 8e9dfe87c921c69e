package events

import (
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	mobyevents "github.com/moby/moby/api/types/events"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/seen"
)

// streamState is what a Source remembers across reconnects. Only the
// Run goroutine touches it.
type streamState struct {
	cursor int64 // highest timeNano seen
	// atCursor are the keys of the events seen at cursor: the replay of a
	// resumed session must bring one of them again, or events were lost.
	atCursor []string
	// steppedBack: the last event was this far behind the cursor (the
	// daemon's clock went back); the session moves the cursor with it.
	steppedBack time.Duration
	// hostID is the daemon's ID (from /info), once identified.
	hostID     string
	identified bool
	// restarts: RestartCount per container, where known (from inspect, a
	// create, the checkpoint), counting the restarts its policy makes.
	restarts map[string]int
	// unexplained: the container's last die was not asked for: a start
	// now is its restart policy's.
	unexplained map[string]bool
	// countedTo: when the run began whose RestartCount an inspect read
	// into restarts; a start read later up to then is counted in it.
	countedTo map[string]int64
	// newest are the messages at the highest timeNano read, whatever the Interest
	// said of them; forwarded is the cursor last handed to the core.
	newest    []mobyevents.Message
	forwarded int64
	// handedTo is the highest timeNano of a stream event handed on not
	// ahead (which moves the core's cursor there) or of a restored cursor:
	// a cursor forwarded while events are held must pass it (heldCursor).
	handedTo int64
	// auditFrom is the cursor at the last audit, auditKeys its events;
	// auditing: an audit's replay is being read.
	auditFrom int64
	auditKeys []string
	auditing  bool
	auditGap  *resumption // an audit found events lost for good: reconcile at the next list
	late      bool        // the event being accepted was missed and found by an audit
	connected bool
	seen      *seen.Set
	running   map[string]event.Container
	// open: the checkpoint's containers with an open incident or crash
	// loop (see event.Resume.Open), until the first resumed session.
	open     []string
	shadowed map[string][]string  // container → daemon attributes its labels shadow
	killed   map[string]time.Time // last kill event per container
	oom      map[string]time.Time // last oom event per container
	// oomPassed: an oom event (or a stand-in) was passed on for the
	// container's current run; repeats are dropped until it starts again.
	oomPassed map[string]bool
	// handledDies: die times per container of the events the checkpoint
	// says were handled ahead of its cursor (event.Resume.Ahead), until the
	// first resumed session: its reconcile must not report them again.
	handledDies map[string][]int64
	// podman: the daemon is Podman, whose restart comes before its die.
	podman bool
}

func newStreamState() *streamState {
	return &streamState{
		restarts:    map[string]int{},
		unexplained: map[string]bool{},
		countedTo:   map[string]int64{},
		seen:        seen.New(4096, 0),
		running:     map[string]event.Container{},
		shadowed:    map[string][]string{},
		killed:      map[string]time.Time{},
		oom:         map[string]time.Time{},
		oomPassed:   map[string]bool{},
	}
}

// read notes a message as read (kept or not), for the cursor.
func (st *streamState) read(m mobyevents.Message) {
	switch t := messageNano(m); {
	case len(st.newest) == 0 || t > messageNano(st.newest[0]):
		st.newest = append(st.newest[:0], m)
	case t == messageNano(st.newest[0]):
		st.newest = append(st.newest, m)
	}
}

func messageNano(m mobyevents.Message) int64 {
	if m.TimeNano != 0 {
		return m.TimeNano
	}
	return m.Time * int64(time.Second)
}

// knownRestarts is the container's RestartCount, nil when unknown.
func (st *streamState) knownRestarts(id string) *int {
	if n, ok := st.restarts[id]; ok {
		return &n
	}
	return nil
}

// dieLatency bounds how long after a container's FinishedAt (StartedAt)
// the daemon logs its die (start) event: it records the state, then logs.
const dieLatency = time.Second

// replayFacts are what a replay tells of each container, read before it
// is handed on: the gap's reconcile is judged against them.
type replayFacts struct {
	died         map[string][]int64 // die times
	destroyed    map[string]bool
	first        map[string]string // its first action in the replay
	restarts     map[string]int    // starts after a die nobody asked for: its policy's
	lastStart    map[string]int64
	firstStartAt map[string]int64
}

func scanReplay(host string, replay []mobyevents.Message, intentWindow time.Duration) replayFacts {
	f := replayFacts{died: map[string][]int64{}, destroyed: map[string]bool{}, first: map[string]string{},
		restarts: map[string]int{}, lastStart: map[string]int64{}, firstStartAt: map[string]int64{}}
	killed, unexplained := map[string]time.Time{}, map[string]bool{}
	for _, m := range replay {
		ev := FromMessage(host, m)
		if ev.Type != event.ContainerType {
			continue
		}
		id := ev.ActorID
		if _, ok := f.first[id]; !ok {
			f.first[id] = ev.Action
		}
		switch ev.Action {
		case "kill":
			killed[id] = ev.Time
		case "destroy":
			f.destroyed[id] = true
		case "die":
			f.died[id] = append(f.died[id], ev.TimeNano)
			unexplained[id] = !within(killed[id], ev.Time, intentWindow)
		case "start":
			if unexplained[id] {
				f.restarts[id]++
			}
			unexplained[id] = false
			f.lastStart[id] = ev.TimeNano
			if _, ok := f.firstStartAt[id]; !ok {
				f.firstStartAt[id] = ev.TimeNano
			}
		}
	}
	return f
}

// explains: the replay tells how the container's run ended.
// handled adds deaths handled already (ahead of the cursor) to the facts.
func (f replayFacts) handled(dies map[string][]int64) {
	for id, ts := range dies {
		f.died[id] = append(f.died[id], ts...)
	}
}

func (f replayFacts) explains(id string) bool { return len(f.died[id]) > 0 || f.destroyed[id] }

// firstStart is the time of the container's first start in the replay.
func (f replayFacts) firstStart(id string) int64 { return f.firstStartAt[id] }

// sameDeath: a die of the container in the replay right after finished
// (timeNano): the death inspect found is that one.
func (f replayFacts) sameDeath(id string, finished int64) bool {
	for _, t := range f.died[id] {
		if t >= finished && t-finished <= int64(dieLatency) {
			return true
		}
	}
	return false
}

// diedBetween: a die of the container (replayed, or handled ahead of the
// cursor) after from and before until (timeNano).
func (f replayFacts) diedBetween(id string, from, until int64) bool {
	for _, t := range f.died[id] {
		if t > from && t < until {
			return true
		}
	}
	return false
}

// startedAt: the container's last start in the replay is the one at
// started.
func (f replayFacts) startedAt(id string, started int64) bool {
	t, ok := f.lastStart[id]
	return ok && t >= started && t-started <= int64(dieLatency)
}

// restore takes an earlier run's resume point: its cursor, the events at
// it (replayed by the daemon, so dropped as seen) and what ran then, with
// the labels that shadow daemon attributes.
func (st *streamState) restore(p event.Resume) {
	st.cursor, st.atCursor = p.Cursor, slices.Clone(p.AtCursor)
	st.handedTo = max(st.handedTo, p.Cursor)
	st.open = slices.Clone(p.Open)
	for _, k := range p.AtCursor {
		st.seen.Add(k, time.Time{})
	}
	for _, k := range p.Ahead { // handled before the events held at the kill
		st.seen.Add(k, time.Time{})
		// timeNano/type/action:status/actor
		parts := strings.Split(k, "/")
		if len(parts) == 4 && parts[1] == event.ContainerType && strings.HasPrefix(parts[2], "die:") {
			if nano, err := strconv.ParseInt(parts[0], 10, 64); err == nil {
				if st.handledDies == nil {
					st.handledDies = map[string][]int64{}
				}
				st.handledDies[parts[3]] = append(st.handledDies[parts[3]], nano)
			}
		}
	}
	for id, n := range p.Stopped {
		st.restarts[id] = n
	}
	for id, c := range p.Running {
		st.running[id] = c
		if len(c.Shadowed) > 0 {
			st.shadowed[id] = slices.Clone(c.Shadowed)
		}
		if c.Restarts != nil {
			st.restarts[id] = *c.Restarts
		}
	}
}

// accept turns a message into an annotated Event. It reports false for
// a duplicate (already seen, or a repeated oom event of one kill), which
// must not be passed on.
func (st *streamState) accept(host string, m mobyevents.Message, intentWindow time.Duration) (event.Event, bool) {
	ev := FromMessage(host, m)
	ev.HostID = st.hostID
	if !st.seen.Add(ev.Key(), time.Time{}) {
		st.seenAgain(ev)
		return ev, false
	}
	if ev.Type == event.ContainerType && ev.Action == "oom" {
		if st.oomPassed[ev.ActorID] {
			return ev, false // the daemon sends one kill's oom event up to 7 times
		}
		st.oomPassed[ev.ActorID] = true
	}
	st.learnShadows(ev)
	st.observe(&ev, intentWindow)
	if ev.Type == event.ContainerType && ev.Action == "start" {
		// The running set keeps them.
		ev.Shadowed, ev.Restarts = slices.Clone(st.shadowed[ev.ActorID]), st.knownRestarts(ev.ActorID)
	}
	if n, ok := st.restarts[ev.ActorID]; ok && ev.Type == event.ContainerType && ev.Action == "die" {
		// The checkpoint keeps what its next start will count if its policy
		// restarts it (an end asked for: a docker start, which resets it).
		if ev.Intentional {
			n = -1
		}
		n++
		ev.Restarts = &n
	}
	return ev, true
}

// seenAgain takes from an event handled before (by an earlier run, ahead
// of its cursor, or at the cursor) what it tells of its container's run,
// as observe would: a repeated oom event after its first is the same
// kill's, and after its start the run's kill and oom are over (a later
// die is no OOM kill). The counts and the running set are the checkpoint's.
func (st *streamState) seenAgain(ev event.Event) {
	if ev.Type != event.ContainerType {
		return
	}
	id := ev.ActorID
	switch ev.Action {
	case "oom":
		st.oomPassed[id] = true
	case "kill":
		st.killed[id] = ev.Time
	case "start":
		delete(st.oomPassed, id)
		delete(st.oom, id)
		delete(st.killed, id)
	case "die":
		delete(st.killed, id)
		delete(st.oom, id)
	}
}

// nativeActions are the actions whose events carry each of the daemon's
// own attributes (name and image are on every event, and the daemon sets
// them after copying the labels, so no label shadows them).
var nativeActions = map[string][]string{
	"exitCode":     {"die", "exec_die"},
	"execDuration": {"die"},
	"signal":       {"kill"},
	"execID":       {"exec_create", "exec_start", "exec_die", "exec_detach"},
	"oldName":      {"rename"},
}

// learnShadows notes a daemon attribute on an event that never carries it
// (exitCode on a start): a label of that name, whose value will stand in
// for the daemon's on every event of the container.
func (st *streamState) learnShadows(ev event.Event) {
	if ev.Type != event.ContainerType {
		return
	}
	for k, actions := range nativeActions {
		if _, ok := ev.Attributes[k]; ok && !slices.Contains(actions, ev.Action) && !slices.Contains(st.shadowed[ev.ActorID], k) {
			st.shadowed[ev.ActorID] = append(st.shadowed[ev.ActorID], k)
		}
	}
}

// shadowedOn lists the attributes of ev whose value is a label's.
func (st *streamState) shadowedOn(ev event.Event) []string {
	var keys []string
	for _, k := range st.shadowed[ev.ActorID] {
		if slices.Contains(nativeActions[k], ev.Action) {
			keys = append(keys, k)
		}
	}
	return keys
}

// observe updates what we know from one new event and annotates it.
func (st *streamState) observe(ev *event.Event, intentWindow time.Duration) {
	switch {
	case ev.TimeNano > st.cursor:
		st.cursor, st.atCursor = ev.TimeNano, []string{ev.Key()}
	case ev.TimeNano == st.cursor:
		st.atCursor = append(st.atCursor, ev.Key())
	case st.cursor-ev.TimeNano > int64(clockSkew) && !st.late:
		st.steppedBack = time.Duration(st.cursor - ev.TimeNano)
		st.cursor, st.atCursor = ev.TimeNano, []string{ev.Key()}
	}
	if ev.Type != event.ContainerType {
		return
	}
	id := ev.ActorID
	switch ev.Action {
	case "create":
		st.created(id, ev.TimeNano)
	case "start":
		if t, ok := st.countedTo[id]; ok && ev.TimeNano <= t+int64(dieLatency) {
			// The count inspect read already has this start.
		} else if unexplained, ended := st.unexplained[id]; ended && !unexplained {
			// After an end asked for only a docker start (or the daemon's boot)
			// starts it, and that resets RestartCount (moby daemon/start.go
			// containerStart: Container.ResetRestartManager(true)).
			st.restarts[id] = 0
		} else if n, ok := st.restarts[id]; ok && unexplained {
			st.restarts[id] = n + 1 // its policy restarted it
		}
		delete(st.unexplained, id)
		st.running[id] = event.Container{Name: ev.Name, Image: ev.Image, Labels: ev.Labels}
		delete(st.oomPassed, id)
		delete(st.oom, id)
		delete(st.killed, id)
	case "kill", "stop": // Podman 4.3 stops without a kill event
		st.killed[id] = ev.Time
	case "restart":
		if st.podman { // Docker's comes after the new start
			st.killed[id] = ev.Time
		}
	case "oom":
		st.oom[id] = ev.Time
	case "die":
		if t, ok := st.countedTo[id]; ok && ev.TimeNano > t {
			delete(st.countedTo, id) // the counted run is over: later starts are new
		}
		ev.Intentional = within(st.killed[id], ev.Time, intentWindow)
		ev.OOMKilled = within(st.oom[id], ev.Time, intentWindow)
		st.unexplained[id] = !ev.Intentional
		delete(st.running, id)
		delete(st.killed, id)
		delete(st.oom, id)
	case "destroy":
		delete(st.running, id)
		delete(st.killed, id)
		delete(st.oom, id)
		delete(st.oomPassed, id)
		delete(st.shadowed, id)
		delete(st.restarts, id)
		delete(st.unexplained, id)
		delete(st.countedTo, id)
	}
}

// created: a container made under the stream starts with RestartCount 0,
// unless an inspect read since counts from a later run.
func (st *streamState) created(id string, nano int64) {
	if t, ok := st.countedTo[id]; ok && nano <= t+int64(dieLatency) {
		return
	}
	st.restarts[id] = 0
}

func within(earlier, t time.Time, window time.Duration) bool {
	return !earlier.IsZero() && !t.Before(earlier) && t.Sub(earlier) <= window
}

// reconcileList compares a fresh container list with what we believed was
// running. It returns the containers we thought running that no longer are
// (only when reconnecting), starts tracking every running one, learns the
// labels that shadow daemon attributes, and returns the running set.
func (st *streamState) reconcileList(list []container.Summary, reconnect bool) (missing, running map[string]event.Container) {
	running = make(map[string]event.Container, len(list))
	for _, c := range list {
		for k := range nativeActions {
			if _, ok := c.Labels[k]; ok && !slices.Contains(st.shadowed[c.ID], k) {
				st.shadowed[c.ID] = append(st.shadowed[c.ID], k)
			}
		}
		if c.State == container.StateRunning || c.State == container.StatePaused || c.State == container.StateRestarting {
			running[c.ID] = infoFromSummary(c, st.shadowed[c.ID], st.knownRestarts(c.ID))
		}
	}
	missing = map[string]event.Container{}
	if reconnect {
		for id, info := range st.running {
			if _, ok := running[id]; !ok {
				missing[id] = info
			}
		}
	}
	for id, c := range running {
		if _, ok := st.running[id]; !ok {
			st.running[id] = c
		}
	}
	return missing, running
}

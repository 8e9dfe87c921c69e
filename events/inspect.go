package events

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
)

// maxInspects bounds the inspects in flight for one daemon.
const maxInspects = 8

// maxHeld bounds the events held behind settling: when deaths come faster
// than their inspects and logs can be read (a storm of a thousand a
// second), the holds would grow with the stream (40 MB at 1M events).
const maxHeld = 1024

// storm is what a death's card says when it went without its evidence.
var storm = event.Evidence{
	Error:    "not gathered: more deaths at once than could be inspected",
	LogsNote: "not read: more deaths at once than could be inspected",
}

// Why an inspect was asked for.
const (
	purposeOOM       = "oom"       // a SIGKILL death: was it the kernel?
	purposeShadowed  = "shadowed"  // a label shadows the exit code: what was it?
	purposeReconcile = "reconcile" // known running, found not: how did it end?
	purposeGap       = "gap"       // the daemon lost events: did it die after the cursor?
	purposeBaseline  = "baseline"  // a running container's RestartCount, against a later gap
	purposeEvidence  = "evidence"  // a death or unhealthy container: the crash card's facts
)

type inspectJob struct {
	id      string
	purpose string
	seq     uint64
	known   event.Container // purposeReconcile, purposeGap: what we knew of it
	// purposeGap: deaths between these (timeNano) came on no stream, and
	// so did those stamped after now, the daemon's clock (it stepped back
	// since: its replay by time no longer reaches them). purposeReconcile:
	// now is when the replay was read (a death after it comes on the stream).
	from, until, now int64

	// evidence: gather the crash card's facts about head too; verdict is
	// the rules' judgement of head (purposeReconcile, purposeGap).
	evidence bool
	head     event.Event
	verdict  event.Verdict
}

type inspectResult struct {
	job      inspectJob
	state    *container.State
	restarts int // RestartCount
	grew     int // purposeGap: restarts no event tells of (set when settled)
	evidence *event.Evidence
	err      error
}

// held are a container's events waiting behind one that needs settling;
// they are passed on in order once it is.
type held struct {
	events   []event.Event // added to only through inspector.hold
	oldest   int64         // the earliest TimeNano among events
	oomUntil time.Time     // the head waits for its oom event until then
	job      uint64        // the head's inspect in flight, 0 when none
	shadowed []string      // the head's attributes that a label shadows
	evidence bool          // the head waits for its crash card's facts
	// verdict is the rules' judgement of the head as read; zero once
	// settling changed what they see (then the core judges it itself).
	verdict event.Verdict
}

// inspector settles the events that the stream alone cannot: it inspects
// beside the reader (never stalling it) and holds a container's later
// events until its earlier one is settled, so order is kept. One per
// session; only the session goroutine calls its methods.
type inspector struct {
	src    *Source
	st     *stream // what settled events are handed to
	since  int64   // the session's starting cursor: the time of reconciled deaths whose end is unknown
	hostID string  // the daemon's ID, on the events made here
	held   map[string]*held
	// heldEvents counts the events of every hold: past maxHeld, the
	// oldest deaths that wait only for their evidence go without it
	// (shed counts them, told once the storm is over).
	heldEvents int
	shed       int
	results    chan inspectResult
	slots      chan struct{}
	seq        uint64
	wg         sync.WaitGroup
	closing    bool // the session is over: settleAll inspects in turn
	// facts and believed (running at the cursor) are what a resumed
	// session's reconcile is judged against; pending counts its inspects.
	facts       replayFacts
	believed    map[string]event.Container
	pending     int
	replayAhead bool // the replay the facts are of is handed on after the reconcile
	// unanswered: a reconciling inspect the daemon did not answer (it went
	// down): what the gap hid is unknown, so the session ends before the
	// replay moves the cursor past it, and the next one reconciles again.
	unanswered error
}

func newInspector(src *Source, st *stream) *inspector {
	return &inspector{src: src, st: st, since: st.cursor, hostID: st.hostID, held: map[string]*held{},
		results: make(chan inspectResult), slots: make(chan struct{}, maxInspects)}
}

// add passes ev on, or holds it while it (or an earlier event of its
// container) waits to be settled.
func (in *inspector) add(ctx context.Context, ev event.Event) {
	defer in.shedEvidence(ctx)
	h, ok := in.held[ev.ActorID]
	if !ok || ev.Type != event.ContainerType {
		in.pass(ctx, ev)
		return
	}
	head := &h.events[0]
	if ev.Action == "oom" && mayBeOOM(*head) {
		// The oom event came after its die: the death is settled.
		head.OOMKilled, h.verdict = true, event.Verdict{}
		h.oomUntil, h.job = time.Time{}, 0
		in.emit(ev)
		switch {
		case len(h.shadowed) > 0:
			in.start(ctx, inspectJob{id: ev.ActorID, purpose: purposeShadowed})
		case h.evidence:
			in.start(ctx, inspectJob{id: ev.ActorID, purpose: purposeEvidence})
		default:
			in.release(ctx, ev.ActorID)
		}
		return
	}
	if in.src.isPodman() && (ev.Action == "stop" || ev.Action == "destroy") && in.src.holdsDeath(*head) && len(h.shadowed) == 0 {
		// Podman's stop (or rm -f) came after its die: it sends no kill,
		// and the death was asked for.
		head.Intentional, in.st.unexplained[ev.ActorID], h.verdict = true, false, event.Verdict{}
		if head.Restarts != nil {
			zero := 0 // its next start is asked for: a docker start resets the count
			head.Restarts = &zero
		}
		h.oomUntil, h.job = time.Time{}, 0
		in.hold(h, ev)
		in.release(ctx, ev.ActorID)
		return
	}
	in.hold(h, ev)
}

// shedEvidence keeps the holds within maxHeld: the oldest death that
// waits only for its evidence (no OOM check, no shadowed attribute: those
// decide what is reported) is passed on with the stream's facts.
func (in *inspector) shedEvidence(ctx context.Context) {
	for in.heldEvents > maxHeld {
		id := ""
		for cid, h := range in.held {
			if h.evidence && len(h.shadowed) == 0 && !in.src.holdsDeath(h.events[0]) && (id == "" || h.oldest < in.held[id].oldest) {
				id = cid
			}
		}
		if id == "" {
			return
		}
		if in.shed == 0 {
			in.src.log.Warn("deaths come faster than their evidence can be read; the oldest go without it until they slow down", "held", in.heldEvents)
		}
		in.shed++
		in.src.m.EvidenceSkipped.WithLabelValues(in.src.Host).Inc()
		evidence := storm
		in.held[id].events[0].Evidence = &evidence
		in.release(ctx, id)
	}
}

// pass emits ev unless it needs settling, in which case it heads a hold.
func (in *inspector) pass(ctx context.Context, ev event.Event) {
	if ev.Type != event.ContainerType {
		in.emit(ev)
		return
	}
	if shadowed := in.st.shadowedOn(ev); len(shadowed) > 0 {
		if ev.Action != "die" {
			// Only a death's attributes can be checked (with inspect); the
			// others are the label's, so they are dropped, not believed.
			for _, k := range shadowed {
				delete(ev.Attributes, k)
				if k == "exitCode" {
					ev.ExitCode = -1
				}
			}
			in.emit(ev)
			return
		}
		// The rules are asked as if the exit code were unknown: the label's
		// value is no answer, and a spoofed crash needs its card too. That
		// verdict is not the settled event's: the core judges that itself.
		unknown := ev
		unknown.ExitCode = -1
		_, evidence := in.src.judge(unknown)
		in.newHold(ev, held{shadowed: shadowed, evidence: evidence})
		in.start(ctx, inspectJob{id: ev.ActorID, purpose: purposeShadowed})
		return
	}
	v, evidence := in.src.judge(ev)
	if in.src.holdsDeath(ev) {
		in.newHold(ev, held{oomUntil: time.Now().Add(in.src.oomWait()), evidence: evidence, verdict: v})
		return
	}
	if evidence {
		in.newHold(ev, held{evidence: true, verdict: v})
		in.start(ctx, inspectJob{id: ev.ActorID, purpose: purposeEvidence})
		return
	}
	in.emitJudged(ev, v)
}

// newHold makes head the head of its container's hold h.
func (in *inspector) newHold(head event.Event, h held) {
	h.events, h.oldest = []event.Event{head}, head.TimeNano
	in.held[head.ActorID] = &h
	in.heldEvents++
}

// hold adds evs behind h's head.
func (in *inspector) hold(h *held, evs ...event.Event) {
	for _, ev := range evs {
		h.oldest = min(h.oldest, ev.TimeNano)
	}
	h.events = append(h.events, evs...)
	in.heldEvents += len(evs)
}

// emit hands ev on; while an event read before it is still held, it is
// marked ahead: it must not move the cursor past the held one (a kill
// would lose that), and the core remembers it as handled instead.
func (in *inspector) emit(ev event.Event) {
	in.emitJudged(ev, event.Verdict{})
}

// emitJudged hands ev on with the rules' verdict of it, as emit does.
func (in *inspector) emitJudged(ev event.Event, v event.Verdict) {
	ahead := len(in.held) > 0
	if !ahead && ev.Type != event.SelfType && !ev.Reconciled {
		in.st.handedTo = max(in.st.handedTo, ev.TimeNano)
	}
	in.st.send(event.Item{Event: ev, Ahead: ahead, Verdict: v})
}

// oldestHeld is the earliest time of an event held (0 when none is).
func (in *inspector) oldestHeld() int64 {
	var oldest int64
	for _, h := range in.held {
		if oldest == 0 || h.oldest < oldest {
			oldest = h.oldest
		}
	}
	return oldest
}

// mayBeOOM: a SIGKILL death that neither a kill nor an oom event explains.
func mayBeOOM(ev event.Event) bool {
	return ev.Type == event.ContainerType && ev.Action == "die" && ev.ExitCode == 137 && !ev.Intentional && !ev.OOMKilled
}

// awaitReconciles settles the reconciling inspects in flight, before
// anything else is handed on.
func (in *inspector) awaitReconciles(ctx context.Context) {
	for in.pending > 0 {
		select {
		case r := <-in.results:
			in.settled(ctx, r)
		case <-ctx.Done():
			return
		}
	}
}

// oomWaitsOver asks the daemon about the deaths whose oom event is late.
func (in *inspector) oomWaitsOver(ctx context.Context, now time.Time) {
	for id, h := range in.held {
		if !h.oomUntil.IsZero() && !now.Before(h.oomUntil) {
			h.oomUntil = time.Time{}
			in.start(ctx, inspectJob{id: id, purpose: purposeOOM})
		}
	}
}

// start inspects beside the reader; the result comes back on results.
func (in *inspector) start(ctx context.Context, job inspectJob) {
	in.seq++
	job.seq = in.seq
	if job.purpose == purposeReconcile || job.purpose == purposeGap {
		in.pending++
	}
	// A reconciling inspect (after a gap, every container's) is no
	// settling of a hold: it must not take the hold's job, or the hold's own
	// result is ignored and its events are never passed on.
	if h, ok := in.held[job.id]; ok && job.purpose != purposeReconcile && job.purpose != purposeGap && job.purpose != purposeBaseline {
		h.job = job.seq
		job.evidence, job.head = h.evidence, h.events[0]
	}
	if in.closing {
		return
	}
	in.wg.Add(1)
	go func() {
		defer in.wg.Done()
		select {
		case in.slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		r := in.inspect(ctx, job)
		<-in.slots
		select {
		case in.results <- r:
		case <-ctx.Done():
		}
	}()
}

func (in *inspector) inspect(ctx context.Context, job inspectJob) inspectResult {
	ctx, cancel := context.WithTimeout(ctx, in.src.opts.InspectTimeout)
	defer cancel()
	res, err := in.src.docker.ContainerInspect(ctx, job.id, client.ContainerInspectOptions{})
	if err == nil && res.Container.State == nil {
		err = errNoState
	}
	r := inspectResult{job: job, err: err}
	if err == nil {
		r.state, r.restarts = res.Container.State, res.Container.RestartCount
	}
	switch job.purpose {
	case purposeReconcile, purposeGap:
		// The death the stream never carried heads the result.
		job.head = in.reconciledDeath(r)
		var evidence bool
		job.verdict, evidence = in.src.judge(job.head)
		job.evidence = r.reported() && evidence
	}
	if job.evidence {
		// The logs get their own time: an inspect that took long must not
		// leave them none.
		r.evidence = in.src.gatherEvidence(context.WithoutCancel(ctx), job.head, res.Container, err)
	}
	r.job = job
	return r
}

var errNoState = errors.New("inspect returned no state")

// settled applies an inspect's result.
func (in *inspector) settled(ctx context.Context, r inspectResult) {
	if r.err != nil {
		in.src.m.InspectsFailed.WithLabelValues(r.job.purpose).Inc()
		in.src.log.Warn("cannot inspect the container; reporting what the stream said", "container_id", r.job.id, "purpose", r.job.purpose, "err", r.err)
	}
	switch r.job.purpose {
	case purposeReconcile, purposeGap:
		in.pending--
		if client.IsErrConnectionFailed(r.err) {
			in.unanswered = r.err // no guess: a death at the cursor made up
			return
		}
		if r.grew = in.gapRestarts(r); r.grew > 0 {
			evidence := r.job.head.Evidence
			r.job.head, r.job.verdict = in.reconciledDeath(r), event.Verdict{} // not the death judged
			r.job.head.Evidence = evidence
		}
		in.reconciled(r)
		fallthrough
	case purposeBaseline:
		if r.state != nil {
			in.count(r)
		}
		if r.state != nil && r.state.Running {
			c, n := r.job.known, r.restarts
			c.Restarts = &n // kept by the checkpoint with the running set
			in.st.send(event.Item{Event: in.st.hostEvent(), Listed: map[string]event.Container{r.job.id: c}})
		}
		return
	}
	h, ok := in.held[r.job.id]
	if !ok || h.job != r.job.seq {
		return // settled meanwhile (its oom event came)
	}
	h.job = 0
	head := &h.events[0]
	if r.job.purpose == purposeShadowed {
		settleShadowed(head, h.shadowed, r)
	}
	if r.describes(*head) && r.state.OOMKilled && !head.OOMKilled {
		head.OOMKilled, h.verdict = true, event.Verdict{}
	}
	if r.evidence != nil {
		head.Evidence = r.evidence
	}
	in.release(ctx, r.job.id)
}

// count takes the daemon's RestartCount as of the inspected run. The
// starts up to that run's, read later (the replay handed on next, the
// stream racing the inspect), are counted in it already; the start of
// that run, read before and held since, gets the count: handed on after
// it, it must not leave the running set without one.
func (in *inspector) count(r inspectResult) {
	id := r.job.id
	in.st.restarts[id] = r.restarts
	started, err := time.Parse(time.RFC3339Nano, r.state.StartedAt)
	if err != nil || started.IsZero() {
		if in.replayAhead && r.job.purpose != purposeBaseline {
			in.st.restarts[id] -= in.facts.restarts[id] // the replay will count them again
		}
		return
	}
	t := started.UnixNano()
	in.st.countedTo[id] = t
	if h, ok := in.held[id]; ok {
		for i := range h.events {
			if ev := &h.events[i]; ev.Action == "start" && ev.Restarts == nil && ev.TimeNano >= t && ev.TimeNano-t <= int64(dieLatency) {
				n := r.restarts
				ev.Restarts = &n
			}
		}
	}
}

// describes: the inspected state is of the end ev (a die) reports — the
// container has not run again since (inspect tells the present, and a
// settled event may be seconds old).
func (r inspectResult) describes(ev event.Event) bool {
	if r.state == nil || r.state.Running || ev.Action != "die" {
		return false
	}
	finished, err := time.Parse(time.RFC3339Nano, r.state.FinishedAt)
	if err != nil || finished.IsZero() {
		return true // a daemon that keeps no end time: the last end it is
	}
	t := finished.UnixNano()
	return t <= ev.TimeNano && ev.TimeNano-t <= int64(dieLatency)
}

// settleShadowed puts the daemon's truth in place of a label's values.
func settleShadowed(ev *event.Event, shadowed []string, r inspectResult) {
	for _, k := range shadowed {
		delete(ev.Attributes, k)
	}
	if !slices.Contains(shadowed, "exitCode") {
		return
	}
	ev.ExitCode = -1 // unknown unless the daemon says: a crash, not a success
	// Only the state of this very end says (a container running again has
	// its new run's exit code, 0; one that died again, the later end's).
	if r.describes(*ev) {
		ev.ExitCode = r.state.ExitCode
		ev.Attributes["exitCode"] = strconv.Itoa(r.state.ExitCode)
		ev.Verified = append(ev.Verified, "exitCode")
	}
}

// release passes on a container's settled head and what waited behind it,
// up to the next event that needs settling. An OOM kill known only from
// inspect gets an oom event in place of the daemon's (whose late original
// is then dropped as a repeat): one OOM report whatever the order.
func (in *inspector) release(ctx context.Context, id string) {
	h := in.held[id]
	delete(in.held, id)
	in.heldEvents -= len(h.events)
	if in.shed > 0 && in.heldEvents <= maxHeld/2 {
		in.src.log.Warn("deaths went without their evidence (inspect, logs) in a storm", "deaths", in.shed, "metric", "whalewatch_evidence_skipped_total")
		in.shed = 0
	}
	head := h.events[0]
	if head.OOMKilled && !in.st.oomPassed[id] {
		in.st.oomPassed[id] = true
		oom := head
		oom.Action, oom.ExitCode, oom.OOMKilled = "oom", -1, false
		oom.Attributes = map[string]string{"name": head.Name, "image": head.Image}
		in.emit(oom)
	}
	in.emitJudged(head, h.verdict)
	for i, ev := range h.events[1:] {
		in.pass(ctx, ev)
		if next, ok := in.held[id]; ok {
			in.hold(next, h.events[i+2:]...)
			return
		}
	}
}

// settleAll settles what is still held when a session ends, inspecting
// in turn (the reader is gone, nothing to stall).
func (in *inspector) settleAll(ctx context.Context) {
	in.closing = true
	for len(in.held) > 0 {
		for id, h := range in.held {
			purpose := purposeOOM
			switch {
			case len(h.shadowed) > 0:
				purpose = purposeShadowed
			case h.oomUntil.IsZero() && h.evidence:
				purpose = purposeEvidence
			}
			in.seq++
			h.job, h.oomUntil = in.seq, time.Time{}
			job := inspectJob{id: id, purpose: purpose, seq: in.seq, evidence: h.evidence, head: h.events[0]}
			in.settled(ctx, in.inspect(ctx, job))
		}
	}
}

// finishedInGap: the container's last run ended in the gap (after the
// cursor, before the first replayed event).
func (r inspectResult) finishedInGap() (int64, bool) {
	if r.state == nil {
		return 0, false
	}
	finished, err := time.Parse(time.RFC3339Nano, r.state.FinishedAt)
	if err != nil || finished.IsZero() {
		return 0, false // never ran to an end
	}
	t := finished.UnixNano()
	return t, t > r.job.from && (t < r.job.until || t > r.job.now+int64(clockSkew))
}

// restartsInGap: how many more times its policy restarted it than the
// replay and the checkpoint account for (0 when unknown): each restart
// follows a death the daemon no longer has an event of.
func (r inspectResult) restartsInGap() int { return r.grew }

// gapRestarts counts, when the result is settled, the restarts of a gap
// the stream never told of: RestartCount less the baseline and the
// restarts seen since, less one when the container's current run began
// after the replay (its start, which the stream has yet to bring, may be
// a restart of its policy).
func (in *inspector) gapRestarts(r inspectResult) int {
	b := r.job.known.Restarts
	if r.job.purpose != purposeGap || b == nil || r.state == nil {
		return 0
	}
	started, err := time.Parse(time.RFC3339Nano, r.state.StartedAt)
	if err != nil || started.IsZero() {
		return 0
	}
	t := started.UnixNano()
	unread := 0
	if t >= r.job.until && !in.facts.startedAt(r.job.id, t) {
		// Its current run began after the replay: the stream has yet to
		// bring that start, which may be its policy's. Only the restarts
		// beyond that one are known lost.
		unread = 1
	}
	return max(0, r.restarts-*b-in.facts.restarts[r.job.id]-unread)
}

// reported: a reconciled death of this result is to be reported.
func (r inspectResult) reported() bool {
	if r.job.purpose != purposeGap {
		return true
	}
	_, inGap := r.finishedInGap()
	return inGap || r.restartsInGap() > 0
}

// reconciled passes on what an inspect after a gap found: a death no event
// carried, or (inspect: no such container) a removal.
func (in *inspector) reconciled(r inspectResult) {
	death := r.job.head
	switch {
	case errdefs.IsNotFound(r.err):
		// Removed while the stream was down: that resolves its incident; its
		// end is gone with it, so it is no crash.
		gone := death
		gone.Action, gone.ExitCode, gone.Attributes = "destroy", -1, map[string]string{"name": death.Name, "image": death.Image}
		in.src.log.Info("container was removed while the stream was down", "container", gone.Name)
		in.emit(gone)
		delete(in.st.running, r.job.id)
		return
	case !r.reported():
		// Believed running at the cursor, started again in the replay with no
		// die before: it died in the gap, and a later end overwrote its state.
		if _, was := in.believed[r.job.id]; was && in.facts.first[r.job.id] == "start" && r.job.purpose == purposeGap {
			t := in.facts.firstStart(r.job.id)
			if finished, _ := r.finishedInGap(); finished > r.job.from && !in.facts.diedBetween(r.job.id, r.job.from, t) {
				unseen := death
				unseen.ExitCode, unseen.OOMKilled, unseen.Verified = -1, false, nil
				unseen.Attributes = map[string]string{"name": death.Name, "image": death.Image, "whalewatch.unseen": "true", event.EndedBefore: strconv.FormatInt(t, 10)}
				if r.state.Running {
					unseen.Attributes[event.RunningAgain] = "true"
				}
				unseen.TimeNano = t - 1 // just before that start: the same name at a second look
				unseen.Time = time.Unix(0, unseen.TimeNano).UTC()
				in.src.log.Info("container died unseen while the stream was down", "container", unseen.Name)
				in.emit(unseen)
			}
		}
		return
	case r.restartsInGap() == 0 && in.facts.sameDeath(r.job.id, death.TimeNano):
		return // its die came on the stream
	case r.job.purpose == purposeReconcile && r.job.now > 0 && r.state != nil && death.TimeNano > r.job.now-int64(dieLatency):
		// It ended as the replay was read (the list, read after, found it
		// stopped): the whole replay has no die of it, so its die comes on
		// the stream, which opens at that instant.
		return
	}
	death.Evidence = r.evidence
	in.src.log.Info("container died while the stream was down", "container", death.Name, "exit_code", death.ExitCode)
	in.emitJudged(death, r.job.verdict)
	if r.state == nil || !r.state.Running {
		delete(in.st.running, r.job.id)
	}
}

// reconciledDeath makes the die event the stream never carried.
func (in *inspector) reconciledDeath(r inspectResult) event.Event {
	c := r.job.known
	ev := event.Event{
		Host: in.src.Host, HostID: in.hostID, Type: event.ContainerType, Action: "die", ActorID: r.job.id,
		Name: c.Name, Image: c.Image, Labels: c.Labels, ExitCode: -1,
		Attributes: map[string]string{"name": c.Name, "image": c.Image},
		Reconciled: true, TimeNano: in.since,
	}
	finished, inGap := r.finishedInGap()
	switch {
	case r.state != nil && (r.state.Running || (r.job.purpose == purposeGap && !inGap) || (r.state.ExitCode == 0 && r.restartsInGap() > 0)):
		// Restarted by its policy since: the daemon keeps no exit code of
		// a run before the current one (nor of the deaths before the last).
		// A clean last end after restarts no event told of: those restarts
		// followed deaths the gap hid, reported at that end.
		restarts := r.restarts
		if n := r.restartsInGap(); n > 0 {
			restarts = n
		}
		ev.Attributes["whalewatch.restarted"] = strconv.Itoa(restarts)
		if r.state.Running {
			ev.Attributes[event.RunningAgain] = "true"
			if started, err := time.Parse(time.RFC3339Nano, r.state.StartedAt); err == nil && !started.IsZero() && finished > 0 {
				ev.Attributes[event.EndedBefore] = strconv.FormatInt(started.UnixNano(), 10)
			}
		}
		if finished > 0 {
			ev.TimeNano = finished // as of its last end: the same name at a second look
		}
	case r.state != nil:
		ev.ExitCode, ev.OOMKilled = r.state.ExitCode, r.state.OOMKilled
		ev.Attributes["exitCode"] = strconv.Itoa(r.state.ExitCode)
		ev.Verified = []string{"exitCode"}
		ev.TimeNano = finished
	}
	if ev.TimeNano == 0 {
		ev.TimeNano = time.Now().UnixNano()
	}
	// The time comes from what the death is about (its end, or the cursor
	// it followed), never from when it was found: a second look after a
	// crash names it the same, so its notification keeps its id.
	ev.Time = time.Unix(0, ev.TimeNano).UTC()
	return ev
}

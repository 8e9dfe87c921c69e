package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/whalewatch/whalewatch/alert"
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
)

// destination is the far side of the only destination: it records what
// arrives, ignores what a killed incarnation still sends, fails now and
// then (before the request arrives), and answers after a while (a
// delivery recorded, then killed before the answer, is a legitimate
// resend).
type destination struct {
	mu       sync.Mutex
	seed     int64
	failRate int
	dead     map[int]bool
	got      []notify.Notification
	payload  map[string][]byte
	attempts map[string]int
	inflight map[int]int // gen → recorded, not yet answered
	// allowance: deliveries a kill caught between record and answer.
	allowance, resent int
	mismatch          []string
}

func newDestination(seed int64, failRate int) *destination {
	return &destination{seed: seed, failRate: failRate, dead: map[int]bool{}, payload: map[string][]byte{},
		attempts: map[string]int{}, inflight: map[int]int{}}
}

func (d *destination) kill(gen int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.dead[gen] = true
	d.allowance += d.inflight[gen]
}

func (d *destination) roll(id string, attempt int, salt string) uint32 {
	h := fnv.New32a()
	fmt.Fprintf(h, "%d|%s|%d|%s", d.seed, id, attempt, salt)
	return h.Sum32()
}

type notifier struct {
	dest *destination
	gen  int
}

func (n *notifier) Notify(ctx context.Context, x notify.Notification) (bool, error) {
	d := n.dest
	d.mu.Lock()
	d.attempts[x.ID]++
	attempt := d.attempts[x.ID]
	d.mu.Unlock()
	if err := sleep(ctx, time.Duration(d.roll(x.ID, attempt, "req")%300)*time.Millisecond); err != nil {
		return true, err
	}
	if int(d.roll(x.ID, attempt, "fail")%100) < d.failRate {
		return true, errors.New("503 Service Unavailable")
	}
	data, err := json.Marshal(x)
	if err != nil {
		return false, err
	}
	d.mu.Lock()
	recorded := !d.dead[n.gen]
	if recorded {
		if first, ok := d.payload[x.ID]; ok {
			d.resent++
			if string(first) != string(data) {
				d.mismatch = append(d.mismatch, fmt.Sprintf("%s:\n  first %s\n  again %s", x.ID, first, data))
			}
		} else {
			d.payload[x.ID] = data
		}
		d.got = append(d.got, x)
		d.inflight[n.gen]++
	}
	d.mu.Unlock()
	err = sleep(ctx, time.Duration(d.roll(x.ID, attempt, "resp")%300)*time.Millisecond)
	if recorded {
		d.mu.Lock()
		d.inflight[n.gen]--
		d.mu.Unlock()
	}
	if err != nil {
		return true, err // the answer never came
	}
	return false, nil
}

// msgID is the notification id of a rule's match on a container event.
func (w *world) msgID(rule, action, actor string, nano int64) string {
	e := event.Event{Host: hostName, HostID: w.d.id, Type: event.ContainerType, Action: action, ActorID: actor, TimeNano: nano}
	return notify.New(rule, "", e, nil).ID
}

// fail records a broken invariant. It is reported by the caller, on the
// test outside the bubble: synctest.Test fails its test with FailNow once
// the bubble's test failed, which would end the run at the first failing
// seed even with SIM_KEEP_GOING.
func (w *world) fail(format string, args ...any) {
	w.failed = true
	w.failures = append(w.failures, fmt.Sprintf("seed %d: "+format, append([]any{w.seed}, args...)...))
}

// unseen: between the last stream opened before the death at idx and
// the first opened after j, whalewatch was killed or the daemon
// restarted: what that stream carried may never have been committed.
func (w *world) unseen(idx, j int) bool {
	lastLive := w.lastLive(idx)
	for _, k := range append(slices.Clone(w.kills), w.d.shutdowns...) {
		if k >= lastLive && k <= j {
			return true
		}
	}
	return false
}

// nextLive is the log index where the first stream after idx opened
// that whalewatch outlived: one whose incarnation was killed before the
// daemon logged anything more was no look (what its replay held for
// settling, an OOM wait, a crash card's logs, died with it; the cursor
// stayed behind it, so only the daemon's history could bring it again).
func (w *world) nextLive(idx int) int {
	for _, l := range w.d.lives {
		if l > idx && !slices.Contains(w.kills, l) {
			return l
		}
	}
	return len(w.d.log)
}

// exempt: a death that whalewatch cannot know of. Its container was
// removed before any stream could look again (its end went with it); or
// the daemon's clock had stepped back behind what it had stamped before
// and no stream saw the death live: the daemon's replay (scanning back
// from its newest event, stopping at the first older than since) hides
// it, and its FinishedAt is before the cursor; or the clock stepped back
// behind the cursor while no stream was open: the source then reconciles
// by the container list alone, which tells a container's last end only
// (noticed, left alone: a replay that survives clock steps needs since=0
// and positions, not times).
func (w *world) exempt(dth death) bool {
	if j, removed := w.d.destroyed[dth.id]; removed && w.nextLive(dth.idx) > j && w.unseen(dth.idx, j) {
		return true
	}
	for _, later := range w.d.deaths {
		if later.id == dth.id && later.idx > dth.idx && later.idx < w.nextLive(dth.idx) && w.unseen(dth.idx, later.idx) &&
			(later.intentional || !w.countedRestart(dth.id, dth.idx, later.idx, w.nextLive(dth.idx)) || w.reset(dth, w.lastLive(dth.idx), w.nextLive(dth.idx))) {
			// A later end overwrote its State before any stream looked, and
			// no restart policy counted it in RestartCount (an intentional
			// end, or a start at the daemon's boot), or a docker start (or
			// the daemon's boot) reset the count between the looks, so it
			// is no longer measured against the count whalewatch knew: the
			// daemon keeps no trace.
			return true
		}
	}
	var newest int64
	for _, m := range w.d.log[:dth.idx] {
		newest = max(newest, m.TimeNano)
	}
	next := w.nextLive(dth.idx)
	stepped := dth.nano <= newest
	for _, k := range w.d.steps {
		stepped = stepped || (k > w.lastLive(dth.idx) && k <= next)
	}
	return stepped && w.unseen(dth.idx, next)
}

// unseenThenStarted: the container was started again after the end dth,
// and no stream may have carried that end (a kill or a daemon restart came
// between the last stream opened before it and the first after the start).
func (w *world) unseenThenStarted(dth death) bool {
	for k := dth.idx + 1; k < len(w.d.log); k++ {
		if m := w.d.log[k]; m.Actor.ID == dth.id && m.Action == "start" {
			return w.unseen(dth.idx, k)
		}
	}
	return false
}

// countedRestart: the container's policy restarted it between the log
// indexes i and j, and RestartCount still counts that restart at look (no
// docker start, no start at the daemon's boot reset it before).
func (w *world) countedRestart(id string, i, j, look int) bool {
	counted := false
	for k := i + 1; k < look; k++ {
		if m := w.d.log[k]; m.Actor.ID == id && m.Action == "start" {
			counted = w.d.policyStarts[k] && (counted || k < j)
		}
	}
	return counted
}

// reset: a start of dth's container between the log indexes i and j
// reset its RestartCount (any start but its policy's) where whalewatch
// cannot measure from it: after dth (its restart is no longer counted), or
// before it while no stream was open (the count whalewatch knew is stale).
func (w *world) reset(dth death, i, j int) bool {
	for k := max(i+1, 0); k < j; k++ {
		if m := w.d.log[k]; m.Actor.ID == dth.id && m.Action == "start" && !w.d.policyStarts[k] && (k > dth.idx || w.unseen(k, k)) {
			return true
		}
	}
	return false
}

// lastLive is the log index where the last stream before idx opened.
func (w *world) lastLive(idx int) int {
	last := -1
	for _, l := range w.d.lives {
		if l <= idx {
			last = l
		}
	}
	return last
}

func (w *world) check() {
	d := w.d
	got := w.dest.got
	accounted := map[string]bool{}
	for _, n := range got {
		accounted[n.ID] = true
		if n.Group != nil {
			for _, id := range n.Group.Covers {
				accounted[id] = true
			}
		}
	}
	watched := func(id string) bool { return alert.NewInterest(w.engine, false).Watches(w.byID[id].labels) }
	failure := func(dth death) bool { return dth.code != 0 && !dth.intentional }
	summary := fmt.Sprintf("%d daemon events, %d kills at log %v, live streams from %v, shutdowns at %v, %d deliveries",
		len(d.log), len(w.kills), w.kills, d.lives, d.shutdowns, len(got))

	// 1. Every death of a watched container after the first stream is
	// delivered: its own message, one covering it, or a reconciled death
	// of its container at or after it.
	first := -1
	if len(d.lives) > 0 {
		first = d.lives[0]
	}
	for i, dth := range d.deaths {
		if !failure(dth) || !watched(dth.id) || dth.idx < first || w.exempt(dth) {
			continue
		}
		w.required++
		ok := accounted[w.msgID("CRASHED", "die", dth.id, dth.nano)] || accounted[w.msgID("OOM", "oom", dth.id, dth.nano)]
		if dth.oom {
			for _, m := range d.log[:dth.idx] {
				if m.Actor.ID == dth.id && m.Action == "oom" {
					ok = ok || accounted[w.msgID("OOM", "oom", dth.id, m.TimeNano)]
				}
			}
		}
		for _, m := range d.log[dth.idx:] { // "died unseen", named just before a start
			if m.Actor.ID == dth.id && m.Action == "start" {
				ok = ok || accounted[w.msgID("CRASHED", "die", dth.id, m.TimeNano-1)]
			}
		}
		for _, later := range d.deaths[i:] {
			if later.id == dth.id {
				ok = ok || accounted[w.msgID("CRASHED", "die", dth.id, later.finished)] || accounted[w.msgID("OOM", "die", dth.id, later.finished)]
			}
		}
		if !ok {
			w.fail("lost: death of %s (%s) exit %d oom %v at log %d (%d, %s); %s",
				w.byID[dth.id].name, dth.id[52:], dth.code, dth.oom, dth.idx, dth.nano, w.msgID("CRASHED", "die", dth.id, dth.nano), summary)
		}
	}

	// 2. No event counted twice: counts never exceed the real events.
	deathsOf, perGroup := map[string]int{}, map[string]int{}
	// Every end counts for the container (a death found after a gap, its
	// exit code unknown, may have been an intentional end or a clean exit);
	// groups count failures.
	for _, dth := range d.deaths {
		if !watched(dth.id) {
			continue
		}
		deathsOf[dth.id]++
		project := w.byID[dth.id].labels[notify.ComposeProject]
		if dth.code == 0 {
			// A clean end that no stream saw, its container
			// started again before one looked: inspect then tells a running
			// container (ExitCode 0 of the new run), and the end is reported
			// as a death of unknown exit code, which CRASHED matches. It may
			// count in its group.
			if w.unseenThenStarted(dth) {
				perGroup["CRASHED|"+project]++
			}
			continue
		}
		perGroup["CRASHED|"+project]++
		if dth.oom {
			perGroup["OOM|"+project]++
		}
	}
	// The known limit: after the daemon's clock stepped back, a replay by
	// time can bring again events stamped before the step that were handled
	// already (same ids, so nothing is sent twice; a count may be one high).
	stepped := len(d.steps) > 0
	for _, n := range got {
		if stepped {
			break
		}
		if n.Group != nil {
			switch n.Rule {
			case alert.CrashLoopRule:
				if n.Group.Count > deathsOf[n.Event.ActorID] {
					w.fail("crash loop message %s counts %d deaths; %s died %d times; %s", n.ID, n.Group.Count, n.Event.Name, deathsOf[n.Event.ActorID], summary)
				}
			case "CRASHED", "OOM":
				key := n.Rule + "|" + n.Event.Labels[notify.ComposeProject]
				if n.Group.Count > perGroup[key] {
					w.fail("group message %s counts %d matches; %s had %d; %s", n.ID, n.Group.Count, key, perGroup[key], summary)
				}
			}
		}
		if n.Incident != nil && n.Incident.Alerts > deathsOf[n.Event.ActorID] {
			w.fail("incident %s counts %d alerts; %s died %d times; %s", n.Incident.ID, n.Incident.Alerts, n.Event.Name, deathsOf[n.Event.ActorID], summary)
		}
	}

	// 3. Sent again only what a kill caught in flight, with the same payload.
	if w.dest.resent > w.dest.allowance {
		w.fail("%d notifications sent twice; kills caught %d in flight; %s", w.dest.resent, w.dest.allowance, summary)
	}
	for _, m := range w.dest.mismatch {
		w.fail("an id sent again with another payload: %s", m)
	}

	// 4. A removed container's incidents resolve, and no death is made up:
	// a reconciled death is a real failure of its container.
	incidents := map[string]string{} // incident → container
	resolved := map[string]bool{}
	for _, n := range got {
		if n.Incident != nil {
			incidents[n.Incident.ID] = n.Event.ActorID
			resolved[n.Incident.ID] = resolved[n.Incident.ID] || n.Incident.Status == notify.Resolved
		}
		if n.Event.Reconciled && n.Event.Action == "die" && (n.Rule == "CRASHED" || n.Rule == "OOM") {
			real := false
			for _, dth := range d.deaths {
				// Inspect cannot tell an intentional end (a stop, the
				// daemon's shutdown: exit 143) from a crash, nor (running
				// again: ExitCode -1) tell the last end's code: a real end
				// of the container is what it must be (left alone).
				// A report of restarts the replay does not explain is named
				// at the container's last end, whatever its code.
				restarts := n.Event.Attributes["whalewatch.restarted"] != ""
				real = real || (dth.id == n.Event.ActorID && dth.finished == n.Event.TimeNano && (dth.code != 0 || restarts))
				// "Died unseen" is named just before the start that followed an
				// end (in the log's order: clocks step).
				if dth.id == n.Event.ActorID && n.Event.Attributes["whalewatch.unseen"] != "" {
					for k, m := range d.log {
						real = real || (k > dth.idx && m.Actor.ID == dth.id && m.Action == "start" && m.TimeNano == n.Event.TimeNano+1)
					}
				}
			}
			if !real {
				w.fail("reported a death that did not happen: %s %s of %s at %d (%s); %s", n.Rule, n.ID, n.Event.Name, n.Event.TimeNano, n.Text, summary)
			}
		}
	}
	for inc, id := range incidents {
		if _, removed := d.destroyed[id]; removed && !resolved[inc] && w.cfg.ResolveAfter > 0 {
			w.fail("incident %s of removed container %s never resolved; %s", inc, w.byID[id].name, summary)
		}
	}
	if w.left > 0 {
		w.fail("%d notifications still in the outbox at the end; %s", w.left, summary)
	}
	if w.failed && os.Getenv("SIM_DEBUG") != "" {
		for i, m := range d.log {
			w.t.Logf("log %d %s %s %s %s exit=%s", i, time.Unix(0, m.TimeNano).UTC().Format("15:04:05.000000"), m.Action, m.Actor.Attributes["name"], m.Actor.ID[56:], m.Actor.Attributes["exitCode"])
		}
	}
	if w.failed {
		for _, n := range got {
			w.t.Logf("delivered %s %s %s %s reconciled=%v group=%+v incident=%+v %s", n.ID, n.Rule, n.Event.Action, n.Event.Name, n.Event.Reconciled, n.Group, n.Incident, strings.TrimSpace(n.Text))
		}
	}
}

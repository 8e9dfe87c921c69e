package events

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"time"

	"github.com/moby/moby/api/types/container"
	mobyevents "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
)

// clockSkew is how far the daemon's clock may be behind the cursor (events
// are not strictly ordered by time) before it counts as stepped back.
const clockSkew = 2 * time.Second

// identify learns the daemon's ID and, on the first session, takes its
// resume point from the checkpoint.
func (s *Source) identify(st *stream, info client.SystemInfoResult) {
	if st.identified {
		if info.Info.ID != "" && info.Info.ID != st.hostID {
			s.log.Warn("the daemon answers with another ID than before; its state stays under the first", "daemon_id", info.Info.ID, "was", st.hostID)
		}
		return
	}
	st.identified, st.hostID = true, info.Info.ID
	id := st.hostID
	s.identity.Store(&id)
	p, ok := s.resumes[st.hostID]
	if !ok || st.hostID == "" {
		p, ok = s.resumes[s.Host]
	}
	s.resumes = nil
	if !ok || p.Cursor == 0 {
		return
	}
	s.log.Info("resuming the event stream", "since", time.Unix(0, p.Cursor).UTC(), "known_running", len(p.Running), "daemon_id", st.hostID)
	st.restore(p)
}

// resumption is what a resumed session learnt from the daemon's replay.
type resumption struct {
	replay []mobyevents.Message // the daemon's buffered events from the cursor to its clock
	// gap: the replay does not reach back to the cursor's own event, so the
	// daemon lost what came between (its 256-event buffer rolled over, or
	// it restarted).
	gap bool
	// clockBack: the daemon's clock is behind the cursor by this much.
	clockBack time.Duration
	from      int64 // the cursor the session resumed from
	// lostUntil: the first replayed event's time (or the daemon's clock):
	// deaths before it and after the cursor came on no stream.
	lostUntil int64
	// listedBy: the daemon's clock when the container list came (estimated
	// from ours), 0 when unknown.
	listedBy int64
}

// resume reads the daemon's replay from the cursor and tells whether it
// reaches back to the cursor's own event.
func (s *Source) resume(ctx context.Context, st *stream, daemonNow time.Time) (resumption, error) {
	r := resumption{from: st.cursor, lostUntil: daemonNow.UnixNano()}
	if back := time.Duration(st.cursor - daemonNow.UnixNano()); back > clockSkew {
		r.clockBack = back
		return r, nil
	}
	replay, err := s.replay(ctx, st.cursor, daemonNow.UnixNano())
	if err != nil {
		return r, err
	}
	r.replay = replay
	r.gap = !reaches(s.Host, replay, st.cursor, st.atCursor, &r.lostUntil)
	return r, nil
}

// replay reads what the daemon kept from since to until (timeNano). With
// until in the past the daemon sends what it kept and ends the stream, so
// the replay is known whole.
func (s *Source) replay(ctx context.Context, since, until int64) ([]mobyevents.Message, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.InspectTimeout)
	defer cancel()
	res := s.events(ctx, client.EventsListOptions{Since: formatSince(since), Until: formatSince(until)})
	var replay []mobyevents.Message
	for {
		select {
		case m := <-res.Messages:
			replay = append(replay, m)
		case err := <-res.Err:
			if err != nil && !errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("replay events since %s: %w", time.Unix(0, since).UTC().Format(time.RFC3339Nano), err)
			}
			return replay, nil
		}
	}
}

// historyAfter reads what the daemon kept after after, up to its clock now
// (none when its clock is not past after: it stepped back).
func (s *Source) historyAfter(ctx context.Context, after int64) ([]mobyevents.Message, error) {
	info, err := s.info(ctx)
	if err != nil {
		return nil, err
	}
	now, ok := daemonClock(info)
	if !ok || now.UnixNano() <= after {
		return nil, nil
	}
	return s.replay(ctx, after+1, now.UnixNano())
}

// reaches tells whether a replay brings one of the events at the cursor
// (keys; any event at the cursor when none are known) — else the daemon
// lost what came between. It lowers first to the earliest replayed time.
func reaches(host string, replay []mobyevents.Message, cursor int64, keys []string, first *int64) bool {
	// A cursor that names no event (where a stream opened): nothing since
	// is nothing lost.
	found := len(keys) == 0 && len(replay) == 0
	for _, m := range replay {
		ev := FromMessage(host, m)
		if ev.TimeNano < *first {
			*first = ev.TimeNano
		}
		if ev.TimeNano == cursor && (len(keys) == 0 || slices.Contains(keys, ev.Key())) {
			found = true
		}
	}
	return found
}

// createdSince: a listed container was created after the cursor and
// before the daemon's clock was read for the replay (Created has whole
// seconds: only a later second counts, and an earlier one than the
// clock's, so that one made meanwhile, whose create the live stream
// brings, is not taken for a lost one).
func createdSince(list []container.Summary, cursor int64, daemonNow time.Time) bool {
	for _, c := range list {
		created := c.Created * int64(time.Second)
		if created > cursor && created+int64(time.Second) <= daemonNow.UnixNano() {
			return true
		}
	}
	return false
}

// reconcile makes up for what the replay could not tell, from the
// daemon's truth: after a gap every container is inspected and its deaths
// after the cursor are reported; otherwise only the containers known
// running that no replayed event explains are. A container known running
// that is gone was removed: that resolves, it is no crash.
func (s *Source) reconcile(ctx context.Context, st *stream, ins *inspector, r resumption, list []container.Summary, missing map[string]event.Container, daemonNow time.Time) {
	switch {
	case r.clockBack > 0:
		s.log.Warn("the daemon's clock is behind the cursor: reconciling by the container list", "by", r.clockBack)
		st.send(event.Item{Event: st.hostEvent(), Cursor: daemonNow.UnixNano()})
		st.emit(st.selfEvent("clock_stepped_back", map[string]string{"by": r.clockBack.Round(time.Millisecond).String()}))
		st.cursor, st.atCursor = daemonNow.UnixNano(), nil
	case r.gap:
		length := time.Duration(r.lostUntil - r.from)
		s.log.Warn("the daemon no longer has the events since the cursor: reconciling from its containers", "since", time.Unix(0, r.from).UTC(), "length", length)
		s.m.StreamGaps.WithLabelValues(s.Host).Inc()
		st.emit(st.selfEvent("stream_gap", map[string]string{
			"since": time.Unix(0, r.from).UTC().Format(time.RFC3339Nano), "length": length.Round(time.Millisecond).String()}))
		listed := map[string]bool{}
		for _, c := range list {
			listed[c.ID] = true
			baseline := st.knownRestarts(c.ID)
			if created := c.Created * int64(time.Second); baseline == nil && created > r.from {
				zero := 0 // made after the cursor: it started at 0
				baseline = &zero
			}
			now := int64(math.MaxInt64) - int64(clockSkew) // the daemon's clock, when known
			if !daemonNow.IsZero() {
				now = daemonNow.UnixNano()
			}
			if r.listedBy > now && now != int64(math.MaxInt64)-int64(clockSkew) {
				now = r.listedBy
			}
			ins.start(ctx, inspectJob{id: c.ID, purpose: purposeGap, known: infoFromSummary(c, st.shadowed[c.ID], baseline), from: r.from, until: r.lostUntil, now: now})
		}
		for id, c := range missing {
			if !listed[id] && !ins.facts.explains(id) {
				ins.start(ctx, inspectJob{id: id, purpose: purposeReconcile, known: c})
			}
		}
		s.removedWhileDown(st, list, missing, r.from)
		return
	}
	s.removedWhileDown(st, list, missing, r.from)
	var now int64 // the daemon's clock when the replay was read, when known
	if !daemonNow.IsZero() {
		now = daemonNow.UnixNano()
	}
	for id, c := range missing {
		if !ins.facts.explains(id) {
			ins.start(ctx, inspectJob{id: id, purpose: purposeReconcile, known: c, now: now})
		}
	}
}

// removedWhileDown resolves what the checkpoint had open (an incident, a
// crash loop) about containers not running at the cursor that the daemon
// no longer has: removed while the stream was down, their destroy lost (a
// gap, a clock step) or replayed (then this one changes nothing).
func (s *Source) removedWhileDown(st *stream, list []container.Summary, missing map[string]event.Container, from int64) {
	listed := map[string]bool{}
	for _, c := range list {
		listed[c.ID] = true
	}
	for _, id := range st.open {
		if _, known := missing[id]; !known && !listed[id] {
			st.emit(event.Event{Host: s.Host, HostID: st.hostID, Type: event.ContainerType, Action: "destroy", ActorID: id,
				ExitCode: -1, Attributes: map[string]string{}, Reconciled: true, TimeNano: from, Time: time.Unix(0, from).UTC()})
		}
	}
	st.open = nil
}

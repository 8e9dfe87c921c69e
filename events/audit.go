package events

import (
	"context"
	"slices"
	"strings"
	"time"

	mobyevents "github.com/moby/moby/api/types/events"
)

// audit is the daemon's replay of what the live stream should have
// brought between two audits.
type audit struct {
	from   int64    // the cursor at the last audit
	keys   []string // the events at from
	replay []mobyevents.Message
	err    error
}

// startAudit asks, beside the reader, for what the daemon sent from the
// last audit's cursor to the current one.
func (s *Source) startAudit(ctx context.Context, st *stream, ins *inspector, done chan<- audit) {
	if st.auditing || st.cursor == st.auditFrom {
		return
	}
	if st.auditFrom == 0 { // the first tick only sets the mark
		st.auditFrom, st.auditKeys = st.cursor, slices.Clone(st.atCursor)
		return
	}
	a := audit{from: st.auditFrom, keys: st.auditKeys}
	until := st.cursor
	st.auditing, st.auditFrom, st.auditKeys = true, st.cursor, slices.Clone(st.atCursor)
	ins.wg.Go(func() {
		a.replay, a.err = s.replay(ctx, a.from, until)
		select {
		case done <- a:
		case <-ctx.Done():
		}
	})
}

// finishAudit hands on what the live stream lost, and reconciles when the
// daemon no longer has all of it.
func (s *Source) finishAudit(ctx context.Context, st *stream, ins *inspector, a audit) {
	st.auditing = false
	if a.err != nil {
		s.log.Warn("cannot check the stream against the daemon's replay; will try again", "err", a.err)
		return
	}
	missed := 0
	for _, m := range a.replay {
		typ, action := string(m.Type), strings.SplitN(string(m.Action), ": ", 2)[0]
		if !s.keeps(typ, action) || st.seen.Has(FromMessage(s.Host, m).Key(), time.Time{}) {
			continue
		}
		missed++
		st.late = true // older than the cursor, but no clock step
		s.handle(ctx, st, ins, m)
		st.late = false
	}
	if missed == 0 {
		return
	}
	s.m.EventsMissed.WithLabelValues(s.Host).Add(float64(missed))
	first := FromMessage(s.Host, a.replay[len(a.replay)-1]).TimeNano
	if reaches(s.Host, a.replay, a.from, a.keys, &first) {
		s.log.Warn("the daemon dropped events for this reader (it was too slow for 100 ms); they were found in its replay", "count", missed)
		return
	}
	// Lost, and the daemon no longer has what came before them either: the
	// next container list (beside the reader) reconciles the gap.
	s.log.Warn("the daemon dropped events for this reader and no longer has them all: reconciling from its containers", "found", missed)
	ins.facts, ins.replayAhead = scanReplay(s.Host, a.replay, s.opts.IntentWindow), false
	st.auditGap, st.relistOwed = &resumption{gap: true, from: a.from, lostUntil: first}, true
}

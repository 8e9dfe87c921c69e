package notify

import (
	"errors"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// An incident's notifications go into the state file's history with the
// outbox commit; Status tells each destination's queue, last delivery
// and last failure.
func TestIncidentHistoryAndDestinationStatus(t *testing.T) {
	store := tempStore(t)
	flaky := &scripted{retry: true, results: []error{errors.New("503 from the destination")}}
	d := NewDispatcher(quietLog(), metrics.New(), store, 10, Destination{Name: "d", Notifier: flaky})
	d.RetryMin, d.RetryMax = time.Millisecond, 10*time.Millisecond
	opened := time.Now().Add(-time.Minute).UTC()
	ev := event.Event{Host: "h1", Type: "container", Action: "die", Name: "web", ActorID: "abc", ExitCode: 3, Time: opened, TimeNano: opened.UnixNano(),
		Evidence: &event.Evidence{Logs: []event.LogLine{{Stream: "stderr", Text: "boom"}}}}
	n := New("CRASHED", "", ev, nil)
	n.Incident = &Incident{ID: "inc1", Status: Firing, Seq: 1, Alerts: 1, OpenedAt: opened}
	send(t, d, n, nil)
	resolved := New("RESOLVED", "", ev, nil)
	resolved.Incident = &Incident{ID: "inc1", Status: Resolved, Seq: 2, Alerts: 1, OpenedAt: opened, ResolvedAt: time.Now().UTC()}
	send(t, d, resolved, nil)
	send(t, d, note("plain"), nil) // no incident: not in the history

	hist, err := store.History(time.Now().Add(-time.Hour))
	if err != nil || len(hist) != 1 {
		t.Fatalf("history: %+v %v", hist, err)
	}
	if h := hist[0]; h.ID != "inc1" || h.Host != "h1" || h.Container != "web" || h.Rule != "CRASHED" || h.Status != Resolved ||
		h.ExitCode != 3 || h.Evidence == nil || h.Open() || !h.UpdatedAt.Equal(resolved.Incident.ResolvedAt) {
		t.Errorf("record: %+v", h)
	}
	if st := d.Status(); len(st) != 1 || st[0].Queued != 3 || !st[0].LastSent.IsZero() {
		t.Errorf("before delivery: %+v", st)
	}
	stop := runDispatcher(t, d)
	defer stop()
	waitFor(t, func() bool { return len(flaky.delivered()) == 3 && d.Status()[0].Queued == 0 })
	st := d.Status()[0]
	if st.LastSent.IsZero() || st.LastFailed.IsZero() || st.LastError != "503 from the destination" || !st.FailingSince.IsZero() {
		t.Errorf("after delivery: %+v", st)
	}
}

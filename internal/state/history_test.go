package state

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

func incidentMsg(n int, id, status string, alerts int, at time.Time) Message {
	inc := &Incident{ID: id, Host: "h1", Container: "web", Rule: "crash", Status: status, Alerts: alerts, ExitCode: 1,
		OpenedAt: at, UpdatedAt: at, Evidence: &event.Evidence{Logs: []event.LogLine{{Stream: "stderr", Text: fmt.Sprint("line ", n)}}}}
	if status == "resolved" {
		inc.Rule, inc.ExitCode, inc.Evidence, inc.ResolvedAt = "RESOLVED", -1, nil, at
	}
	return Message{ID: fmt.Sprint("m", n), Data: []byte("x"), Dests: []string{"a"}, Incident: inc}
}

// The history merges an incident's notifications into one record (its
// alerts per hour, the alert's card kept through the resolution), in the
// file and, while the file cannot be written, in memory; a known id adds
// nothing.
func TestHistoryMergesAnIncidentsNotifications(t *testing.T) {
	for _, failing := range []bool{false, true} {
		t.Run(fmt.Sprint("unwritable=", failing), func(t *testing.T) {
			d := &disk{}
			s, err := OpenWith(t.TempDir(), Options{BeforeWrite: d.before})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			t0 := time.Now().Add(-3 * time.Hour)
			commit := func(m Message, at time.Time) {
				t.Helper()
				if _, err := s.Commit([]Message{m}, Snapshot{}, 100, at); err != nil {
					t.Fatal(err)
				}
			}
			commit(incidentMsg(1, "inc1", "firing", 1, t0), t0)
			if failing {
				d.fail(syscall.ENOSPC)
			}
			commit(incidentMsg(2, "inc1", "looping", 3, t0.Add(2*time.Hour)), t0.Add(2*time.Hour))
			commit(incidentMsg(2, "inc1", "looping", 9, t0.Add(2*time.Hour)), t0.Add(2*time.Hour)) // known id: ignored
			commit(incidentMsg(3, "inc2", "firing", 1, t0.Add(2*time.Hour)), t0.Add(2*time.Hour))
			commit(incidentMsg(4, "inc1", "resolved", 3, t0.Add(3*time.Hour)), t0.Add(3*time.Hour))
			check := func() {
				t.Helper()
				got, err := s.History(t0.Add(time.Hour))
				if err != nil || len(got) != 2 {
					t.Fatalf("history: %+v, %v", got, err)
				}
				inc1, inc2 := got[0], got[1]
				if inc1.ID != "inc1" || inc2.ID != "inc2" {
					t.Fatalf("order: %s, %s", inc1.ID, inc2.ID)
				}
				if inc1.Open() || inc1.Status != "resolved" || inc1.Rule != "crash" || inc1.ExitCode != 1 || inc1.Alerts != 3 ||
					!inc1.OpenedAt.Equal(t0) || inc1.Evidence == nil || inc1.Evidence.Logs[0].Text != "line 2" {
					t.Errorf("inc1 = %+v", inc1)
				}
				h0, h2 := t0.Truncate(time.Hour).Unix(), t0.Add(2*time.Hour).Truncate(time.Hour).Unix()
				if len(inc1.Hours) != 2 || inc1.Hours[h0] != 1 || inc1.Hours[h2] != 2 {
					t.Errorf("inc1 hours = %v", inc1.Hours)
				}
				if !inc2.Open() {
					t.Errorf("inc2 = %+v", inc2)
				}
				// Since a later time: only what is open.
				if got, _ := s.History(t0.Add(4 * time.Hour)); len(got) != 1 || got[0].ID != "inc2" {
					t.Errorf("open only: %+v", got)
				}
			}
			check()
			if failing {
				d.heal()
				if err := s.Flush(); err != nil {
					t.Fatal(err)
				}
				check()
			}
		})
	}
}

// Resolved incidents last changed more than HistoryKeep ago go; open ones
// stay; beyond HistoryMax the oldest go, open or not.
func TestHistoryIsBounded(t *testing.T) {
	s, err := OpenUnsynced(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	old := now.Add(-HistoryKeep - time.Hour)
	var msgs []Message
	msgs = append(msgs, incidentMsg(1, "old-resolved", "resolved", 1, old), incidentMsg(2, "old-open", "firing", 1, old))
	for i := range HistoryMax {
		msgs = append(msgs, incidentMsg(10+i, fmt.Sprint("new", i), "firing", 1, now.Add(-time.Hour).Add(time.Duration(i)*time.Millisecond)))
	}
	if _, err := s.Commit(msgs, Snapshot{}, len(msgs)+1, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.History(old.Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, inc := range got {
		ids[inc.ID] = true
	}
	// 10,002 records: the resolved old one goes for its age, then the
	// oldest open one for the count.
	if len(got) != HistoryMax || ids["old-resolved"] || ids["old-open"] || !ids["new0"] {
		t.Fatalf("%d records kept; old-resolved %v, old-open %v, new0 %v", len(got), ids["old-resolved"], ids["old-open"], ids["new0"])
	}
}

// While the file cannot be written, the records waiting in memory are
// bounded as the file's are: beyond HistoryMax the resolved one changed
// longest ago goes first, and open ones stay.
func TestHistoryInMemoryIsBounded(t *testing.T) {
	d := &disk{}
	s, err := OpenWith(t.TempDir(), Options{BeforeWrite: d.before})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	d.fail(syscall.ENOSPC)
	now := time.Now()
	msgs := []Message{incidentMsg(1, "open-oldest", "firing", 1, now.Add(-2*time.Hour))}
	for i := range HistoryMax + 1 {
		msgs = append(msgs, incidentMsg(10+i, fmt.Sprint("resolved", i), "resolved", 1, now.Add(-time.Hour).Add(time.Duration(i)*time.Millisecond)))
	}
	if _, err := s.Commit(msgs, Snapshot{}, len(msgs)+1, now); err != nil {
		t.Fatal(err)
	}
	got, err := s.History(now.Add(-3 * time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, inc := range got {
		ids[inc.ID] = true
	}
	if len(got) != HistoryMax || !ids["open-oldest"] || ids["resolved0"] || ids["resolved1"] || !ids["resolved2"] {
		t.Fatalf("%d records kept; open-oldest %v, resolved0 %v, resolved1 %v", len(got), ids["open-oldest"], ids["resolved0"], ids["resolved1"])
	}
}

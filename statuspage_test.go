package main

import (
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/internal/state"
)

// The page's incidents come from the state file's history, with who
// acknowledged the incident's Slack message.
func TestStatusDataJoinsHistoryAndAcknowledgements(t *testing.T) {
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	now := time.Now()
	inc := &state.Incident{ID: "inc1", Host: "h1", Container: "web", Rule: "CRASHED", Status: "firing", Alerts: 2, ExitCode: 1, OpenedAt: now, UpdatedAt: now}
	if _, err := store.Commit([]state.Message{{ID: "m1", Data: []byte("{}"), Dests: []string{"d"}, Incident: inc}}, state.Snapshot{}, 10, now); err != nil {
		t.Fatal(err)
	}
	if err := store.SaveThread("inc1", state.Thread{Channel: "C1", TS: "1.2", At: now}); err != nil {
		t.Fatal(err)
	}
	if err := store.AckThread("C1", "1.2", "UONCALL", now); err != nil {
		t.Fatal(err)
	}
	if err := store.SetMute("web-*", now.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	d := statusData{store: store}
	got, err := d.Incidents(now.Add(-time.Hour))
	if err != nil || len(got) != 1 || got[0].AckedBy != "UONCALL" || got[0].Alerts != 2 || got[0].Container != "web" || len(got[0].Hours) != 1 {
		t.Fatalf("incidents: %+v %v", got, err)
	}
	if mutes, err := d.Mutes(now); err != nil || len(mutes) != 1 || mutes[0].Glob != "web-*" {
		t.Errorf("mutes: %+v %v", mutes, err)
	}
}

package app

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/internal/metrics"
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

// /readyz is not ready while the state file cannot be written, and names it.
func TestReadyzSaysWhenTheStateFileCannotBeWritten(t *testing.T) {
	var full atomic.Bool
	store, err := state.OpenWith(t.TempDir(), state.Options{BeforeWrite: func(string) error {
		if full.Load() {
			return syscall.ENOSPC
		}
		return nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mux := http.NewServeMux()
	registerOps(mux, metrics.New(), nil, store, func(h http.Handler) http.Handler { return h })
	get := func() *httptest.ResponseRecorder {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
		return rec
	}
	if rec := get(); rec.Code != http.StatusOK {
		t.Fatalf("readyz = %d %s", rec.Code, rec.Body)
	}
	full.Store(true)
	if _, err := store.Commit([]state.Message{{ID: "1", Data: []byte("{}"), Dests: []string{"d"}}}, state.Snapshot{}, 10, time.Now()); err != nil {
		t.Fatal(err)
	}
	if rec := get(); rec.Code != http.StatusServiceUnavailable || !strings.Contains(rec.Body.String(), store.Path()) || !strings.Contains(rec.Body.String(), "no space left") {
		t.Errorf("readyz on a full disk = %d %s", rec.Code, rec.Body)
	}
	// The image's HEALTHCHECK does not ask for a restart that would lose
	// what only memory holds.
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz?ignore=state", nil))
	if rec.Code != http.StatusOK {
		t.Errorf("readyz?ignore=state on a full disk = %d %s", rec.Code, rec.Body)
	}
	full.Store(false)
	if err := store.Flush(); err != nil {
		t.Fatal(err)
	}
	if rec := get(); rec.Code != http.StatusOK {
		t.Errorf("readyz after recovery = %d %s", rec.Code, rec.Body)
	}
}

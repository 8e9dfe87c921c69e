package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
)

// validate refuses what run refuses in STATE_DIR — a whalewatch.db that
// is a directory, or that another process holds — and names the file and
// the way out, never as "configuration is not valid"; a damaged file is
// refused by validate (run would move it aside and start fresh).
func TestStateFileProblemsAreRefusedByValidateAndRun(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    string
		run     bool // run refuses it too (before it needs Docker)
	}{
		{"directory", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "whalewatch.db"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, "is a directory", true},
		{"locked", func(t *testing.T, dir string) {
			db, err := bolt.Open(filepath.Join(dir, "whalewatch.db"), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
		}, "another whalewatch holds the state file", true},
		{"damaged", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "whalewatch.db"), bytes.Repeat([]byte("not bbolt "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "would move it aside", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.prepare(t, dir)
			env := []string{"STATE_DIR=" + dir, "HTTP_ADDR=off"}
			cmds := []string{"validate"}
			if c.run {
				cmds = append(cmds, "run")
			}
			for _, cmd := range cmds {
				var stdout, stderr bytes.Buffer
				var code int
				if cmd == "validate" {
					code = validate(env, &stdout, &stderr)
				} else {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					code = watch(ctx, env, &stdout, &stderr)
					cancel()
				}
				out := stderr.String()
				if code != exitBadConfig || !strings.Contains(out, c.want) || !strings.Contains(out, filepath.Join(dir, "whalewatch.db")) {
					t.Errorf("%s: exit %d, want 2 naming the file and saying %q:\n%s%s", cmd, code, c.want, stdout.String(), out)
				}
				if strings.Contains(out, "configuration is not valid") {
					t.Errorf("%s: a state-file problem reported as a configuration problem:\n%s", cmd, out)
				}
			}
		})
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

package heartbeat

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestDecide(t *testing.T) {
	for _, c := range []struct {
		desc                     string
		healthy, failSent, fail  bool
		wantPing, wantSendFailed bool
	}{
		{"healthy pings", true, false, false, true, false},
		{"healthy pings after a fail", true, true, true, true, false},
		{"unhealthy is silent", false, false, false, false, false},
		{"unhealthy with fail tells once", false, false, true, false, true},
		{"unhealthy with fail told already", false, true, true, false, false},
	} {
		ping, sendFail := Decide(c.healthy, c.failSent, c.fail)
		if ping != c.wantPing || sendFail != c.wantSendFailed {
			t.Errorf("%s: ping=%v fail=%v", c.desc, ping, sendFail)
		}
	}
}

// manualTicker ticks when the test says.
type manualTicker struct{ c chan time.Time }

func (m manualTicker) C() <-chan time.Time { return m.c }
func (m manualTicker) Stop()               {}

func TestPingsFollowHealth(t *testing.T) {
	var mu sync.Mutex
	var got []string
	arrived := make(chan string, 100)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path)
		mu.Unlock()
		arrived <- r.URL.Path
	}))
	defer srv.Close()
	var healthy atomic.Bool
	healthy.Store(true)
	tick := manualTicker{make(chan time.Time)}
	var logs bytes.Buffer
	var logMu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &logMu}, nil))
	secretPath := "/ping/9f1c-secret-uuid"
	p := New(Config{URL: srv.URL + secretPath, Interval: time.Minute, Fail: true,
		Healthy: func() (bool, string) {
			if healthy.Load() {
				return true, ""
			}
			return false, "event stream of web1 is down"
		},
		NewTicker: func(time.Duration) Ticker { return tick }}, srv.Client(), log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = p.Run(ctx); close(done) }()

	want := func(path string) {
		t.Helper()
		select {
		case p := <-arrived:
			if p != path {
				t.Fatalf("got %s, want %s", p, path)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("no request for %s", path)
		}
	}
	want(secretPath) // at once
	tick.c <- time.Now()
	want(secretPath)
	healthy.Store(false)
	tick.c <- time.Now()
	want(secretPath + "/fail")
	tick.c <- time.Now() // unhealthy still: told already, nothing
	healthy.Store(true)
	tick.c <- time.Now()
	want(secretPath) // the sentinel: nothing came between
	cancel()
	<-done
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(got, ",") != "GET "+secretPath+",GET "+secretPath+",GET "+secretPath+"/fail,GET "+secretPath {
		t.Errorf("requests: %v", got)
	}
	logMu.Lock()
	defer logMu.Unlock()
	if !strings.Contains(logs.String(), "heartbeat stopped") || !strings.Contains(logs.String(), "heartbeat pinging") {
		t.Errorf("logs: %s", logs.String())
	}
}

// Before the first healthy tick (the streams opening) nothing is told.
func TestNoFailBeforeHealthyOnce(t *testing.T) {
	arrived := make(chan string, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { arrived <- r.URL.Path }))
	defer srv.Close()
	var healthy atomic.Bool
	tick := manualTicker{make(chan time.Time)}
	p := New(Config{URL: srv.URL + "/p", Interval: time.Minute, Fail: true,
		Healthy:   func() (bool, string) { return healthy.Load(), "starting" },
		NewTicker: func(time.Duration) Ticker { return tick }}, srv.Client(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = p.Run(ctx) }()
	tick.c <- time.Now() // unhealthy, twice: nothing
	healthy.Store(true)
	tick.c <- time.Now()
	select {
	case got := <-arrived:
		if got != "/p" {
			t.Fatalf("first request %s, want the ping /p", got)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("no ping")
	}
}

func TestFailuresNeverShowTheURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }))
	dead := srv.URL
	srv.Close()
	var logs bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
	p := New(Config{URL: dead + "/ping/secret-check-key", Interval: time.Second}, http.DefaultClient, log)
	if p.get(context.Background(), dead+"/ping/secret-check-key") {
		t.Fatal("a dead URL was taken")
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Contains(logs.String(), "secret-check-key") || !strings.Contains(logs.String(), "heartbeat ping failed") {
		t.Errorf("logs: %s", logs.String())
	}
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

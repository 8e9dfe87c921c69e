package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/notify/webhook"
)

// attempt is one request a sink received.
type attempt struct {
	at      time.Time
	status  int
	header  http.Header
	payload webhook.Payload
}

// scriptedSink is a real HTTP server on 127.0.0.1 that records every
// request. It answers status(n) for the n-th request (1-based; 200 when
// status is nil), after an optional delay.
type scriptedSink struct {
	*httptest.Server
	mu       sync.Mutex
	attempts []attempt
}

func newScriptedSink(t *testing.T, delay time.Duration, status func(n int) (int, string)) *scriptedSink {
	s := &scriptedSink{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var p webhook.Payload
		if err := json.Unmarshal(b, &p); err != nil {
			t.Errorf("webhook body is not JSON: %s", b)
		}
		time.Sleep(delay)
		s.mu.Lock()
		code, retryAfter := 200, ""
		if status != nil {
			code, retryAfter = status(len(s.attempts) + 1)
		}
		s.attempts = append(s.attempts, attempt{at: time.Now(), status: code, header: r.Header.Clone(), payload: p})
		s.mu.Unlock()
		announce()
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *scriptedSink) all() []attempt {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]attempt(nil), s.attempts...)
}

// about lists the payloads about one name (a container, or a host for
// whalewatch's own reports).
func (s *scriptedSink) about(name string) []webhook.Payload {
	return s.where(func(p webhook.Payload) bool { return p.Name == name })
}

// where lists the accepted payloads that keep says to.
func (s *scriptedSink) where(keep func(webhook.Payload) bool) []webhook.Payload {
	var out []webhook.Payload
	for _, a := range s.all() {
		if keep(a.payload) {
			out = append(out, a.payload)
		}
	}
	return out
}

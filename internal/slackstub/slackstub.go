// Package slackstub is a local stand-in for Slack's Web API, for tests: it
// answers chat.postMessage, chat.update and chat.delete like Slack does,
// records every call, and can be told to rate-limit, or that a message was
// deleted (or can no longer be edited) in Slack.
package slackstub

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack"
)

// Call is one recorded Web API call.
type Call struct {
	Method string     // e.g. chat.postMessage
	Form   url.Values // channel, text, blocks, ts, thread_ts …
	Token  string
}

// Blocks decodes the call's blocks.
func (c Call) Blocks(t testing.TB) slack.Blocks {
	t.Helper()
	var b slack.Blocks
	if err := json.Unmarshal([]byte(c.Form.Get("blocks")), &b); err != nil {
		t.Fatalf("blocks of %s: %v\n%s", c.Method, err, c.Form.Get("blocks"))
	}
	return b
}

// Server is the stand-in.
type Server struct {
	*httptest.Server
	mu          sync.Mutex
	calls       []Call
	rateLimited int // answer this many next calls with 429
	retryAfter  int
	seq         int
	groups      map[string][]string // user group → members
	noEdit      map[string]string   // message ts → the error chat.update answers
}

// DeleteMessage deletes a message as someone in Slack would: chat.update
// of it answers {"ok":false,"error":"message_not_found"}, as Slack does.
func (s *Server) DeleteMessage(ts string) { s.RefuseEdits(ts, "message_not_found") }

// RefuseEdits makes chat.update of the message ts answer the error code
// (cant_update_message, edit_window_closed, message_not_found).
func (s *Server) RefuseEdits(ts, code string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noEdit == nil {
		s.noEdit = map[string]string{}
	}
	s.noEdit[ts] = code
}

// SetGroup sets the members of a user group (usergroups.users.list).
func (s *Server) SetGroup(id string, users ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.groups == nil {
		s.groups = map[string][]string{}
	}
	s.groups[id] = users
}

// New starts a stand-in; it stops when the test ends.
func New(t testing.TB) *Server {
	s := &Server{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

// APIURL is the base URL for slack.OptionAPIURL.
func (s *Server) APIURL() string { return s.URL + "/api/" }

// RateLimit makes the next n calls answer 429 with Retry-After: after seconds.
func (s *Server) RateLimit(n, after int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rateLimited, s.retryAfter = n, after
}

// Calls returns the recorded calls of a method ("" for all).
func (s *Server) Calls(method string) []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Call
	for _, c := range s.calls {
		if method == "" || c.Method == method {
			out = append(out, c)
		}
	}
	return out
}

// WaitCalls waits until n calls of method were recorded.
func (s *Server) WaitCalls(t testing.TB, method string, n int, timeout time.Duration) []Call {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if c := s.Calls(method); len(c) >= n {
			return c
		}
		if time.Now().After(deadline) {
			t.Fatalf("slack stand-in: %d %s calls after %s, want %d", len(s.Calls(method)), method, timeout, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	method := strings.TrimPrefix(r.URL.Path, "/api/")
	if err := r.ParseForm(); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	if s.rateLimited > 0 {
		s.rateLimited--
		s.mu.Unlock()
		w.Header().Set("Retry-After", fmt.Sprint(s.retryAfter))
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = w.Write([]byte(`{"ok":false,"error":"ratelimited"}`))
		return
	}
	s.seq++
	ts := fmt.Sprintf("1700000000.%06d", s.seq)
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	if token == "" {
		token = r.Form.Get("token")
	}
	s.calls = append(s.calls, Call{Method: method, Form: r.Form, Token: token})
	members, isGroup := s.groups[r.Form.Get("usergroup")]
	editErr, refused := s.noEdit[r.Form.Get("ts")]
	if method == "chat.delete" && editErr != "message_not_found" {
		if s.noEdit == nil {
			s.noEdit = map[string]string{}
		}
		s.noEdit[r.Form.Get("ts")] = "message_not_found"
	}
	s.mu.Unlock()

	w.Header().Set("Content-Type", "application/json")
	channel := r.Form.Get("channel")
	switch {
	case token == "xoxb-invalid":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "invalid_auth"})
	case channel == "C404":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "channel_not_found"})
	case method == "usergroups.users.list" && !isGroup:
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": "no_such_subteam"})
	case method == "usergroups.users.list":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "users": members})
	case method == "chat.update" && refused, method == "chat.delete" && editErr == "message_not_found":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": false, "error": editErr})
	case method == "chat.update" || method == "chat.delete":
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": channel, "ts": r.Form.Get("ts")})
	default:
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": channel, "ts": ts})
	}
}

// Sign is the X-Slack-Signature Slack sends with body at timestamp ts.
func Sign(secret, ts string, body []byte) string {
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	return "v0=" + hex.EncodeToString(mac.Sum(nil))
}

package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
)

// standIn is a local Events API v2: it checks each event as PagerDuty's
// published schema says (required fields, enums, sizes) and answers as
// PagerDuty does — 202 with the dedup_key, 400 "invalid event" with
// errors, 429 when told to.
type standIn struct {
	*httptest.Server
	mu       sync.Mutex
	events   []Event
	throttle int // answer 429 this many times first
}

func newStandIn(t *testing.T) *standIn {
	s := &standIn{}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		http.NotFound(w, r)
		return
	}
	if s.throttle > 0 {
		s.throttle--
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	var raw map[string]any
	var e Event
	body := make([]byte, MaxPayload+1)
	n, _ := r.Body.Read(body)
	for n < len(body) {
		m, err := r.Body.Read(body[n:])
		n += m
		if err != nil {
			break
		}
	}
	body = body[:n]
	errs := check(body, &raw, &e)
	if len(errs) > 0 {
		w.WriteHeader(http.StatusBadRequest)
		_ = json.NewEncoder(w).Encode(Response{Status: "invalid event", Message: "Event object is invalid", Errors: errs})
		return
	}
	s.events = append(s.events, e)
	w.WriteHeader(http.StatusAccepted)
	_ = json.NewEncoder(w).Encode(Response{Status: "success", Message: "Event processed", DedupKey: e.DedupKey})
}

// check is the Events API v2 schema.
func check(body []byte, raw *map[string]any, e *Event) []string {
	if len(body) > MaxPayload {
		return []string{"Event is too large (512 KB at most)"}
	}
	if err := json.Unmarshal(body, raw); err != nil {
		return []string{"Invalid JSON: " + err.Error()}
	}
	if err := json.Unmarshal(body, e); err != nil {
		return []string{"Invalid field type: " + err.Error()}
	}
	var errs []string
	if len(e.RoutingKey) != 32 {
		errs = append(errs, "'routing_key' must be a 32 character integration key")
	}
	if !slices.Contains([]string{"trigger", "acknowledge", "resolve"}, e.EventAction) {
		errs = append(errs, "'event_action' is invalid (must be one of the following: 'trigger', 'acknowledge' or 'resolve')")
	}
	if utf8.RuneCountInString(e.DedupKey) > MaxDedupKey {
		errs = append(errs, "'dedup_key' is too long (255 characters at most)")
	}
	if e.EventAction != "trigger" {
		if e.DedupKey == "" {
			errs = append(errs, "'dedup_key' is missing or blank")
		}
		return errs
	}
	p := e.Payload
	if p == nil {
		return append(errs, "'payload' is missing or blank")
	}
	if p.Summary == "" {
		errs = append(errs, "'payload.summary' is missing or blank")
	}
	if utf8.RuneCountInString(p.Summary) > MaxSummary {
		errs = append(errs, "'payload.summary' is too long (1024 characters at most)")
	}
	if p.Source == "" {
		errs = append(errs, "'payload.source' is missing or blank")
	}
	if !slices.Contains(notify.Severities, p.Severity) {
		errs = append(errs, "'payload.severity' is invalid (must be one of the following: 'critical', 'warning', 'error' or 'info')")
	}
	if p.Timestamp != "" {
		if _, err := time.Parse(time.RFC3339Nano, p.Timestamp); err != nil {
			errs = append(errs, "'payload.timestamp' is not a valid ISO 8601 timestamp")
		}
	}
	if cd, ok := (*raw)["payload"].(map[string]any)["custom_details"]; ok {
		if _, isObject := cd.(map[string]any); !isObject {
			errs = append(errs, "'payload.custom_details' must be an object")
		}
	}
	for i, l := range e.Links {
		if !strings.HasPrefix(l.Href, "http") {
			errs = append(errs, fmt.Sprintf("'links[%d].href' is not a URL", i))
		}
	}
	return errs
}

func (s *standIn) got() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.events)
}

const key = "R0123456789abcdef0123456789abcde" // 32 characters, like an integration key

func crash(t *testing.T) notify.Notification {
	t.Helper()
	ev := event.Event{Host: "web1", Type: "container", Action: "die", Name: "api", ActorID: "abc123", ExitCode: 137,
		Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Labels: map[string]string{notify.ComposeProject: "shop"},
		Evidence: &event.Evidence{Logs: []event.LogLine{{Stream: "stderr", Text: "panic: boom"}}}}
	n := notify.New("CRASHED", "", ev, []string{notify.ComposeProject})
	n.Incident = &notify.Incident{ID: "inc_1", Status: notify.Firing, Seq: 1, Alerts: 1, OpenedAt: ev.Time}
	n.Link = "https://logs.example/api"
	return n
}

func TestTriggerAcknowledgeResolve(t *testing.T) {
	pd := newStandIn(t)
	p := New(Config{URL: pd.URL + "/v2/enqueue", RoutingKey: key}, pd.Client())
	ctx := context.Background()
	n := crash(t)
	if _, err := p.Notify(ctx, n); err != nil {
		t.Fatal(err)
	}
	if _, err := p.Notify(ctx, notify.NewAck("inc_1", "U123", time.Now())); err != nil {
		t.Fatal(err)
	}
	res := n
	inc := *n.Incident
	inc.Status, inc.Seq, inc.ResolvedAt = notify.Resolved, 2, time.Now()
	res.Incident = &inc
	if _, err := p.Notify(ctx, res); err != nil {
		t.Fatal(err)
	}
	got := pd.got()
	if len(got) != 3 {
		t.Fatalf("got %d events", len(got))
	}
	for i, want := range []string{"trigger", "acknowledge", "resolve"} {
		if got[i].EventAction != want || got[i].DedupKey != "inc_1" {
			t.Errorf("event %d: %s %q, want %s inc_1", i, got[i].EventAction, got[i].DedupKey, want)
		}
	}
	tr := got[0].Payload
	if tr.Source != "web1" || tr.Component != "api" || tr.Group != "shop" || tr.Severity != "critical" || tr.Class != "CRASHED" {
		t.Errorf("trigger payload: %+v", tr)
	}
	facts, _ := tr.CustomDetails["facts"].(map[string]any)
	if facts["Exit code"] == nil || !strings.Contains(tr.CustomDetails["last_output"].(string), "panic: boom") {
		t.Errorf("custom_details: %v", tr.CustomDetails)
	}
	if len(got[0].Links) != 1 || got[0].Links[0].Href != "https://logs.example/api" {
		t.Errorf("links: %v", got[0].Links)
	}
}

func TestSizesAreKept(t *testing.T) {
	pd := newStandIn(t)
	p := New(Config{URL: pd.URL + "/v2/enqueue", RoutingKey: key}, pd.Client())
	n := crash(t)
	n.Text = strings.Repeat("é", 3000) // a summary far over 1024 characters
	var lines []event.LogLine
	for range 2000 {
		lines = append(lines, event.LogLine{Stream: "stdout", Text: strings.Repeat("x", 1000)})
	}
	n.Event.Evidence.Logs = lines // 2 MB of output
	if _, err := p.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	got := pd.got()
	if len(got) != 1 || utf8.RuneCountInString(got[0].Payload.Summary) > MaxSummary {
		t.Fatalf("got %v", got)
	}
}

func TestRefusalsAndRetries(t *testing.T) {
	pd := newStandIn(t)
	ctx := context.Background()
	// A wrong routing key: 400, not retried, PagerDuty's errors told, the key never.
	bad := New(Config{URL: pd.URL + "/v2/enqueue", RoutingKey: "short-secret-key"}, pd.Client())
	retry, err := bad.Notify(ctx, crash(t))
	if retry || err == nil || !strings.Contains(err.Error(), "routing_key") || strings.Contains(err.Error(), "short-secret-key") {
		t.Errorf("400: retry=%v err=%v", retry, err)
	}
	// 429: retried.
	pd.mu.Lock()
	pd.throttle = 1
	pd.mu.Unlock()
	good := New(Config{URL: pd.URL + "/v2/enqueue", RoutingKey: key}, pd.Client())
	if retry, err := good.Notify(ctx, crash(t)); !retry || err == nil {
		t.Errorf("429: retry=%v err=%v", retry, err)
	}
	if _, err := good.Notify(ctx, crash(t)); err != nil {
		t.Errorf("after 429: %v", err)
	}
	// 5xx and a dead endpoint: retried.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }))
	defer srv.Close()
	if retry, err := New(Config{URL: srv.URL, RoutingKey: key}, srv.Client()).Notify(ctx, crash(t)); !retry || err == nil {
		t.Errorf("502: retry=%v err=%v", retry, err)
	}
	srv.Close()
	if retry, err := New(Config{URL: srv.URL, RoutingKey: key}, http.DefaultClient).Notify(ctx, crash(t)); !retry || err == nil {
		t.Errorf("down: retry=%v err=%v", retry, err)
	}
}

func TestSeverityFromTheRule(t *testing.T) {
	n := crash(t)
	n.Rule = "UNHEALTHY"
	if s := NewEvent(n, nil).Payload.Severity; s != "warning" {
		t.Errorf("UNHEALTHY: %s", s)
	}
	if s := NewEvent(n, func(string) string { return "info" }).Payload.Severity; s != "info" {
		t.Errorf("configured: %s", s)
	}
}

package opsgenie

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
)

// standIn is a local Opsgenie Alert API: it checks each request as the
// published API says (GenieKey auth, required message, field sizes,
// priorities, identifierType) and answers as Opsgenie does — 202 with
// result and requestId, 422 with errors, 401 for a wrong key, 429 when
// told to.
type standIn struct {
	*httptest.Server
	key      string
	mu       sync.Mutex
	calls    []call
	throttle int
}

type call struct {
	Action string // create, close, acknowledge
	Alias  string
	Create CreateAlert
	Body   Action
}

var actionPath = regexp.MustCompile(`^/v2/alerts/([^/]+)/(close|acknowledge)$`)

func newStandIn(t *testing.T, key string) *standIn {
	s := &standIn{key: key}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *standIn) answer(w http.ResponseWriter, code int, r Response) {
	r.Took, r.RequestID = 0.01, "0ab1c2d3-0000-4000-8000-000000000000"
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(r)
}

func (s *standIn) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Authorization") != "GenieKey "+s.key {
		s.answer(w, http.StatusUnauthorized, Response{Message: "Could not authenticate"})
		return
	}
	if s.throttle > 0 {
		s.throttle--
		s.answer(w, http.StatusTooManyRequests, Response{Message: "You are making too many requests!"})
		return
	}
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.Header.Get("Content-Type") != "application/json" {
		s.answer(w, http.StatusBadRequest, Response{Message: "Unsupported request"})
		return
	}
	if r.URL.Path == "/v2/alerts" {
		var c CreateAlert
		dec := json.NewDecoder(strings.NewReader(string(body)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			s.answer(w, 422, Response{Message: "Request body is not processable. Please check the errors.", Errors: map[string]string{"body": err.Error()}})
			return
		}
		errs := map[string]string{}
		limit := func(field, v string, max int) {
			if utf8.RuneCountInString(v) > max {
				errs[field] = "is too long"
			}
		}
		if strings.TrimSpace(c.Message) == "" {
			errs["message"] = "Message can not be empty."
		}
		limit("message", c.Message, MaxMessage)
		limit("alias", c.Alias, MaxAlias)
		limit("description", c.Description, MaxDescription)
		limit("entity", c.Entity, MaxEntity)
		limit("source", c.Source, MaxSource)
		if c.Priority != "" && !slices.Contains([]string{"P1", "P2", "P3", "P4", "P5"}, c.Priority) {
			errs["priority"] = "should be one of [P1, P2, P3, P4, P5]"
		}
		if len(c.Tags) > MaxTags {
			errs["tags"] = "at most 20 tags"
		}
		for _, t := range c.Tags {
			limit("tags", t, MaxTag)
		}
		size := 0
		for k, v := range c.Details {
			size += len(k) + len(v)
		}
		if size > MaxDetails {
			errs["details"] = "at most 8000 characters"
		}
		if len(errs) > 0 {
			s.answer(w, 422, Response{Message: "Request body is not processable. Please check the errors.", Errors: errs})
			return
		}
		s.calls = append(s.calls, call{Action: "create", Alias: c.Alias, Create: c})
		s.answer(w, http.StatusAccepted, Response{Result: "Request will be processed"})
		return
	}
	m := actionPath.FindStringSubmatch(r.URL.Path)
	if m == nil {
		s.answer(w, http.StatusNotFound, Response{Message: "No handler found"})
		return
	}
	if r.URL.Query().Get("identifierType") != "alias" {
		s.answer(w, 422, Response{Message: "identifierType should be one of [id, alias, tiny]"})
		return
	}
	var a Action
	if err := json.Unmarshal(body, &a); err != nil {
		s.answer(w, 422, Response{Message: "Request body is not processable."})
		return
	}
	s.calls = append(s.calls, call{Action: m[2], Alias: m[1], Body: a})
	s.answer(w, http.StatusAccepted, Response{Result: "Request will be processed"})
}

func (s *standIn) got() []call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

const key = "eb243592-faa2-4ba2-a551q-1afdf565c889"

func crash() notify.Notification {
	ev := event.Event{Host: "web1", Type: "container", Action: "die", Name: "api", ActorID: "abc123", ExitCode: 1,
		Time: time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC), Labels: map[string]string{notify.ComposeProject: "shop"}}
	n := notify.New("CRASHED", "", ev, []string{notify.ComposeProject})
	n.Incident = &notify.Incident{ID: "inc_7", Status: notify.Firing, Seq: 1, Alerts: 1, OpenedAt: ev.Time}
	return n
}

func TestCreateAcknowledgeClose(t *testing.T) {
	og := newStandIn(t, key)
	o := New(Config{URL: og.URL + "/", APIKey: key}, og.Client())
	ctx := context.Background()
	n := crash()
	n.Text = strings.Repeat("long summary ", 30) // over 130 characters
	if _, err := o.Notify(ctx, n); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Notify(ctx, notify.NewAck("inc_7", "U123", time.Now())); err != nil {
		t.Fatal(err)
	}
	res := n
	inc := *n.Incident
	inc.Status = notify.Resolved
	res.Incident = &inc
	if _, err := o.Notify(ctx, res); err != nil {
		t.Fatal(err)
	}
	got := og.got()
	if len(got) != 3 {
		t.Fatalf("calls: %+v", got)
	}
	for i, want := range []string{"create", "acknowledge", "close"} {
		if got[i].Action != want || got[i].Alias != "inc_7" {
			t.Errorf("call %d: %s %s, want %s inc_7", i, got[i].Action, got[i].Alias, want)
		}
	}
	c := got[0].Create
	if c.Priority != "P1" || c.Entity != "api" || !slices.Contains(c.Tags, "shop") || c.Details["Exit code"] == "" {
		t.Errorf("create: %+v", c)
	}
	if got[1].Body.User != "U123" {
		t.Errorf("acknowledge: %+v", got[1].Body)
	}
}

func TestRefusals(t *testing.T) {
	og := newStandIn(t, key)
	ctx := context.Background()
	retry, err := New(Config{URL: og.URL, APIKey: "wrong-secret"}, og.Client()).Notify(ctx, crash())
	if retry || err == nil || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("401: retry=%v err=%v", retry, err)
	}
	og.mu.Lock()
	og.throttle = 1
	og.mu.Unlock()
	o := New(Config{URL: og.URL, APIKey: key}, og.Client())
	if retry, err := o.Notify(ctx, crash()); !retry || err == nil {
		t.Errorf("429: retry=%v err=%v", retry, err)
	}
	if _, err := o.Notify(ctx, crash()); err != nil {
		t.Errorf("after 429: %v", err)
	}
}

func TestPriority(t *testing.T) {
	for sev, want := range map[string]string{"critical": "P1", "error": "P2", "warning": "P3", "info": "P5"} {
		if got := Priority(sev); got != want {
			t.Errorf("%s: %s, want %s", sev, got, want)
		}
	}
}

package webhook_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/webhook"
)

// The published Standard Webhooks test vector: receivers' libraries must
// accept what we send.
func TestSignMatchesStandardWebhooksVector(t *testing.T) {
	w, err := webhook.New(webhook.Config{URL: "http://127.0.0.1/", Secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, http.DefaultClient)
	if err != nil || w == nil {
		t.Fatal(err)
	}
	key, _ := base64.StdEncoding.DecodeString("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	got := webhook.Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Errorf("signature %s, want %s", got, want)
	}
}

type received struct {
	header http.Header
	body   []byte
}

func sink(t *testing.T, status func(n int) int) (*httptest.Server, chan received) {
	ch := make(chan received, 10)
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		ch <- received{r.Header.Clone(), b}
		n++
		if status != nil {
			if s := status(n); s == 429 {
				w.Header().Set("Retry-After", "7")
				w.WriteHeader(s)
			} else {
				w.WriteHeader(s)
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func sample() notify.Notification {
	return notify.New("CRASHED", "", event.Event{Type: "container", Action: "die", Name: `web "1"`, Image: "nginx", ExitCode: 3, Host: "h1",
		ActorID: "abc", TimeNano: 42, Time: time.Unix(0, 42).UTC(), Attributes: map[string]string{"exitCode": "3", "name": `web "1"`}}, nil)
}

func TestPostsDefaultPayloadSigned(t *testing.T) {
	srv, got := sink(t, nil)
	w, err := webhook.New(webhook.Config{URL: srv.URL + "/hook", Secret: "s3cret", Headers: map[string]string{"Authorization": "Bearer abc"}}, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	n := sample()
	if retry, err := w.Notify(context.Background(), n); err != nil || retry {
		t.Fatal(retry, err)
	}
	r := <-got
	var p webhook.Payload
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	if p.Name != `web "1"` || p.Image != "nginx" || p.ExitCode == nil || *p.ExitCode != 3 || p.Host != "h1" || p.Rule != "CRASHED" || p.ID != n.ID {
		t.Errorf("payload = %+v", p)
	}
	if r.header.Get("Authorization") != "Bearer abc" || r.header.Get("Content-Type") != "application/json" {
		t.Errorf("headers = %v", r.header)
	}
	if r.header.Get("webhook-id") != n.ID {
		t.Errorf("webhook-id = %q", r.header.Get("webhook-id"))
	}
	want := webhook.Sign([]byte("s3cret"), n.ID, r.header.Get("webhook-timestamp"), r.body)
	if r.header.Get("webhook-signature") != want {
		t.Errorf("signature %q, want %q", r.header.Get("webhook-signature"), want)
	}
}

func TestTemplateIsJSONSafe(t *testing.T) {
	srv, got := sink(t, nil)
	w, err := webhook.New(webhook.Config{URL: srv.URL, Template: `{"text": "{{.summary}}", "who": "{{.name}}", "code": {{.exit_code}}}`}, http.DefaultClient)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Notify(context.Background(), sample()); err != nil {
		t.Fatal(err)
	}
	var body map[string]any
	if err := json.Unmarshal((<-got).body, &body); err != nil {
		t.Fatal(err)
	}
	if body["who"] != `web "1"` || body["code"] != float64(3) || !strings.HasPrefix(body["text"].(string), `container web "1" died`) {
		t.Errorf("body = %v", body)
	}
}

func TestBadTemplateIsAStartError(t *testing.T) {
	for _, tpl := range []string{`{"a": {{.name}`, `{"a": {{.name}}}`} {
		if _, err := webhook.New(webhook.Config{URL: "http://127.0.0.1/", Template: tpl}, http.DefaultClient); err == nil {
			t.Errorf("template %s accepted", tpl)
		}
	}
	if _, err := webhook.New(webhook.Config{URL: "http://127.0.0.1/", Secret: "whsec_!!!"}, http.DefaultClient); err == nil {
		t.Error("bad whsec_ secret accepted")
	}
}

func TestStatusDecidesRetry(t *testing.T) {
	for _, tc := range []struct {
		status int
		retry  bool
	}{{200, false}, {204, false}, {400, false}, {404, false}, {408, true}, {429, true}, {500, true}, {503, true}} {
		srv, _ := sink(t, func(int) int { return tc.status })
		w, _ := webhook.New(webhook.Config{URL: srv.URL}, http.DefaultClient)
		retry, err := w.Notify(context.Background(), sample())
		if retry != tc.retry || (err == nil) != (tc.status < 300) {
			t.Errorf("status %d: retry=%v err=%v", tc.status, retry, err)
		}
		var ra *notify.RetryAfterError
		if tc.status == 429 && (!errors.As(err, &ra) || ra.After != 7*time.Second) {
			t.Errorf("429 without Retry-After: %v", err)
		}
	}
}

func TestErrorsNeverCarryTheURL(t *testing.T) {
	srv, _ := sink(t, nil)
	url := srv.URL + "/hooks/SECRET-TOKEN?key=SECRET-KEY"
	srv.Close()
	w, _ := webhook.New(webhook.Config{URL: url}, http.DefaultClient)
	retry, err := w.Notify(context.Background(), sample())
	if !retry || err == nil || strings.Contains(err.Error(), "SECRET") {
		t.Errorf("retry=%v err=%v", retry, err)
	}
}

// A death whose exit code a label shadowed says in the payload that the
// daemon's value was checked (as the README promises).
func TestPayloadListsVerifiedAttributes(t *testing.T) {
	ev := event.Event{Host: "h", Type: "container", Action: "die", ActorID: "c1", ExitCode: 3, Verified: []string{"exitCode"}}
	body, err := json.Marshal(webhook.NewPayload(notify.New("CRASHED", "", ev, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(body), `"verified":["exitCode"]`) {
		t.Errorf("payload lacks verified: %s", body)
	}
}

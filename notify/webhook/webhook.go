// Package webhook posts notifications as JSON to any HTTP endpoint, signed
// the Standard Webhooks way when a secret is set.
package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/redact"
	"github.com/whalewatch/whalewatch/notify"
)

// Payload is the documented default JSON body.
type Payload struct {
	ID      string    `json:"id"`
	Rule    string    `json:"rule"`
	Summary string    `json:"summary"`
	Host    string    `json:"host"`
	Engine  string    `json:"engine,omitempty"` // docker or podman
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Action  string    `json:"action"`
	// Status is "firing", or "resolved" for the message that resolves an
	// incident (as Alertmanager's webhook says it).
	Status string `json:"status"`
	// EventStatus is the part of the Docker action after ": ", e.g. "unhealthy".
	EventStatus string            `json:"event_status,omitempty"`
	ActorID     string            `json:"actor_id"`
	Name        string            `json:"name,omitempty"`
	Image       string            `json:"image,omitempty"`
	ExitCode    *int              `json:"exit_code,omitempty"`
	ExitMeaning string            `json:"exit_meaning,omitempty"`
	Labels      map[string]string `json:"labels,omitempty"`
	Attributes  map[string]string `json:"attributes,omitempty"`
	Intentional bool              `json:"intentional"`
	OOMKilled   bool              `json:"oom_killed"`
	Reconciled  bool              `json:"reconciled"`
	// Verified lists the attributes whose value came from inspect because a
	// label shadowed the daemon's (exitCode).
	Verified []string `json:"verified,omitempty"`
	// Group is set when the message stands for several matches.
	Group *notify.Group `json:"group,omitempty"`
	// Incident ties the messages about one container's problem together,
	// from the first alert to the resolution, under one stable id.
	Incident *notify.Incident `json:"incident,omitempty"`
	// Evidence is the crash card: last output, healthcheck probes,
	// restarts, run time, image digest.
	Evidence *event.Evidence `json:"evidence,omitempty"`
	// Stats are a stats rule's figures, with the trend of its FOR window.
	Stats *event.Stats `json:"stats,omitempty"`
	Owner string       `json:"owner,omitempty"` // whalewatch.owner: a Slack user or group ID
	Link  string       `json:"link,omitempty"`  // LINK_TEMPLATE's link
	// Card is the whole notification as plain text (for chat webhooks
	// whose body is one text field).
	Card string `json:"card"`
}

// NewPayload builds the default body of n.
func NewPayload(n notify.Notification) Payload {
	ev := n.Event
	p := Payload{
		ID: n.ID, Rule: n.Rule, Summary: n.Summary(), Host: ev.Host, Engine: ev.Engine, Time: ev.Time,
		Type: ev.Type, Action: ev.Action, Status: notify.Firing, EventStatus: ev.Status, ActorID: ev.ActorID,
		Name: ev.Name, Image: ev.Image, Labels: ev.Labels, Attributes: ev.Attributes,
		Intentional: ev.Intentional, OOMKilled: ev.OOMKilled, Reconciled: ev.Reconciled, Verified: ev.Verified, Group: n.Group,
		Incident: n.Incident, Evidence: ev.Evidence, Stats: ev.Stats, Owner: n.Owner, Link: n.Link, Card: n.PlainText(),
	}
	if n.Incident != nil && n.Incident.Status == notify.Resolved {
		p.Status = notify.Resolved
	}
	if ev.ExitCode >= 0 {
		code := ev.ExitCode
		p.ExitCode, p.ExitMeaning = &code, event.ExitMeaning(code)
	}
	return p
}

// Config is one webhook destination.
type Config struct {
	URL     string
	Secret  string            // Standard Webhooks secret ("whsec_<base64>" or raw)
	Headers map[string]string // extra request headers
	// Template, when set, renders the body. Its data is the default payload
	// with every string JSON-escaped, so "{{.name}}" inside quotes is safe;
	// the result must be valid JSON.
	Template string
}

// Notifier posts to one webhook.
type Notifier struct {
	url      string
	key      []byte
	headers  map[string]string
	template *template.Template
	client   *http.Client
}

// New checks cfg and returns its notifier.
func New(cfg Config, client *http.Client) (*Notifier, error) {
	w := &Notifier{url: cfg.URL, headers: cfg.Headers, client: client}
	if cfg.Secret != "" {
		key, err := secretKey(cfg.Secret)
		if err != nil {
			return nil, err
		}
		w.key = key
	}
	if cfg.Template != "" {
		t, err := template.New("webhook").Option("missingkey=zero").Parse(cfg.Template)
		if err != nil {
			return nil, err
		}
		w.template = t
		sample := notify.New("SAMPLE", "", event.Event{Type: "container", Action: "die", Name: "sample", ExitCode: 1}, nil)
		if _, err := w.body(sample); err != nil {
			return nil, err
		}
	}
	return w, nil
}

// CheckSecret tells whether a signing secret is usable: "whsec_" and
// base64, or any other text used as it is.
func CheckSecret(secret string) error {
	_, err := secretKey(secret)
	return err
}

// CheckTemplate parses a body template and renders it for a sample
// notification; the result must be valid JSON.
func CheckTemplate(tmpl string) error {
	_, err := New(Config{Template: tmpl}, nil)
	return err
}

func secretKey(secret string) ([]byte, error) {
	if b64, ok := strings.CutPrefix(secret, "whsec_"); ok {
		key, err := base64.StdEncoding.DecodeString(b64)
		if err != nil {
			return nil, fmt.Errorf("the part after whsec_ is not base64")
		}
		return key, nil
	}
	return []byte(secret), nil
}

// Notify posts n. 408, 429, 5xx and network errors are retried.
func (w *Notifier) Notify(ctx context.Context, n notify.Notification) (bool, error) {
	body, err := w.body(n)
	if err != nil {
		return false, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.url, bytes.NewReader(body))
	if err != nil {
		return false, redact.URL(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "whalewatch")
	for k, v := range w.headers {
		req.Header.Set(k, v)
	}
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	req.Header.Set("webhook-id", n.ID)
	req.Header.Set("webhook-timestamp", ts)
	if w.key != nil {
		req.Header.Set("webhook-signature", Sign(w.key, n.ID, ts, body))
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return true, redact.URL(err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return false, nil
	}
	err = fmt.Errorf("webhook answered %s", resp.Status)
	if after, ok := retryAfter(resp); ok {
		return true, &notify.RetryAfterError{After: after, Err: err}
	}
	return notify.RetryableStatus(resp.StatusCode), err
}

// retryAfter reads a 429/503 Retry-After given in seconds.
func retryAfter(resp *http.Response) (time.Duration, bool) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return 0, false
	}
	secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	if err != nil || secs < 0 {
		return 0, false
	}
	return time.Duration(secs) * time.Second, true
}

// Sign is the Standard Webhooks signature of one message.
func Sign(key []byte, id, timestamp string, body []byte) string {
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.", id, timestamp)
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func (w *Notifier) body(n notify.Notification) ([]byte, error) {
	p := NewPayload(n)
	if w.template == nil {
		return json.Marshal(p)
	}
	data, err := escapedData(p)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	if err := w.template.Execute(&b, data); err != nil {
		return nil, fmt.Errorf("template: %w", err)
	}
	if !json.Valid(b.Bytes()) {
		return nil, fmt.Errorf("template: result is not valid JSON")
	}
	return b.Bytes(), nil
}

// escapedData is the payload as a map whose strings are JSON-escaped
// without quotes, ready to stand inside a template's quotes.
func escapedData(p Payload) (map[string]any, error) {
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, err
	}
	// An empty string is left out of the JSON (omitempty), but a template
	// must see "" rather than print "<no value>" (found by fuzzing).
	t := reflect.TypeOf(p)
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if _, ok := m[name]; !ok && t.Field(i).Type.Kind() == reflect.String {
			m[name] = ""
		}
	}
	return escapeStrings(m).(map[string]any), nil
}

func escapeStrings(v any) any {
	switch x := v.(type) {
	case string:
		quoted, _ := json.Marshal(x)
		return string(quoted[1 : len(quoted)-1])
	case map[string]any:
		for k, e := range x {
			x[k] = escapeStrings(e)
		}
	case []any:
		for i, e := range x {
			x[i] = escapeStrings(e)
		}
	}
	return v
}

// Package pagerduty sends incidents to PagerDuty's Events API v2: a
// trigger when one opens (and for its updates), an acknowledge when
// someone takes it in Slack, a resolve when it resolves, all under one
// dedup_key, the incident's id.
package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/whalewatch/whalewatch/internal/redact"
	"github.com/whalewatch/whalewatch/notify"
)

// DefaultURL is the Events API v2 endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Limits of the Events API v2.
const (
	MaxSummary  = 1024       // payload.summary, characters
	MaxDedupKey = 255        // dedup_key, characters
	MaxPayload  = 512 * 1024 // the whole event (custom_details is most of it), bytes
	maxLogs     = 64 * 1024  // the card's output kept in custom_details
)

// Event is one Events API v2 event.
type Event struct {
	RoutingKey  string   `json:"routing_key"`
	EventAction string   `json:"event_action"` // trigger, acknowledge or resolve
	DedupKey    string   `json:"dedup_key,omitempty"`
	Payload     *Payload `json:"payload,omitempty"` // trigger only
	Client      string   `json:"client,omitempty"`
	Links       []Link   `json:"links,omitempty"`
}

// Payload is a trigger's alert.
type Payload struct {
	Summary       string         `json:"summary"`
	Source        string         `json:"source"`
	Severity      string         `json:"severity"`
	Timestamp     string         `json:"timestamp,omitempty"`
	Component     string         `json:"component,omitempty"`
	Group         string         `json:"group,omitempty"`
	Class         string         `json:"class,omitempty"`
	CustomDetails map[string]any `json:"custom_details,omitempty"`
}

// Link is a link shown with the alert.
type Link struct {
	Href string `json:"href"`
	Text string `json:"text,omitempty"`
}

// Response is the Events API's answer: 202 with status "success" and the
// dedup_key, or 400 with status "invalid event" and errors.
type Response struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key"`
	Errors   []string `json:"errors"`
}

// Config is one PagerDuty destination.
type Config struct {
	URL        string // default DefaultURL
	RoutingKey string // secret: the integration key
	Headers    map[string]string
	Severity   notify.SeverityOf
}

// Notifier sends to one PagerDuty service.
type Notifier struct {
	cfg    Config
	client *http.Client
}

// New returns the notifier of cfg.
func New(cfg Config, client *http.Client) *Notifier {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	return &Notifier{cfg: cfg, client: client}
}

// DedupKey is the incident's id, or (for a message of no incident) its
// group's key or its own id: stable across whalewatch instances.
func DedupKey(n notify.Notification) string {
	k := n.ID
	switch {
	case n.Incident != nil:
		k = n.Incident.ID
	case n.Group != nil:
		k = n.Group.Key
	}
	return truncate(k, MaxDedupKey)
}

// NewEvent is the event that stands for n (without its routing key).
func NewEvent(n notify.Notification, severity notify.SeverityOf) Event {
	e := Event{DedupKey: DedupKey(n), Client: "whalewatch"}
	switch {
	case notify.IsAck(n):
		e.EventAction = "acknowledge"
		return e
	case n.Incident != nil && n.Incident.Status == notify.Resolved:
		e.EventAction = "resolve"
		return e
	}
	e.EventAction = "trigger"
	ev := n.Event
	source := ev.Host
	if source == "" {
		source = "whalewatch"
	}
	p := &Payload{
		Summary: truncate(n.Rule+": "+n.Summary(), MaxSummary), Source: source, Severity: severity.Of(n.Rule),
		Component: ev.Name, Group: ev.Labels[notify.ComposeProject], Class: n.Rule,
		CustomDetails: map[string]any{},
	}
	if !ev.Time.IsZero() {
		p.Timestamp = ev.Time.UTC().Format(time.RFC3339Nano)
	}
	facts := map[string]string{}
	for _, f := range n.Fields() {
		facts[f.Name] = f.Value
	}
	p.CustomDetails["facts"] = facts
	if logs := n.LogText(); logs != "" {
		p.CustomDetails["last_output"] = truncate(logs, maxLogs)
	}
	if probes := n.ProbeText(); probes != "" {
		p.CustomDetails["healthcheck_output"] = truncate(probes, maxLogs)
	}
	if n.Incident != nil {
		p.CustomDetails["incident"] = n.Incident
	}
	if n.Owner != "" {
		p.CustomDetails["owner"] = n.Owner
	}
	e.Payload = p
	if n.Link != "" {
		e.Links = []Link{{Href: n.Link, Text: "More"}}
	}
	return e
}

// Notify sends n's event. 429 and 5xx are retried; 400 is PagerDuty
// refusing the event for good (its errors are in the error).
func (p *Notifier) Notify(ctx context.Context, n notify.Notification) (bool, error) {
	e := NewEvent(n, p.cfg.Severity)
	e.RoutingKey = p.cfg.RoutingKey
	body, err := json.Marshal(e)
	if err != nil {
		return false, err
	}
	if len(body) > MaxPayload {
		// The card's output is what grows: drop it rather than the alert.
		delete(e.Payload.CustomDetails, "last_output")
		delete(e.Payload.CustomDetails, "healthcheck_output")
		if body, err = json.Marshal(e); err != nil {
			return false, err
		}
	}
	resp, retry, err := notify.PostJSON(ctx, p.client, p.cfg.URL, body, 1<<16, p.cfg.Headers)
	if err != nil {
		return retry, redact.URL(err)
	}
	if resp.OK() {
		return false, nil
	}
	var r Response
	_ = json.Unmarshal(resp.Body, &r)
	err = fmt.Errorf("pagerduty answered %s", resp.StatusText)
	if r.Message != "" || len(r.Errors) > 0 {
		// PagerDuty's words about the event, never the routing key.
		why := strings.Join(append([]string{r.Message}, r.Errors...), "; ")
		if p.cfg.RoutingKey != "" {
			why = strings.ReplaceAll(why, p.cfg.RoutingKey, "[routing key]")
		}
		err = fmt.Errorf("pagerduty answered %s: %s", resp.StatusText, redact.Secrets(why))
	}
	return notify.RetryableStatus(resp.Status), err
}

// truncate cuts s to at most max bytes (so at most max characters) on a
// character boundary, marking the cut.
func truncate(s string, max int) string {
	if len(s) <= max {
		return s
	}
	const mark = "…"
	cut := max - len(mark)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + mark
}

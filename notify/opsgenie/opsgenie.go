// Package opsgenie sends incidents to Opsgenie's Alert API: an alert is
// created with the incident's id as its alias (Opsgenie keeps one open
// alert per alias, so updates and other whalewatch instances add to it),
// acknowledged when someone takes it in Slack, and closed when it resolves.
package opsgenie

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/whalewatch/whalewatch/internal/redact"
	"github.com/whalewatch/whalewatch/notify"
)

// DefaultURL is Opsgenie's API (EU accounts: https://api.eu.opsgenie.com).
const DefaultURL = "https://api.opsgenie.com"

// Limits of the Alert API.
const (
	MaxMessage     = 130
	MaxAlias       = 512
	MaxDescription = 15000
	MaxEntity      = 512
	MaxSource      = 100
	MaxNote        = 25000
	MaxTag         = 50
	MaxTags        = 20
	MaxDetails     = 8000 // the details' keys and values together
)

// CreateAlert is the body of POST /v2/alerts.
type CreateAlert struct {
	Message     string            `json:"message"`
	Alias       string            `json:"alias,omitempty"`
	Description string            `json:"description,omitempty"`
	Tags        []string          `json:"tags,omitempty"`
	Details     map[string]string `json:"details,omitempty"`
	Entity      string            `json:"entity,omitempty"`
	Source      string            `json:"source,omitempty"`
	Priority    string            `json:"priority,omitempty"`
	Note        string            `json:"note,omitempty"`
}

// Action is the body of POST /v2/alerts/{alias}/close and …/acknowledge.
type Action struct {
	User   string `json:"user,omitempty"`
	Source string `json:"source,omitempty"`
	Note   string `json:"note,omitempty"`
}

// Response is Opsgenie's answer: 202 with result and requestId, or an
// error with message (and, for 422, errors per field).
type Response struct {
	Result    string            `json:"result"`
	Message   string            `json:"message"`
	Errors    map[string]string `json:"errors"`
	Took      float64           `json:"took"`
	RequestID string            `json:"requestId"`
}

// Config is one Opsgenie destination.
type Config struct {
	URL      string // default DefaultURL
	APIKey   string // secret: an API integration's key
	Headers  map[string]string
	Severity notify.SeverityOf
}

// Notifier sends to one Opsgenie account.
type Notifier struct {
	cfg    Config
	client *http.Client
}

// New returns the notifier of cfg.
func New(cfg Config, client *http.Client) *Notifier {
	if cfg.URL == "" {
		cfg.URL = DefaultURL
	}
	cfg.URL = strings.TrimRight(cfg.URL, "/")
	return &Notifier{cfg: cfg, client: client}
}

// Priority is Opsgenie's priority for a severity.
func Priority(severity string) string {
	switch severity {
	case "critical":
		return "P1"
	case "error":
		return "P2"
	case "warning":
		return "P3"
	case "info":
		return "P5"
	}
	return "P3"
}

// Alias is the incident's id, or (for a message of no incident) its
// group's key or its own id.
func Alias(n notify.Notification) string {
	a := n.ID
	switch {
	case n.Incident != nil:
		a = n.Incident.ID
	case n.Group != nil:
		a = n.Group.Key
	}
	return truncate(a, MaxAlias)
}

// Request is what n asks of Opsgenie: a path (under the API URL) and a body.
func Request(n notify.Notification, severity notify.SeverityOf) (path string, body any) {
	alias := url.PathEscape(Alias(n))
	switch {
	case notify.IsAck(n):
		return "/v2/alerts/" + alias + "/acknowledge?identifierType=alias",
			Action{User: truncate(n.Event.Attributes["user"], 100), Source: "whalewatch", Note: "Acknowledged in Slack"}
	case n.Incident != nil && n.Incident.Status == notify.Resolved:
		return "/v2/alerts/" + alias + "/close?identifierType=alias",
			Action{Source: "whalewatch", Note: truncate(n.Summary(), MaxNote)}
	}
	ev := n.Event
	c := CreateAlert{
		Message: truncate(n.Summary(), MaxMessage), Alias: Alias(n), Description: truncate(n.PlainText(), MaxDescription),
		Entity: truncate(ev.Name, MaxEntity), Source: "whalewatch", Priority: Priority(severity.Of(n.Rule)),
	}
	for _, t := range []string{n.Rule, ev.Host, ev.Labels[notify.ComposeProject]} {
		if t != "" && len(c.Tags) < MaxTags {
			c.Tags = append(c.Tags, truncate(t, MaxTag))
		}
	}
	details, size := map[string]string{}, 0
	for _, f := range n.Fields() {
		if size+len(f.Name)+len(f.Value) > MaxDetails {
			break
		}
		details[f.Name] = f.Value
		size += len(f.Name) + len(f.Value)
	}
	if n.Link != "" && size+len("link")+len(n.Link) <= MaxDetails {
		details["link"] = n.Link
	}
	if len(details) > 0 {
		c.Details = details
	}
	return "/v2/alerts", c
}

// Notify sends n. 429 and 5xx are retried; other refusals (422: a field
// Opsgenie does not take; 401/403: the key) are not.
func (o *Notifier) Notify(ctx context.Context, n notify.Notification) (bool, error) {
	path, v := Request(n, o.cfg.Severity)
	body, err := json.Marshal(v)
	if err != nil {
		return false, err
	}
	resp, retry, err := notify.PostJSON(ctx, o.client, o.cfg.URL+path, body, 1<<16, o.cfg.Headers,
		map[string]string{"Authorization": "GenieKey " + o.cfg.APIKey})
	if err != nil {
		return retry, redact.URL(err)
	}
	if resp.OK() {
		return false, nil
	}
	var r Response
	_ = json.Unmarshal(resp.Body, &r)
	why := r.Message
	for field, e := range r.Errors {
		why += "; " + field + ": " + e
	}
	err = fmt.Errorf("opsgenie answered %s", resp.StatusText)
	if why != "" {
		err = fmt.Errorf("opsgenie answered %s: %s", resp.StatusText, redact.Secrets(hide(why, o.cfg.APIKey)))
	}
	if resp.Status == http.StatusNotFound && strings.Contains(path, "identifierType=alias") {
		// Closing or acknowledging an alert Opsgenie no longer has (closed
		// by hand, or never created): nothing is left to do.
		return false, nil
	}
	return notify.RetryableStatus(resp.Status), err
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// hide takes a secret out of text an API answered with.
func hide(text, secret string) string {
	if secret == "" {
		return text
	}
	return strings.ReplaceAll(text, secret, "[api key]")
}

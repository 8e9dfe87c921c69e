// Package alertmanager posts incidents to Prometheus Alertmanager's
// /api/v2/alerts, one alert per incident, and posts the open ones again
// every Resend so that Alertmanager does not resolve them on its own
// (its resolve_timeout). Several URLs are the members of one Alertmanager
// cluster: each is posted to, as Prometheus does.
package alertmanager

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/whalewatch/whalewatch/internal/redact"
	"github.com/whalewatch/whalewatch/notify"
)

// Alert is one postableAlert of Alertmanager's API v2 (api/v2/openapi.yaml):
// labels are required; an alert without endsAt is firing.
type Alert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations,omitempty"`
	StartsAt     time.Time         `json:"startsAt,omitzero"`
	EndsAt       time.Time         `json:"endsAt,omitzero"`
	GeneratorURL string            `json:"generatorURL,omitempty"`
}

// Store keeps the last firing alert of each open incident, per
// destination, in the state file: a restart goes on re-sending them.
type Store interface {
	PutResend(dest, key string, payload []byte) error
	Resend(dest, key string) ([]byte, bool)
	DeleteResend(dest, key string) error
	Resends(dest string) (map[string][]byte, error)
}

// Config is one Alertmanager destination.
type Config struct {
	Name     string   // the destination's name: its entries in the state file
	URLs     []string // base URLs (http://am:9093), the members of one cluster
	Headers  map[string]string
	Resend   time.Duration // how often open incidents are posted again (default 1m)
	Severity notify.SeverityOf
}

// Notifier posts to one Alertmanager (cluster).
type Notifier struct {
	cfg    Config
	client *http.Client
	store  Store
	log    *slog.Logger

	mu    sync.Mutex
	locks map[string]*keyLock // per incident: a post and its store change go together
}

type keyLock struct {
	mu   sync.Mutex
	refs int
}

// New returns the notifier of cfg.
func New(cfg Config, client *http.Client, store Store, log *slog.Logger) *Notifier {
	if cfg.Resend <= 0 {
		cfg.Resend = time.Minute
	}
	for i, u := range cfg.URLs {
		cfg.URLs[i] = strings.TrimRight(u, "/")
	}
	return &Notifier{cfg: cfg, client: client, store: store, log: log, locks: map[string]*keyLock{}}
}

// Labels builds the alert's identity: from the daemon's truth (host,
// container, compose labels, the rule and the incident id), never from
// the whalewatch instance, so several instances watching one daemon make
// the same alert and Alertmanager keeps one.
func Labels(n notify.Notification, severity notify.SeverityOf) map[string]string {
	ev := n.Event
	l := map[string]string{
		"alertname":       n.Rule,
		"host":            ev.Host,
		"container":       ev.Name,
		"compose_project": ev.Labels[notify.ComposeProject],
		"compose_service": ev.Labels["com.docker.compose.service"],
		"severity":        severity.Of(n.Rule),
	}
	switch {
	case n.Incident != nil:
		l["incident"] = n.Incident.ID
	case n.Group != nil:
		l["group"] = n.Group.Key
	default:
		l["id"] = n.ID
	}
	for k, v := range l {
		if v == "" { // an empty label is no label to Alertmanager
			delete(l, k)
		}
	}
	return l
}

// NewAlert is the alert that stands for n. A notification that is no
// incident's (a group, a notice of whalewatch's own) is an alert that
// Alertmanager resolves after its resolve_timeout, as nobody re-sends it.
func NewAlert(n notify.Notification, severity notify.SeverityOf) Alert {
	a := Alert{
		Labels: Labels(n, severity),
		Annotations: map[string]string{
			"summary":     n.Summary(),
			"description": n.PlainText(),
		},
		StartsAt: n.Event.Time.UTC(),
	}
	if n.Incident != nil && !n.Incident.OpenedAt.IsZero() {
		a.StartsAt = n.Incident.OpenedAt.UTC()
	}
	if n.Link != "" {
		a.Annotations["link"] = n.Link
		if u, err := url.Parse(n.Link); err == nil && u.Scheme != "" && u.Host != "" {
			a.GeneratorURL = n.Link
		}
	}
	if n.Incident != nil && n.Incident.Status == notify.Resolved {
		a.EndsAt = n.Incident.ResolvedAt.UTC()
		if a.EndsAt.IsZero() {
			a.EndsAt = time.Now().UTC()
		}
	}
	return a
}

// Notify posts the alert of n. The first alert of an incident is kept to
// be re-sent; later ones (crash-loop updates, the resolution) keep its
// labels, so the incident stays one alert in Alertmanager whatever rule
// speaks next. A resolution forgets the kept alert before posting: if it
// cannot be delivered, Alertmanager resolves the alert by itself after
// its resolve_timeout, as nobody re-sends it.
func (a *Notifier) Notify(ctx context.Context, n notify.Notification) (bool, error) {
	if notify.IsAck(n) {
		return false, nil // Alertmanager has silences, not acknowledgements
	}
	alert := NewAlert(n, a.cfg.Severity)
	if n.Incident == nil {
		return a.post(ctx, []Alert{alert})
	}
	key := n.Incident.ID
	unlock := a.lock(key)
	defer unlock()
	if kept, ok := a.kept(key); ok {
		alert.Labels, alert.StartsAt = kept.Labels, kept.StartsAt
	}
	if alert.EndsAt.IsZero() {
		data, err := json.Marshal(alert)
		if err != nil {
			return false, err
		}
		if err := a.store.PutResend(a.cfg.Name, key, data); err != nil {
			return true, fmt.Errorf("keep the alert for re-sending: %w", err)
		}
	} else if err := a.store.DeleteResend(a.cfg.Name, key); err != nil {
		return true, fmt.Errorf("forget the resolved alert: %w", err)
	}
	return a.post(ctx, []Alert{alert})
}

func (a *Notifier) kept(key string) (Alert, bool) {
	data, ok := a.store.Resend(a.cfg.Name, key)
	if !ok {
		return Alert{}, false
	}
	var kept Alert
	if json.Unmarshal(data, &kept) != nil || len(kept.Labels) == 0 {
		return Alert{}, false
	}
	return kept, true
}

// Run posts the open incidents' alerts again every Resend (at once first:
// after a restart Alertmanager may be about to resolve them) until ctx
// ends.
func (a *Notifier) Run(ctx context.Context) error {
	t := time.NewTicker(a.cfg.Resend)
	defer t.Stop()
	for {
		a.ResendOpen(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// ResendOpen posts every kept alert once. Each is read again under its
// incident's lock, so a resolution that came meanwhile is never undone.
func (a *Notifier) ResendOpen(ctx context.Context) {
	all, err := a.store.Resends(a.cfg.Name)
	if err != nil {
		a.log.Error("cannot read the alerts to re-send", "destination", a.cfg.Name, "err", err)
		return
	}
	failed := 0
	var last error
	for key := range all {
		if ctx.Err() != nil {
			return
		}
		unlock := a.lock(key)
		if kept, ok := a.kept(key); ok {
			if _, err := a.post(ctx, []Alert{kept}); err != nil {
				failed++
				last = err
			}
		}
		unlock()
	}
	if failed > 0 {
		a.log.Warn("re-sending open incidents to Alertmanager failed", "destination", a.cfg.Name, "count", failed, "err", last)
	}
}

func (a *Notifier) lock(key string) func() {
	a.mu.Lock()
	l := a.locks[key]
	if l == nil {
		l = &keyLock{}
		a.locks[key] = l
	}
	l.refs++
	a.mu.Unlock()
	l.mu.Lock()
	return func() {
		l.mu.Unlock()
		a.mu.Lock()
		if l.refs--; l.refs == 0 {
			delete(a.locks, key)
		}
		a.mu.Unlock()
	}
}

// post sends alerts to every member of the cluster. It succeeds when at
// least one member accepted them (the cluster gossips them to the others,
// and the next re-send reaches a member that was down), as Prometheus
// counts a notification sent when one Alertmanager took it. When none
// did, it is retried if any member's failure is worth retrying.
func (a *Notifier) post(ctx context.Context, alerts []Alert) (bool, error) {
	body, err := json.Marshal(alerts)
	if err != nil {
		return false, err
	}
	var errs []error
	retry, accepted := false, 0
	for _, base := range a.cfg.URLs {
		r, err := a.postOne(ctx, base, body)
		if err != nil {
			retry = retry || r
			errs = append(errs, err)
			continue
		}
		accepted++
	}
	if accepted == 0 {
		return retry, errors.Join(errs...)
	}
	if len(errs) > 0 {
		a.log.Warn("Alertmanager cluster members refused alerts another member took", "destination", a.cfg.Name, "err", errors.Join(errs...))
	}
	return false, nil
}

func (a *Notifier) postOne(ctx context.Context, base string, body []byte) (bool, error) {
	resp, retry, err := notify.PostJSON(ctx, a.client, base+"/api/v2/alerts", body, 1<<12, a.cfg.Headers)
	if err != nil {
		return retry, redact.URL(err)
	}
	if resp.OK() {
		return false, nil
	}
	host := base
	if u, err := url.Parse(base); err == nil {
		host = u.Host
	}
	err = fmt.Errorf("alertmanager %s answered %s: %s", host, resp.StatusText, strings.TrimSpace(redact.Secrets(string(resp.Body))))
	return notify.RetryableStatus(resp.Status), err
}

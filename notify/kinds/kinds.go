// Package kinds is the table of destination kinds: per kind its name, its
// default concurrency, the check of its settings and its constructor.
// config checks with it and the wiring builds with it, so validate refuses
// exactly what run refuses. Adding a kind is one package and one row.
package kinds

import (
	"context"
	"fmt"
	"slices"

	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/alertmanager"
	"github.com/whalewatch/whalewatch/notify/opsgenie"
	"github.com/whalewatch/whalewatch/notify/pagerduty"
	"github.com/whalewatch/whalewatch/notify/shoutrrr"
	"github.com/whalewatch/whalewatch/notify/slack"
	"github.com/whalewatch/whalewatch/notify/stdout"
	"github.com/whalewatch/whalewatch/notify/webhook"
)

// The kinds' names, as DEST_<NAME>_TYPE takes them.
const (
	Stdout       = "stdout"
	Webhook      = "webhook"
	Slack        = "slack"
	SlackWebhook = "slack_webhook"
	Shoutrrr     = "shoutrrr"
	Alertmanager = "alertmanager"
	PagerDuty    = "pagerduty"
	Opsgenie     = "opsgenie"
)

// Loop is what a notifier runs beside the dispatcher (Alertmanager's
// re-sends), until ctx ends.
type Loop func(ctx context.Context) error

// Kind is one row of the table.
type Kind struct {
	Name string
	// Concurrency is how many notifications a destination of the kind has
	// in flight at once unless told: HTTP endpoints take several; Slack is
	// paced per channel anyway, and stdout is one stream.
	Concurrency int
	// Check checks a destination's settings, naming each variable by
	// prefix (DEST_<NAME>_, WEBHOOK_ …), and completes what it derives
	// from them (Alertmanager's members, a default URL).
	Check func(prefix string, d *Destination) []error
	// New builds the notifier, and the loop it runs beside, if any.
	New func(Spec) (notify.Notifier, Loop, error)
}

// Table lists every kind, in the order errors name them.
var Table = []Kind{
	{Stdout, 1, checkStdout, func(s Spec) (notify.Notifier, Loop, error) {
		return &stdout.Notifier{W: s.Stdout}, nil, nil
	}},
	{Webhook, 8, checkWebhook, func(s Spec) (notify.Notifier, Loop, error) {
		w, err := webhook.New(webhook.Config{URL: s.URL, Secret: s.Secret, Headers: s.Headers, Template: s.Template}, s.HTTP)
		return w, nil, err
	}},
	{Slack, 1, checkSlack, func(s Spec) (notify.Notifier, Loop, error) {
		return slack.NewBot(s.Token, s.Channel, s.SlackAPIURL, s.HTTP, s.Workspace, s.Store, s.Buttons), nil, nil
	}},
	{SlackWebhook, 1, checkSlackWebhook, func(s Spec) (notify.Notifier, Loop, error) {
		return slack.NewWebhook(s.URL, s.HTTP), nil, nil
	}},
	{Shoutrrr, 4, checkShoutrrr, func(s Spec) (notify.Notifier, Loop, error) {
		n, err := shoutrrr.New(s.URL, s.Timeout)
		return n, nil, err
	}},
	{Alertmanager, 4, checkAlertmanager, func(s Spec) (notify.Notifier, Loop, error) {
		am := alertmanager.New(alertmanager.Config{Name: s.Name, URLs: slices.Clone(s.URLs), Headers: s.Headers,
			Resend: s.Resend, Severity: s.Severity}, s.HTTP, s.Store, s.Log)
		return am, am.Run, nil
	}},
	{PagerDuty, 4, checkPagerDuty, func(s Spec) (notify.Notifier, Loop, error) {
		return pagerduty.New(pagerduty.Config{URL: s.URL, RoutingKey: s.RoutingKey, Headers: s.Headers, Severity: s.Severity}, s.HTTP), nil, nil
	}},
	{Opsgenie, 4, checkOpsgenie, func(s Spec) (notify.Notifier, Loop, error) {
		return opsgenie.New(opsgenie.Config{URL: s.URL, APIKey: s.APIKey, Headers: s.Headers, Severity: s.Severity}, s.HTTP), nil, nil
	}},
}

// Lookup finds a kind by name.
func Lookup(name string) (Kind, bool) {
	i := slices.IndexFunc(Table, func(k Kind) bool { return k.Name == name })
	if i < 0 {
		return Kind{}, false
	}
	return Table[i], true
}

// Names lists the kinds' names.
func Names() []string {
	names := make([]string, len(Table))
	for i, k := range Table {
		names[i] = k.Name
	}
	return names
}

// Build makes a destination for the dispatcher from its checked settings,
// with the kind's concurrency unless the settings name one.
func Build(s Spec) (notify.Destination, Loop, error) {
	k, ok := Lookup(s.Kind)
	if !ok {
		return notify.Destination{}, nil, fmt.Errorf("destination %s: unknown kind %q", s.Name, s.Kind)
	}
	n, loop, err := k.New(s)
	if err != nil {
		return notify.Destination{}, nil, fmt.Errorf("destination %s: %w", s.Name, err)
	}
	concurrency := s.Concurrency
	if concurrency == 0 {
		concurrency = k.Concurrency
	}
	return notify.Destination{Name: s.Name, Notifier: n, Concurrency: concurrency}, loop, nil
}

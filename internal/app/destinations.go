package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"

	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/alertmanager"
	"github.com/whalewatch/whalewatch/notify/opsgenie"
	"github.com/whalewatch/whalewatch/notify/pagerduty"
	"github.com/whalewatch/whalewatch/notify/shoutrrr"
	"github.com/whalewatch/whalewatch/notify/slack"
	"github.com/whalewatch/whalewatch/notify/stdout"
	"github.com/whalewatch/whalewatch/notify/webhook"
)

// newDispatcher makes the dispatcher of the configured destinations, and
// the loops some of them run beside it (Alertmanager's re-sends).
func newDispatcher(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, store *state.Store, stdoutW io.Writer) (*notify.Dispatcher, []func(context.Context) error, error) {
	dests, loops, err := destinations(cfg, log, store, stdoutW)
	if err != nil {
		return nil, nil, err
	}
	d := notify.NewDispatcher(log, m, store, cfg.NotifyQueueSize, dests...)
	d.RetryFor = cfg.NotifyRetryFor
	return d, loops, nil
}

// destinations builds a notifier per configured destination, with its
// concurrency (the kind's default unless set).
func destinations(cfg *config.Config, log *slog.Logger, store *state.Store, stdoutW io.Writer) ([]notify.Destination, []func(context.Context) error, error) {
	httpClient := &http.Client{Timeout: cfg.NotifyTimeout}
	workspace := slack.NewWorkspace(cfg.SlackRatePerSecond)
	severity := notify.SeverityOf(cfg.Severity)
	var dests []notify.Destination
	var loops []func(context.Context) error
	for _, d := range cfg.Destinations {
		var n notify.Notifier
		switch d.Kind {
		case config.KindStdout:
			n = &stdout.Notifier{W: stdoutW}
		case config.KindWebhook:
			w, err := webhook.New(webhook.Config{URL: d.URL, Secret: d.Secret, Headers: d.Headers, Template: d.Template}, httpClient)
			if err != nil {
				return nil, nil, fmt.Errorf("destination %s: %w", d.Name, err)
			}
			n = w
		case config.KindSlack:
			n = slack.NewBot(d.Token, d.Channel, cfg.SlackAPIURL, httpClient, workspace, store)
		case config.KindSlackWebhook:
			n = slack.NewWebhook(d.URL, httpClient)
		case config.KindShoutrrr:
			s, err := shoutrrr.New(d.URL, cfg.NotifyTimeout)
			if err != nil {
				return nil, nil, fmt.Errorf("destination %s: %w", d.Name, err)
			}
			n = s
		case config.KindAlertmanager:
			am := alertmanager.New(alertmanager.Config{Name: d.Name, URLs: slices.Clone(d.URLs), Headers: d.Headers,
				Resend: d.Resend, Severity: severity}, httpClient, store, log)
			n = am
			loops = append(loops, am.Run)
		case config.KindPagerDuty:
			n = pagerduty.New(pagerduty.Config{URL: d.URL, RoutingKey: d.RoutingKey, Headers: d.Headers, Severity: severity}, httpClient)
		case config.KindOpsgenie:
			n = opsgenie.New(opsgenie.Config{URL: d.URL, APIKey: d.APIKey, Headers: d.Headers, Severity: severity}, httpClient)
		}
		concurrency := d.Concurrency
		if concurrency == 0 {
			concurrency = config.DefaultConcurrency(d.Kind)
		}
		dests = append(dests, notify.Destination{Name: d.Name, Notifier: n, Concurrency: concurrency})
	}
	return dests, loops, nil
}

package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"

	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/kinds"
	"github.com/whalewatch/whalewatch/notify/slack"
)

// newDispatcher makes the dispatcher of the configured destinations, and
// the loops some of them run beside it (Alertmanager's re-sends). buttons
// makes the buttons of Slack cards (nil: none).
func newDispatcher(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, store *state.Store, stdoutW io.Writer, buttons slack.Buttons) (*notify.Dispatcher, []func(context.Context) error, error) {
	dests, loops, err := destinations(cfg, log, store, stdoutW, buttons)
	if err != nil {
		return nil, nil, err
	}
	d := notify.NewDispatcher(log, m, store, cfg.Delivery.QueueSize, dests...)
	d.RetryFor = cfg.Delivery.RetryFor
	return d, loops, nil
}

// destinations builds a notifier per configured destination from the
// kinds table, with its concurrency (the kind's default unless set).
func destinations(cfg *config.Config, log *slog.Logger, store *state.Store, stdoutW io.Writer, buttons slack.Buttons) ([]notify.Destination, []func(context.Context) error, error) {
	shared := kinds.Shared{HTTP: &http.Client{Timeout: cfg.Delivery.Timeout}, Timeout: cfg.Delivery.Timeout, SlackAPIURL: cfg.Slack.APIURL,
		Workspace: slack.NewWorkspace(cfg.Slack.RatePerSecond), Store: store, Log: log, Severity: notify.SeverityOf(cfg.Severity),
		Stdout: stdoutW, Buttons: buttons}
	var dests []notify.Destination
	var loops []func(context.Context) error
	for _, d := range cfg.Delivery.Destinations {
		dest, loop, err := kinds.Build(kinds.Spec{Destination: d, Shared: shared})
		if err != nil {
			return nil, nil, err
		}
		dests = append(dests, dest)
		if loop != nil {
			loops = append(loops, loop)
		}
	}
	return dests, loops, nil
}

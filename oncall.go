package main

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/heartbeat"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/kinds"
)

// newHeartbeat pings HEARTBEAT_URL every HEARTBEAT_INTERVAL while every
// daemon's stream is open, the state file takes writes and no destination
// has been retried for longer than one interval.
func newHeartbeat(cfg *config.Config, log *slog.Logger, store *state.Store, sources []*events.Source, dispatcher *notify.Dispatcher) *heartbeat.Pinger {
	return heartbeat.New(heartbeat.Config{
		URL: cfg.Heartbeat.URL, Interval: cfg.Heartbeat.Interval, Fail: cfg.Heartbeat.Fail,
		Healthy: func() (bool, string) { return healthy(cfg.Heartbeat.Interval, store, sources, dispatcher) },
	}, &http.Client{Timeout: cfg.Delivery.Timeout}, log.With("component", "heartbeat"))
}

// healthy is the heartbeat's condition; why names what fails.
func healthy(interval time.Duration, store *state.Store, sources []*events.Source, dispatcher *notify.Dispatcher) (bool, string) {
	for _, s := range sources {
		if !s.Ready(0) {
			return false, "the event stream of " + s.Host + " is down"
		}
	}
	if err := store.Writable(); err != nil {
		return false, "the state file takes no writes: " + err.Error()
	}
	if name, since := dispatcher.Failing(); name != "" && time.Since(since) > interval {
		return false, "deliveries to " + name + " have been failing since " + since.UTC().Format(time.RFC3339)
	}
	return true, ""
}

// forwardAcks tells the pagers (PagerDuty, Opsgenie) that an incident was
// acknowledged in Slack: through the outbox, as every message goes.
func forwardAcks(cfg *config.Config, log *slog.Logger, store *state.Store, dispatcher *notify.Dispatcher) func(channel, ts, user string, at time.Time) {
	var pagers []string
	for _, d := range cfg.Delivery.Destinations {
		if d.Kind == kinds.PagerDuty || d.Kind == kinds.Opsgenie {
			pagers = append(pagers, d.Name)
		}
	}
	if len(pagers) == 0 {
		return nil
	}
	return func(channel, ts, user string, at time.Time) {
		var out []notify.Outgoing
		for _, key := range store.ThreadKeys(channel, ts) {
			if strings.HasPrefix(key, "inc_") {
				out = append(out, notify.Outgoing{N: notify.NewAck(key, user, at), To: slices.Clone(pagers)})
			}
		}
		if len(out) == 0 {
			return
		}
		if err := dispatcher.Commit(out, state.Snapshot{}); err != nil {
			log.Error("cannot queue the acknowledgement for the pagers", "err", err)
		}
	}
}

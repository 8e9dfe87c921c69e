package app

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/heartbeat"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
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

package kinds

import (
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/slack"
)

// Destination is one named place notifications go: its settings, as
// config read and checked them.
type Destination struct {
	Name     string
	Kind     string
	URL      string // webhook, slack_webhook (secret)
	Token    string // slack (secret)
	Channel  string // slack
	Secret   string // webhook signing secret
	Headers  map[string]string
	Template string
	// Concurrency: notifications in flight at once (0: the kind's default).
	Concurrency int
	// URLs are an alertmanager destination's cluster members (URL split at commas).
	URLs []string
	// Resend: how often an alertmanager destination posts open incidents again.
	Resend     time.Duration
	RoutingKey string // pagerduty (secret)
	APIKey     string // opsgenie (secret)
}

// Shared is what every destination's notifier is built with, made once
// by the wiring.
type Shared struct {
	HTTP *http.Client
	// Timeout bounds a send that does not use HTTP (shoutrrr makes its own
	// client per service).
	Timeout     time.Duration
	SlackAPIURL string
	// Workspace paces every Slack bot of the one token.
	Workspace *slack.Workspace
	// Store keeps Slack threads and Alertmanager's re-sends.
	Store    *state.Store
	Log      *slog.Logger
	Severity notify.SeverityOf
	Stdout   io.Writer
	// Buttons makes the buttons a Slack card offers (nil: none).
	Buttons slack.Buttons
}

// Spec is what a kind's constructor builds one notifier from.
type Spec struct {
	Destination
	Shared
}

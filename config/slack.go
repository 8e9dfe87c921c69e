package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/whalewatch/whalewatch/notify/kinds"
)

// Slack is the Slack app: its bot (a destination, and the actions'
// replies), an incoming webhook, and the actions' way in.
type Slack struct {
	BotToken       string `env:"SLACK_BOT_TOKEN"`
	BotTokenFile   string `env:"SLACK_BOT_TOKEN_FILE,file"`
	Channel        string `env:"SLACK_CHANNEL"`
	WebhookURL     string `env:"SLACK_WEBHOOK_URL"`
	WebhookURLFile string `env:"SLACK_WEBHOOK_URL_FILE,file"`
	APIURL         string `env:"SLACK_API_URL" envDefault:"https://slack.com/api/"`
	// SigningSecret (HTTP) or AppToken (Socket Mode) lets Slack send
	// commands and clicks (see actions/).
	SigningSecret     string `env:"SLACK_SIGNING_SECRET"`
	SigningSecretFile string `env:"SLACK_SIGNING_SECRET_FILE,file"`
	AppToken          string `env:"SLACK_APP_TOKEN"`
	AppTokenFile      string `env:"SLACK_APP_TOKEN_FILE,file"`
	Command           string `env:"SLACK_COMMAND" envDefault:"/docker"`
	// RatePerSecond paces the bot's posts over the workspace.
	RatePerSecond float64 `env:"SLACK_RATE_PER_SECOND" envDefault:"3"`
}

// maxSlackRate bounds SLACK_RATE_PER_SECOND.
const maxSlackRate = 100

var (
	slackIDRE     = regexp.MustCompile(`^[A-Z][A-Z0-9]+$`)
	channelNameRE = regexp.MustCompile(`^#[a-z0-9][a-z0-9_-]*$`) // and at most 81 bytes (see hostnameRE)
)

// checkSlack checks the app's tokens, channel, API and pace.
func (c *Config) checkSlack() []error {
	var errs []error
	s := &c.Slack
	if err := kinds.CheckURL("SLACK_API_URL", s.APIURL); err != nil {
		errs = append(errs, err)
	} else if !strings.HasSuffix(s.APIURL, "/") {
		errs = append(errs, errors.New("SLACK_API_URL: must end in /"))
	}
	if s.BotToken != "" && !strings.HasPrefix(s.BotToken, "xoxb-") {
		errs = append(errs, errors.New("SLACK_BOT_TOKEN: not a bot token (xoxb-…)"))
	}
	if s.Channel != "" && !slackIDRE.MatchString(s.Channel) && (len(s.Channel) > 81 || !channelNameRE.MatchString(s.Channel)) {
		errs = append(errs, fmt.Errorf("SLACK_CHANNEL: %q is not a channel ID (C…) or #name", s.Channel))
	}
	if s.SigningSecret != "" && (len(s.SigningSecret) < 8 || strings.ContainsAny(s.SigningSecret, " \t\n")) {
		errs = append(errs, errors.New("SLACK_SIGNING_SECRET: not a signing secret (Slack's are 32 characters, without spaces)"))
	}
	if s.AppToken != "" && !strings.HasPrefix(s.AppToken, "xapp-") {
		errs = append(errs, errors.New("SLACK_APP_TOKEN: not an app-level token (xapp-…)"))
	}
	if s.AppToken != "" && s.BotToken == "" {
		errs = append(errs, errors.New("SLACK_BOT_TOKEN: required with SLACK_APP_TOKEN (Socket Mode)"))
	}
	if s.SigningSecret != "" && c.HTTP.Addr == "off" {
		errs = append(errs, errors.New("HTTP_ADDR: is off, but SLACK_SIGNING_SECRET needs it for /slack/commands"))
	}
	if !strings.HasPrefix(s.Command, "/") {
		errs = append(errs, fmt.Errorf("SLACK_COMMAND: %q must start with /", s.Command))
	}
	if !(s.RatePerSecond > 0 && s.RatePerSecond <= maxSlackRate) {
		errs = append(errs, fmt.Errorf("SLACK_RATE_PER_SECOND: must be more than 0 and at most %d (Slack allows about 1 a second per channel)", maxSlackRate))
	}
	return errs
}

// builtinSlack adds the SLACK_BOT_TOKEN and SLACK_WEBHOOK_URL destinations.
func (c *Config) builtinSlack() []error {
	var errs []error
	s := &c.Slack
	switch {
	case s.BotToken != "" && s.Channel == "":
		errs = append(errs, errors.New("SLACK_CHANNEL: required when SLACK_BOT_TOKEN is set"))
	case s.BotToken == "" && s.Channel != "":
		errs = append(errs, errors.New("SLACK_BOT_TOKEN: required when SLACK_CHANNEL is set"))
	case s.BotToken != "":
		errs = append(errs, c.addDestination("SLACK_", kinds.Destination{Name: kinds.Slack, Kind: kinds.Slack, Token: s.BotToken, Channel: s.Channel})...)
	}
	if s.WebhookURL != "" {
		errs = append(errs, c.addDestination("SLACK_WEBHOOK_", kinds.Destination{Name: kinds.SlackWebhook, Kind: kinds.SlackWebhook, URL: s.WebhookURL})...)
	}
	return errs
}

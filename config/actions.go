package config

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/whalewatch/whalewatch/internal/grants"
)

// Actions is who may act on which containers from Slack (see actions/).
type Actions struct {
	AllowedTeams    []string      `env:"ACTIONS_ALLOWED_TEAMS"`
	AllowedUsers    []string      `env:"ACTIONS_ALLOWED_USERS"`
	AllowedGroups   []string      `env:"ACTIONS_ALLOWED_GROUPS"`
	ReadUsers       []string      `env:"ACTIONS_READ_USERS"`
	AllowedChannels []string      `env:"ACTIONS_ALLOWED_CHANNELS"`
	Containers      []string      `env:"ACTIONS_CONTAINERS"`
	RatePerMinute   int           `env:"ACTIONS_RATE_PER_MINUTE" envDefault:"6"`
	ButtonTTL       time.Duration `env:"ACTIONS_BUTTON_TTL" envDefault:"1h"`
	Timeout         time.Duration `env:"ACTIONS_TIMEOUT" envDefault:"30s"`
	AuditChannel    string        `env:"ACTIONS_AUDIT_CHANNEL"`
	// Globs are Containers parsed, by the parser actions authorizes with.
	Globs []grants.VerbGlob `env:"-"`
}

// ActionsEnabled tells whether Slack may send commands and clicks.
func (c *Config) ActionsEnabled() bool {
	return c.Slack.SigningSecret != "" || c.Slack.AppToken != ""
}

func (c *Config) checkActions() []error {
	var errs []error
	a := &c.Actions
	globs, err := grants.ParseVerbGlobs(a.Containers)
	if err != nil {
		errs = append(errs, fmt.Errorf("ACTIONS_CONTAINERS: %w", err))
	}
	a.Globs = globs
	for _, list := range []struct {
		name string
		ids  []string
	}{
		{"ACTIONS_ALLOWED_TEAMS", a.AllowedTeams}, {"ACTIONS_ALLOWED_USERS", a.AllowedUsers},
		{"ACTIONS_ALLOWED_GROUPS", a.AllowedGroups},
		{"ACTIONS_READ_USERS", a.ReadUsers}, {"ACTIONS_ALLOWED_CHANNELS", a.AllowedChannels},
		{"ACTIONS_AUDIT_CHANNEL", strings.Fields(a.AuditChannel)},
	} {
		for _, id := range list.ids {
			if !slackIDRE.MatchString(id) {
				errs = append(errs, fmt.Errorf("%s: %q is not a Slack ID (like U024BE7LH or C024BE91L; names change, IDs do not)", list.name, id))
			}
		}
	}
	if len(a.AllowedGroups) > 0 && c.Slack.BotToken == "" {
		errs = append(errs, errors.New("ACTIONS_ALLOWED_GROUPS: needs SLACK_BOT_TOKEN (with usergroups:read) to read the groups"))
	}
	return errs
}

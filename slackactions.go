package main

import (
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/whalewatch/whalewatch/actions"
	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/internal/grants"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
)

// newActions wires Slack actions on every watched daemon.
func newActions(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, d *daemons, store *state.Store) *actions.Service {
	policy := grants.Policy{
		Teams: cfg.Actions.AllowedTeams, Users: cfg.Actions.AllowedUsers, Groups: cfg.Actions.AllowedGroups, ReadUsers: cfg.Actions.ReadUsers,
		Channels: cfg.Actions.AllowedChannels, Globs: cfg.Actions.Globs, SelfID: selfContainerID(),
	}
	hosts := make([]actions.Host, len(d.sources))
	for i, src := range d.sources {
		hosts[i] = actions.Host{Name: src.Host, Docker: d.clients[i]}
	}
	svc := actions.NewService(hosts, policy, store, log.With("component", "actions"), m)
	svc.Command, svc.Timeout, svc.PerMinute, svc.ButtonTTL = cfg.Slack.Command, cfg.Actions.Timeout, cfg.Actions.RatePerMinute, cfg.Actions.ButtonTTL
	svc.HTTP = &http.Client{Timeout: cfg.Delivery.Timeout}
	svc.Mutes = store
	if cfg.Slack.BotToken != "" {
		api := slack.New(cfg.Slack.BotToken, slack.OptionAPIURL(cfg.Slack.APIURL), slack.OptionHTTPClient(svc.HTTP),
			slack.OptionAppLevelToken(cfg.Slack.AppToken))
		svc.Slack, svc.AuditChannel = api, cfg.Actions.AuditChannel
		if len(policy.Groups) > 0 {
			svc.UseGroups(api, groupsTTL)
		}
	}
	return svc
}

// groupsTTL is how long the members of ACTIONS_ALLOWED_GROUPS are trusted
// without asking Slack again.
const groupsTTL = 5 * time.Minute

var containerIDInMounts = regexp.MustCompile(`/containers/([0-9a-f]{64})/`)

// selfContainerID finds whalewatch's own container, so that it never acts
// on itself: from the mounts Docker makes for /etc/hostname and friends,
// else from the host name Docker gives a container (its short ID).
func selfContainerID() string {
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		if m := containerIDInMounts.FindSubmatch(b); m != nil {
			return string(m[1])
		}
	}
	if h, err := os.Hostname(); err == nil && len(h) == 12 && strings.Trim(h, "0123456789abcdef") == "" {
		return h
	}
	return ""
}

package app

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/whalewatch/whalewatch/actions"
	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/internal/grants"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/kinds"
)

// addActions runs Slack actions beside the intake (over HTTP on mux, Socket
// Mode, or both); acknowledgements go on to the pagers through the dispatcher.
func (a *App) addActions(svc *actions.Service, mux *http.ServeMux) {
	svc.Acknowledged = forwardAcks(a.cfg, a.log, a.store, a.dispatcher)
	a.services = append(a.services, svc.Run)
	if a.cfg.Slack.SigningSecret != "" {
		actions.NewHTTPHandler(svc, a.cfg.Slack.SigningSecret).Register(mux)
	}
	if a.cfg.Slack.AppToken != "" {
		a.services = append(a.services, func(ctx context.Context) error { return svc.RunSocketMode(ctx, svc.Slack) })
	}
}

// newActions wires Slack actions on every watched daemon.
func newActions(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, d *Daemons, store *state.Store) *actions.Service {
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
// on itself.
func selfContainerID() string {
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	hostname, _ := os.Hostname()
	return containerID(mountinfo, hostname)
}

// containerID tells a container's ID from the mounts Docker makes for
// /etc/hostname and friends, else from the host name Docker gives a
// container (its short ID); "" when neither names one.
func containerID(mountinfo []byte, hostname string) string {
	if m := containerIDInMounts.FindSubmatch(mountinfo); m != nil {
		return string(m[1])
	}
	if len(hostname) == 12 && strings.Trim(hostname, "0123456789abcdef") == "" {
		return hostname
	}
	return ""
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

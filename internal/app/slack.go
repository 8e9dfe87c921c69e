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
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
)

// addActions runs Slack actions beside the intake (over HTTP on mux, Socket
// Mode, or both) and returns the buttons alerts offer.
func (a *App) addActions(m *metrics.Metrics, mux *http.ServeMux) func(event.Event, bool) []notify.Action {
	svc, api := newActions(a.cfg, a.log, m, a.daemons, a.store)
	svc.Acknowledged = forwardAcks(a.cfg, a.log, a.store, a.dispatcher)
	a.services = append(a.services, svc.Run)
	if a.cfg.SlackSigningSecret != "" {
		actions.NewHTTPHandler(svc, a.cfg.SlackSigningSecret).Register(mux)
	}
	if a.cfg.SlackAppToken != "" {
		a.services = append(a.services, func(ctx context.Context) error { return svc.RunSocketMode(ctx, api) })
	}
	return offerButtons(svc)
}

// newActions wires Slack actions on every watched daemon.
func newActions(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, d *Daemons, store *state.Store) (*actions.Service, *slack.Client) {
	policy := actions.Policy{
		Teams: cfg.ActionsAllowedTeams, Users: cfg.ActionsAllowedUsers, Groups: cfg.ActionsAllowedGroups, ReadUsers: cfg.ActionsReadUsers,
		Channels: cfg.ActionsAllowedChannels, Globs: cfg.ActionGlobs, SelfID: selfContainerID(),
	}
	hosts := make([]actions.Host, len(d.sources))
	for i, src := range d.sources {
		hosts[i] = actions.Host{Name: src.Host, Docker: d.clients[i]}
	}
	svc := actions.NewService(hosts, policy, store, log.With("component", "actions"), m)
	svc.Command, svc.Timeout, svc.PerMinute, svc.ButtonTTL = cfg.SlackCommand, cfg.ActionsTimeout, cfg.ActionsRatePerMinute, cfg.ActionsButtonTTL
	svc.HTTP = &http.Client{Timeout: cfg.NotifyTimeout}
	svc.Mutes = store
	var api *slack.Client
	if cfg.SlackBotToken != "" {
		api = slack.New(cfg.SlackBotToken, slack.OptionAPIURL(cfg.SlackAPIURL), slack.OptionHTTPClient(svc.HTTP),
			slack.OptionAppLevelToken(cfg.SlackAppToken))
		svc.Slack, svc.AuditChannel = api, cfg.ActionsAuditChannel
		if len(policy.Groups) > 0 {
			svc.UseGroups(api, groupsTTL)
		}
	}
	return svc, api
}

// groupsTTL is how long the members of ACTIONS_ALLOWED_GROUPS are trusted
// without asking Slack again.
const groupsTTL = 5 * time.Minute

// offerButtons offers "Start again" on a crash, "Restart" when unhealthy
// and "Stop" on a crash loop, for containers that allow it.
func offerButtons(svc *actions.Service) func(ev event.Event, crashLoop bool) []notify.Action {
	return func(ev event.Event, crashLoop bool) []notify.Action {
		if ev.Type != event.ContainerType && ev.Type != event.StatsType {
			return nil
		}
		t := actions.Target{ID: ev.ActorID, Name: ev.Name, Labels: ev.Labels, Host: ev.Host}
		var buttons []actions.Button
		switch {
		case crashLoop:
			buttons = svc.Offer(t, actions.SituationCrashLoop)
		case ev.Action == "die" && !ev.Intentional:
			buttons = svc.Offer(t, actions.SituationDied)
		case ev.Action == "health_status" && ev.Status == "unhealthy", ev.Type == event.StatsType: // running, in trouble
			buttons = svc.Offer(t, actions.SituationUnhealthy)
		}
		out := make([]notify.Action, len(buttons))
		for i, b := range buttons {
			out[i] = notify.Action(b)
		}
		return out
	}
}

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
	for _, d := range cfg.Destinations {
		if d.Kind == config.KindPagerDuty || d.Kind == config.KindOpsgenie {
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

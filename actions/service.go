// Package actions lets trusted people act on containers from Slack: slash
// commands and alert buttons, over HTTP or Socket Mode. Every request is
// verified, every action authorized (team, user, channel, container, verb;
// by internal/grants) and audited.
package actions

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"
	"golang.org/x/time/rate"

	"github.com/whalewatch/whalewatch/internal/grants"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/redact"
)

// Docker is the part of the Docker client actions use. Nothing here can
// create, exec, pull or remove.
type Docker interface {
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerStart(ctx context.Context, id string, options client.ContainerStartOptions) (client.ContainerStartResult, error)
	ContainerStop(ctx context.Context, id string, options client.ContainerStopOptions) (client.ContainerStopResult, error)
	ContainerRestart(ctx context.Context, id string, options client.ContainerRestartOptions) (client.ContainerRestartResult, error)
	ContainerLogs(ctx context.Context, id string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
}

// Mutes stores name-glob mutes (a zero time unmutes).
type Mutes interface {
	SetMute(glob string, until time.Time) error
}

// Service carries out verified requests: it authorizes, acts, replies and
// audits. Work runs on Run's workers, never on the request's goroutine.
type Service struct {
	// Hosts are the Docker daemons actions reach, by name.
	Hosts   []Host
	Policy  grants.Policy
	Log     *slog.Logger
	Metrics *metrics.Metrics
	// Slack posts audit lines and updates alert messages; nil turns both off.
	Slack        *slack.Client
	AuditChannel string
	// HTTP posts to response_url.
	HTTP    *http.Client
	Command string        // the slash command's name, for help texts
	Timeout time.Duration // of one Docker call
	// PerMinute is each user's budget of actions.
	PerMinute int
	// ButtonTTL is how long an alert's button stays usable.
	ButtonTTL time.Duration
	// Mutes keeps /docker mute; nil turns the command off.
	Mutes Mutes
	// Acknowledged, when set, hears of every Acknowledge click that was
	// recorded (the message at channel/ts), to tell the pagers.
	Acknowledged func(channel, ts, user string, at time.Time)
	// Store keeps buttons and the requests already seen.
	Store Store
	// groups knows the members of Policy.Groups; see UseGroups.
	groups *groupCache

	jobs     chan func(context.Context)
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
}

// Host is one Docker daemon actions reach.
type Host struct {
	Name   string
	Docker Docker
}

// OneHost is the hosts of a whalewatch that watches one daemon.
func OneHost(d Docker) []Host { return []Host{{Docker: d}} }

// NewService returns a Service with its queue; start it with Run.
func NewService(hosts []Host, p grants.Policy, store Store, log *slog.Logger, m *metrics.Metrics) *Service {
	return &Service{
		Hosts: hosts, Policy: p, Store: store, Log: log, Metrics: m, HTTP: &http.Client{Timeout: 10 * time.Second},
		Command: "/docker", Timeout: 30 * time.Second, PerMinute: 6, ButtonTTL: time.Hour,
		jobs: make(chan func(context.Context), 64), limiters: map[string]*rate.Limiter{},
	}
}

// UseGroups lets members of Policy.Groups act: their membership is read
// with api, kept for ttl, and read again when a caller is not found.
func (s *Service) UseGroups(api GroupMembers, ttl time.Duration) {
	s.groups = newGroupCache(api, s.Policy.Groups, ttl, s.Log)
}

// caller is who sent a request, with the allowed groups they are in.
func (s *Service) caller(team, user, userName, channel string) grants.Caller {
	c := grants.Caller{TeamID: team, UserID: user, UserName: userName, ChannelID: channel}
	if s.groups != nil && !slices.Contains(s.Policy.Users, user) {
		c.Groups = s.groups.of(user)
	}
	return c
}

// Run works through requests until ctx ends, with a few workers so one
// slow Docker call does not hold up the rest.
func (s *Service) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	if s.groups != nil {
		wg.Go(func() { s.groups.run(ctx) })
	}
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case job := <-s.jobs:
					job(ctx)
				}
			}
		})
	}
	wg.Wait()
	return nil
}

// enqueue hands work to Run; false when too much is already waiting.
func (s *Service) enqueue(job func(context.Context)) bool {
	select {
	case s.jobs <- job:
		return true
	default:
		s.Log.Warn("too many Slack requests waiting; refusing one")
		return false
	}
}

const (
	ackWorking = "Working on it…"
	ackBusy    = "whalewatch is busy; try again in a moment."
)

// SlashCommand answers a verified slash command. The returned text is the
// immediate (ephemeral) acknowledgement; results go to cmd.ResponseURL.
func (s *Service) SlashCommand(cmd slack.SlashCommand) string {
	caller := s.caller(cmd.TeamID, cmd.UserID, cmd.UserName, cmd.ChannelID)
	c, err := parseCommand(cmd.Text)
	if err != nil {
		s.audit(caller, grants.Verb(c.name), grants.Target{Name: c.target}, "denied", err)
		return "⛔ " + slackutilsx.EscapeMessage(err.Error()) + "\n" + usage(s.Command)
	}
	switch c.name {
	case "help":
		return s.help(caller)
	case "ps":
		if err := s.Policy.AllowCaller(caller, grants.Logs); err != nil {
			s.audit(caller, "ps", grants.Target{}, "denied", err)
			return "⛔ " + err.Error()
		}
		if !s.enqueue(func(ctx context.Context) { s.ps(ctx, caller, c.filter, cmd.ResponseURL) }) {
			return ackBusy
		}
		return ackWorking
	}
	if c.name == "mute" || c.name == "unmute" {
		return s.mute(caller, c)
	}
	verb := grants.Verb(c.name)
	if err := s.Policy.AllowCaller(caller, verb); err != nil {
		s.audit(caller, verb, grants.Target{Name: c.target}, "denied", err)
		return "⛔ " + err.Error()
	}
	if verb.Mutating() && !s.allowRate(caller.UserID) {
		s.audit(caller, verb, grants.Target{Name: c.target}, "denied", errRate)
		return "⛔ " + errRate.Error()
	}
	if !s.enqueue(func(ctx context.Context) { s.act(ctx, caller, verb, c, cmd.ResponseURL) }) {
		return ackBusy
	}
	return ackWorking
}

var (
	errRate = errors.New("too many actions; wait a minute")
	errBusy = errors.New("whalewatch is busy; try again in a moment")
)

// mute silences notifications about containers whose name matches a glob;
// it needs the caller's rights of stop, and a mute (not an unmute) needs
// the glob to be covered by the stop grants (Policy.MuteCovered).
func (s *Service) mute(caller grants.Caller, c command) string {
	verb := grants.Verb(c.name)
	err := s.Policy.AllowCaller(caller, grants.Stop)
	if err == nil && c.name == "mute" && !s.Policy.MuteCovered(c.target) {
		err = grants.ErrMuteNotCovered
	}
	if err == nil && s.Mutes == nil {
		err = errors.New("mutes are not available")
	}
	if err == nil {
		var until time.Time
		if c.name == "mute" {
			until = time.Now().Add(c.muteFor)
		}
		err = s.Mutes.SetMute(c.target, until)
	}
	s.audit(caller, verb, grants.Target{Name: c.target}, map[bool]string{true: "denied", false: "done"}[err != nil], err)
	if err != nil {
		return "⛔ " + err.Error()
	}
	if c.name == "unmute" {
		return fmt.Sprintf("🔔 %s is no longer muted.", code(c.target))
	}
	return fmt.Sprintf("🔇 Notifications about %s are muted for %s.", code(c.target), c.muteFor)
}

func (s *Service) allowRate(user string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	l, ok := s.limiters[user]
	if !ok {
		l = rate.NewLimiter(rate.Every(time.Minute/time.Duration(max(s.PerMinute, 1))), max(s.PerMinute, 1))
		s.limiters[user] = l
	}
	return l.Allow()
}

// act resolves the container, authorizes, acts and replies.
func (s *Service) act(ctx context.Context, caller grants.Caller, verb grants.Verb, c command, responseURL string) {
	target, err := s.resolve(ctx, c.target, c.host)
	if err == nil {
		err = s.Policy.Authorize(caller, verb, target)
	}
	if err != nil {
		s.audit(caller, verb, target, "denied", err)
		s.reply(ctx, responseURL, "⛔ "+err.Error(), false)
		return
	}
	if verb == grants.Logs {
		text, err := s.logs(ctx, target, c.tail)
		s.audit(caller, verb, target, outcome(err), err)
		if err != nil {
			s.reply(ctx, responseURL, "❌ logs of "+code(target.Name)+" failed: "+slackutilsx.EscapeMessage(err.Error()), false)
			return
		}
		s.reply(ctx, responseURL, fmt.Sprintf("Last %d lines of %s:\n```\n%s\n```", c.tail, code(target.Name), slackutilsx.EscapeMessage(text)), false)
		return
	}
	err = s.do(ctx, verb, target)
	s.audit(caller, verb, target, outcome(err), err)
	if err != nil {
		s.reply(ctx, responseURL, fmt.Sprintf("❌ %s %s failed: %s", verb, code(target.Name), slackutilsx.EscapeMessage(err.Error())), false)
		return
	}
	s.reply(ctx, responseURL, fmt.Sprintf("✅ <@%s> %s %s", caller.UserID, pastTense(verb), code(target.Name)), true)
}

func outcome(err error) string {
	if err != nil {
		return "failed"
	}
	return "done"
}

func pastTense(v grants.Verb) string {
	switch v {
	case grants.Start:
		return "started"
	case grants.Stop:
		return "stopped"
	case grants.Restart:
		return "restarted"
	}
	return string(v)
}

// resolve finds the one existing container a user's text names: an exact
// name, a full ID, or an unambiguous ID prefix of at least 12 characters.
func (s *Service) resolve(ctx context.Context, ref, host string) (grants.Target, error) {
	if !containerRef.valid(ref) {
		return grants.Target{Name: ref}, grants.ErrUnknownContainer
	}
	hosts := s.Hosts
	if host != "" {
		i := slices.IndexFunc(s.Hosts, func(h Host) bool { return h.Name == host })
		if i < 0 {
			return grants.Target{Name: ref}, fmt.Errorf("no Docker host is named %q (hosts: %s)", host, strings.Join(s.hostNames(), ", "))
		}
		hosts = s.Hosts[i : i+1]
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	var found []grants.Target
	var errs []error
	for _, h := range hosts {
		list, err := h.Docker.ContainerList(ctx, client.ContainerListOptions{All: true})
		if err != nil {
			errs = append(errs, fmt.Errorf("list containers on %s: %w", h.Name, err))
			continue
		}
		for _, c := range list.Items {
			if slices.Contains(c.Names, "/"+ref) || c.ID == ref || (len(ref) >= 12 && strings.HasPrefix(c.ID, ref)) {
				t := targetOf(c)
				t.Host = h.Name
				found = append(found, t)
			}
		}
	}
	switch {
	case len(found) == 1:
		return found[0], nil
	case len(found) > 1 && len(hosts) > 1:
		var where []string
		for _, t := range found {
			where = append(where, t.Name+"@"+t.Host)
		}
		return grants.Target{Name: ref}, fmt.Errorf("%w: %s", grants.ErrAmbiguous, strings.Join(where, ", "))
	case len(found) > 1:
		return grants.Target{Name: ref}, grants.ErrAmbiguous
	case len(errs) > 0:
		return grants.Target{Name: ref}, errors.Join(errs...) // not found where we could look
	}
	return grants.Target{Name: ref}, grants.ErrUnknownContainer
}

func (s *Service) hostNames() []string {
	names := make([]string, len(s.Hosts))
	for i, h := range s.Hosts {
		names[i] = h.Name
	}
	return names
}

// docker is the client of a target's host ("" is the only one, if there is one).
func (s *Service) docker(host string) (Docker, error) {
	if host == "" && len(s.Hosts) == 1 {
		return s.Hosts[0].Docker, nil
	}
	for _, h := range s.Hosts {
		if h.Name == host {
			return h.Docker, nil
		}
	}
	return nil, fmt.Errorf("no Docker host is named %q", host)
}

func targetOf(c container.Summary) grants.Target {
	name := c.ID
	if len(c.Names) > 0 {
		name = strings.TrimPrefix(c.Names[0], "/")
	}
	return grants.Target{ID: c.ID, Name: name, Labels: c.Labels, Running: c.State == container.StateRunning}
}

// targetByID re-reads a container by the ID we stored (buttons).
func (s *Service) targetByID(ctx context.Context, host, id string) (grants.Target, error) {
	d, err := s.docker(host)
	if err != nil {
		return grants.Target{ID: id, Host: host}, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	res, err := d.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return grants.Target{ID: id, Host: host}, grants.ErrUnknownContainer
	}
	t := grants.Target{ID: res.Container.ID, Name: strings.TrimPrefix(res.Container.Name, "/"), Host: host}
	if res.Container.Config != nil {
		t.Labels = res.Container.Config.Labels
	}
	if res.Container.State != nil {
		t.Running = res.Container.State.Running
	}
	return t, nil
}

// do carries out a mutating verb on a resolved container, by ID only.
func (s *Service) do(ctx context.Context, verb grants.Verb, t grants.Target) error {
	d, err := s.docker(t.Host)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	switch verb {
	case grants.Start:
		_, err = d.ContainerStart(ctx, t.ID, client.ContainerStartOptions{})
	case grants.Stop:
		_, err = d.ContainerStop(ctx, t.ID, client.ContainerStopOptions{})
	case grants.Restart:
		_, err = d.ContainerRestart(ctx, t.ID, client.ContainerRestartOptions{})
	default:
		err = fmt.Errorf("%s is not an action", verb)
	}
	if err != nil {
		return fmt.Errorf("%s container %s: %w", verb, t.Name, err)
	}
	return nil
}

func (s *Service) logs(ctx context.Context, t grants.Target, tail int) (string, error) {
	d, err := s.docker(t.Host)
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	res, err := d.ContainerInspect(ctx, t.ID, client.ContainerInspectOptions{})
	if err != nil {
		return "", err
	}
	tty := res.Container.Config != nil && res.Container.Config.Tty
	r, err := d.ContainerLogs(ctx, t.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Tail: fmt.Sprint(tail)})
	if err != nil {
		return "", err
	}
	defer r.Close()
	return readLogs(r, tty)
}

// ps lists the containers the caller may act on.
func (s *Service) ps(ctx context.Context, caller grants.Caller, filter, responseURL string) {
	ctx, cancel := context.WithTimeout(ctx, s.Timeout)
	defer cancel()
	var lines, failed []string
	for _, h := range s.Hosts {
		list, err := h.Docker.ContainerList(ctx, client.ContainerListOptions{All: true})
		if err != nil {
			failed = append(failed, fmt.Sprintf("❌ could not list the containers of %s: %s", code(h.Name), slackutilsx.EscapeMessage(err.Error())))
			continue
		}
		lines = append(lines, s.psLines(h.Name, list.Items, filter)...)
	}
	var err error
	if len(failed) == len(s.Hosts) {
		err = errors.New("no host answered")
	}
	s.audit(caller, "ps", grants.Target{Name: filter}, outcome(err), err)
	slices.Sort(lines)
	if len(lines) > 50 {
		lines = append(lines[:50], fmt.Sprintf("… and %d more; add a filter", len(lines)-50))
	}
	lines = append(failed, lines...)
	if len(lines) == 0 {
		s.reply(ctx, responseURL, "No containers you may act on.", false)
		return
	}
	s.reply(ctx, responseURL, strings.Join(lines, "\n"), false)
}

// psLines are the containers of one host the caller's verbs apply to.
func (s *Service) psLines(host string, items []container.Summary, filter string) []string {
	var lines []string
	for _, c := range items {
		t := targetOf(c)
		t.Host = host
		verbs := s.Policy.ContainerVerbs(t)
		if len(verbs) == 0 || (filter != "" && !strings.Contains(t.Name, filter)) {
			continue
		}
		names := make([]string, len(verbs))
		for i, v := range verbs {
			names[i] = string(v)
		}
		name := t.Name
		if len(s.Hosts) > 1 {
			name += "@" + host
		}
		lines = append(lines, fmt.Sprintf("%s %s — %s · %s", code(name), slackutilsx.EscapeMessage(c.Status), slackutilsx.EscapeMessage(c.Image), strings.Join(names, ", ")))
	}
	return lines
}

func (s *Service) help(caller grants.Caller) string {
	if s.Policy.AllowCaller(caller, grants.Logs) != nil {
		return "You may not use " + s.Command + " here. Ask an admin to add your Slack user ID and this channel's ID to whalewatch's allowlists."
	}
	may := "read-only commands (ps, logs)"
	if s.Policy.AllowCaller(caller, grants.Start) == nil {
		may = "start, stop and restart the containers that allow it, and use ps and logs"
	}
	return fmt.Sprintf("You may %s here. `%s ps` lists the containers you may act on.\n%s", may, s.Command, usage(s.Command))
}

// reply posts to a response_url: in the channel for results others should
// see, only to the caller otherwise.
func (s *Service) reply(ctx context.Context, responseURL, text string, inChannel bool) {
	if responseURL == "" {
		return
	}
	kind := slack.ResponseTypeEphemeral
	if inChannel {
		kind = slack.ResponseTypeInChannel
	}
	err := slack.PostWebhookCustomHTTPContext(ctx, responseURL, s.HTTP, &slack.WebhookMessage{Text: text, ResponseType: kind})
	if err != nil {
		s.Log.Warn("reply to Slack failed", "err", redact.URL(err))
	}
}

// audit records a decision: a structured log line, a metric and, when
// configured, a post to the audit channel.
// audit records a decision: a log line and a metric at once, and a line in
// the audit channel posted by a worker, so that a slow Slack API never
// delays an acknowledgement.
func (s *Service) audit(c grants.Caller, verb grants.Verb, t grants.Target, result string, reason error) {
	attrs := []any{"user_id", c.UserID, "user_name", c.UserName, "team_id", c.TeamID, "channel", c.ChannelID,
		"verb", string(verb), "container_id", t.ID, "container", t.Name, "result", result}
	if reason != nil {
		attrs = append(attrs, "reason", reason.Error())
	}
	s.Log.Info("audit", attrs...)
	s.Metrics.ActionRequests.WithLabelValues(metrics.Bounded(string(verb), knownVerbs), result).Inc()
	if s.Slack == nil || s.AuditChannel == "" {
		return
	}
	icon := map[string]string{"done": "✅", "denied": "⛔", "failed": "❌"}[result]
	text := fmt.Sprintf("%s <@%s> %s %s in <#%s>: %s", icon, c.UserID, verb, code(t.Name), c.ChannelID, result)
	if reason != nil {
		text += " (" + slackutilsx.EscapeMessage(reason.Error()) + ")"
	}
	posted := s.enqueue(func(ctx context.Context) {
		ctx, cancel := context.WithTimeout(ctx, auditPostTimeout)
		defer cancel()
		if _, _, err := s.Slack.PostMessageContext(ctx, s.AuditChannel, slack.MsgOptionText(text, false)); err != nil {
			s.Log.Warn("audit post failed; the audit line is in this log", "err", err)
		}
	})
	if !posted {
		s.Log.Warn("audit post dropped (too much waiting); the audit line is in this log")
	}
}

// knownVerbs label the action metrics; any other word is "other".
var knownVerbs = map[string]bool{"start": true, "stop": true, "restart": true, "logs": true, "ps": true,
	"mute": true, "unmute": true, "help": true, "": true}

// auditPostTimeout bounds one audit post, so a hanging Slack API cannot
// hold a worker for long.
const auditPostTimeout = 10 * time.Second

// code shows a container name in code style, escaped.
func code(s string) string {
	return "`" + strings.ReplaceAll(slackutilsx.EscapeMessage(s), "`", "'") + "`"
}

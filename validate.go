package main

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"slices"
	"strings"

	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/internal/app"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify/kinds"
)

// validate checks the configuration and prints what whalewatch would do.
func validate(environ []string, stdout, stderr io.Writer) int {
	cfg, err := config.Load(environ)
	if err != nil {
		printConfigError(stderr, err)
		return exitBadConfig
	}
	if err := state.Inspect(cfg.Process.StateDir); err != nil {
		var corrupt *state.CorruptError
		if errors.As(err, &corrupt) {
			err = fmt.Errorf("%w: whalewatch run would move it aside (%s.corrupt-<time>) and start with a fresh one, "+
				"losing its undelivered notifications, event cursors, open groups, Slack threads, buttons and mutes", err, corrupt.Path)
		}
		printStartError(stderr, "cannot use the state file (STATE_DIR)", err)
		return exitBadConfig
	}
	fmt.Fprintln(stdout, "configuration is valid")
	fmt.Fprintln(stdout, "\ndocker hosts:")
	if len(cfg.Docker.Hosts) == 0 {
		host := cfg.Docker.Host
		if host == "" {
			host = "the default socket (unix:///var/run/docker.sock)"
		}
		fmt.Fprintf(stdout, "  - %s%s\n", host, reachedBy(cfg.Docker.Host, cfg.Docker.CertPath))
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Docker.Hosts)) {
		u := cfg.Docker.Hosts[name]
		fmt.Fprintf(stdout, "  - %s: %s%s\n", name, u, reachedBy(u, cfg.Docker.CertPaths[name]))
	}
	fmt.Fprintln(stdout, "\ndestinations:")
	for _, d := range cfg.Delivery.Destinations {
		fmt.Fprintf(stdout, "  - %s (%s)%s\n", d.Name, d.Kind, describeTarget(d))
	}
	if cfg.Heartbeat.URL != "" {
		fail := ""
		if cfg.Heartbeat.Fail {
			fail = "; /fail when not"
		}
		fmt.Fprintf(stdout, "\nheartbeat: every %s while healthy%s%s\n", cfg.Heartbeat.Interval,
			fail, describeTarget(kinds.Destination{URL: cfg.Heartbeat.URL}))
	} else {
		fmt.Fprintln(stdout, "\nheartbeat: off")
	}
	fmt.Fprintf(stdout, "status page: %s\n", statusPagePlan(cfg))
	printRules(stdout, cfg)
	if app.SamplesStats(cfg, cfg.Rules.Engine) {
		fmt.Fprintf(stdout, "stats: each running, watched container sampled every %s (%d at once per host)\n", cfg.Stats.Interval, cfg.Stats.Concurrency)
	} else {
		fmt.Fprintln(stdout, "stats: not sampled")
	}
	fmt.Fprintf(stdout, "\nlabels shown in messages: %s\n", strings.Join(cfg.Alert.LabelsShown, ", "))
	fmt.Fprintf(stdout, "state: %s\n", map[bool]string{true: cfg.Process.StateDir, false: "temporary (STATE_DIR not set: nothing survives a restart)"}[cfg.Process.StateDir != ""])
	if !cfg.ActionsEnabled() {
		fmt.Fprintln(stdout, "slack actions: off")
		return exitOK
	}
	var via []string
	if cfg.Slack.SigningSecret != "" {
		via = append(via, "HTTP "+cfg.HTTP.Addr+" /slack/commands, /slack/interactions")
	}
	if cfg.Slack.AppToken != "" {
		via = append(via, "Socket Mode")
	}
	fmt.Fprintf(stdout, "slack actions: %s via %s; %d users (+%d read-only), %d channels, container globs %v\n",
		cfg.Slack.Command, strings.Join(via, " and "), len(cfg.Actions.AllowedUsers), len(cfg.Actions.ReadUsers),
		len(cfg.Actions.AllowedChannels), cfg.Actions.Containers)
	return exitOK
}

// printRules lists each rule: where it goes, its severity, its condition.
func printRules(stdout io.Writer, cfg *config.Config) {
	fmt.Fprintln(stdout, "\nrules:")
	for _, r := range cfg.Rules.Specs {
		if !r.Enabled {
			fmt.Fprintf(stdout, "  - %s: disabled\n", r.Name)
			continue
		}
		to := "all destinations"
		if len(r.Notify) > 0 {
			to = strings.Join(r.Notify, ", ")
		}
		fmt.Fprintf(stdout, "  - %s → %s (severity %s)\n      when %s\n", r.Name, to, cfg.Severity(r.Name), r.When)
		if r.For > 0 {
			fmt.Fprintf(stdout, "      for %s\n", r.For)
		}
	}
}

// statusPagePlan says where the status page is served and who may read it.
func statusPagePlan(cfg *config.Config) string {
	guard := "no token (loopback only)"
	if cfg.HTTP.AuthToken != "" {
		guard = "HTTP_AUTH_TOKEN required (also for /metrics)"
	}
	if !cfg.HTTP.StatusPage {
		if cfg.HTTP.AuthToken != "" {
			return "off; /metrics needs HTTP_AUTH_TOKEN"
		}
		return "off"
	}
	return "http://" + cfg.HTTP.Addr + "/ and /api/v1/, " + guard
}

// reachedBy says how a daemon's address is reached, as app.ConnectDaemons does.
func reachedBy(host, certDir string) string {
	switch {
	case strings.HasPrefix(host, "ssh://"):
		return " (ssh, docker system dial-stdio)"
	case certDir != "":
		return " (TLS, verified with " + certDir + ")"
	case strings.HasPrefix(host, "tcp://"):
		return " (plain TCP, no TLS: anyone on the path is root on the daemon)"
	}
	return ""
}

// describeTarget says where a destination posts without revealing secrets:
// only the host of a URL, never its path or query.
func describeTarget(d kinds.Destination) string {
	switch {
	case len(d.URLs) > 0:
		var hosts []string
		for _, raw := range d.URLs {
			if u, err := url.Parse(raw); err == nil {
				hosts = append(hosts, u.Scheme+"://"+u.Host)
			}
		}
		what := " → "
		if len(hosts) > 1 {
			what = fmt.Sprintf(" → cluster of %d: ", len(hosts))
		}
		return what + strings.Join(hosts, ", ") + fmt.Sprintf(" (open incidents re-sent every %s)", d.Resend)
	case d.Channel != "":
		return " → channel " + d.Channel
	case d.URL != "":
		if u, err := url.Parse(d.URL); err == nil {
			return " → " + u.Scheme + "://" + u.Host + "/…"
		}
	}
	return ""
}

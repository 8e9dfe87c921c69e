// Package config reads whalewatch's configuration from the environment
// and checks all of it, so that a bad value stops the start with an error
// that names the variable. Each part of the configuration has its file
// (docker.go, slack.go, …); this one loads them and holds what they share.
package config

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"
)

// Config is the whole configuration, in parts. Each part is a struct of
// fixed variables read on its own (see sections), so every variable keeps
// its name; what Load derives from the dynamic variables (destinations,
// rules, certificate paths) sits in the part it belongs to.
type Config struct {
	Process   Process
	Docker    Docker
	Alert     Alert
	Rules     Rules
	Stats     Stats
	Evidence  Evidence
	Delivery  Delivery
	Webhook   Webhook
	Slack     Slack
	Actions   Actions
	HTTP      HTTP
	Heartbeat Heartbeat
}

// Process is the process itself: its state file, logs and shutdown.
type Process struct {
	// StateDir keeps the outbox and event cursors across restarts; empty: nothing survives.
	StateDir        string        `env:"STATE_DIR"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	LogFormat       string        `env:"LOG_FORMAT" envDefault:"text"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info"`
}

// nameRE is a <NAME> of DEST_<NAME>_*, RULE_<NAME>_* and DOCKER_HOSTS.
var nameRE = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_]*$`)

// Load reads and checks the configuration from environ (as os.Environ
// gives it). The error lists every problem, each naming its variable.
func Load(environ []string) (*Config, error) {
	vars := toMap(environ)
	var cfg Config
	var errs []error
	for _, s := range sections(&cfg) {
		errs = append(errs, parseEnv(s.Addr().Interface(), vars, "")...)
	}
	errs = append(errs, cfg.secretsFromFiles()...)
	for _, check := range []func() []error{cfg.checkProcess, cfg.checkDocker, cfg.checkAlert, cfg.checkStats,
		cfg.checkEvidence, cfg.checkSlack, cfg.checkActions, cfg.checkHTTP, cfg.checkHeartbeat, cfg.checkSizes, cfg.checkDurations} {
		errs = append(errs, check()...)
	}
	errs = append(errs, cfg.loadDestinations(vars)...)
	errs = append(errs, cfg.loadCertPaths(vars)...)
	errs = append(errs, cfg.loadRules(vars)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &cfg, nil
}

func toMap(environ []string) map[string]string {
	m := make(map[string]string, len(environ))
	for _, kv := range environ {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// pickSecret merges X and X_FILE: at most one may be set. Files usually
// end in a newline, which is never part of a secret.
func pickSecret(name, value, fromFile string) (string, error) {
	fromFile = strings.TrimRight(fromFile, "\r\n")
	if value != "" && fromFile != "" {
		return "", fmt.Errorf("%s and %s_FILE are both set; use one", name, name)
	}
	if fromFile != "" {
		return fromFile, nil
	}
	return value, nil
}

func (c *Config) secretsFromFiles() []error {
	var errs []error
	for _, s := range []struct {
		name      string
		dst, file *string
	}{
		{"WEBHOOK_URL", &c.Webhook.URL, &c.Webhook.URLFile},
		{"WEBHOOK_SECRET", &c.Webhook.Secret, &c.Webhook.SecretFile},
		{"WEBHOOK_HEADERS", &c.Webhook.HeadersRaw, &c.Webhook.HeadersFile},
		{"SLACK_BOT_TOKEN", &c.Slack.BotToken, &c.Slack.BotTokenFile},
		{"SLACK_WEBHOOK_URL", &c.Slack.WebhookURL, &c.Slack.WebhookURLFile},
		{"SLACK_SIGNING_SECRET", &c.Slack.SigningSecret, &c.Slack.SigningSecretFile},
		{"SLACK_APP_TOKEN", &c.Slack.AppToken, &c.Slack.AppTokenFile},
		{"HEARTBEAT_URL", &c.Heartbeat.URL, &c.Heartbeat.URLFile},
		{"HTTP_AUTH_TOKEN", &c.HTTP.AuthToken, &c.HTTP.AuthTokenFile},
	} {
		v, err := pickSecret(s.name, *s.dst, *s.file)
		if err != nil {
			errs = append(errs, err)
		}
		*s.dst, *s.file = v, ""
	}
	return errs
}

func (c *Config) checkProcess() []error {
	var errs []error
	if c.Process.LogFormat != "text" && c.Process.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q is not text or json", c.Process.LogFormat))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.Process.LogLevel)) {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %q is not debug, info, warn or error", c.Process.LogLevel))
	}
	if err := checkStateDir(c.Process.StateDir); err != nil {
		errs = append(errs, fmt.Errorf("STATE_DIR: %w", err))
	}
	return errs
}

// checkStateDir: a directory, or one that can be made (its parent exists).
func checkStateDir(dir string) error {
	if dir == "" {
		return nil
	}
	if info, err := os.Stat(dir); err == nil {
		if !info.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if info, err := os.Stat(filepath.Dir(filepath.Clean(dir))); err != nil || !info.IsDir() {
		return fmt.Errorf("%s does not exist and cannot be made (no parent directory)", dir)
	}
	return nil
}

// sizeBound is the range a count may take.
type sizeBound struct {
	name            string
	value, min, max int
	why             string
}

// sizeBounds are the ranges of the counts: the queues are allocated (the
// event queue in memory, the outbox on disk, 1–2 KB an entry), so a
// mistyped size would exhaust memory or disk long after the start.
func sizeBounds(c *Config) []sizeBound {
	return []sizeBound{
		{"EVENT_QUEUE_SIZE", c.Docker.EventQueueSize, 1, 1_000_000, " (events waiting in memory)"},
		{"NOTIFY_QUEUE_SIZE", c.Delivery.QueueSize, 1, 1_000_000, " (notifications waiting on disk, per destination)"},
		{"CRASHLOOP_DEATHS", c.Alert.CrashLoopDeaths, 0, 1000, ""},
		{"ACTIONS_RATE_PER_MINUTE", c.Actions.RatePerMinute, 1, 1000, ""},
		{"STATS_CONCURRENCY", c.Stats.Concurrency, 1, 64, " (stats requests in flight per daemon)"},
	}
}

func (c *Config) checkSizes() []error {
	var errs []error
	for _, b := range sizeBounds(c) {
		if b.value < b.min || b.value > b.max {
			errs = append(errs, fmt.Errorf("%s: %d is not between %d and %d%s", b.name, b.value, b.min, b.max, b.why))
		}
	}
	return errs
}

// positiveDurations must be more than zero; every other duration must
// not be negative.
var positiveDurations = map[string]bool{"NOTIFY_TIMEOUT": true, "ACTIONS_TIMEOUT": true, "ACTIONS_BUTTON_TTL": true,
	"CRASHLOOP_WINDOW": true, "CRASHLOOP_QUIET": true, "NOTIFY_RETRY_FOR": true, "EVIDENCE_TIMEOUT": true, "RESOLVE_AFTER": true,
	"HEARTBEAT_INTERVAL": true}

// checkDurations checks every duration of every part by its variable.
func (c *Config) checkDurations() []error {
	var errs []error
	for _, s := range sections(c) {
		for i := range s.NumField() {
			d, ok := s.Field(i).Interface().(time.Duration)
			name, _, _ := strings.Cut(s.Type().Field(i).Tag.Get("env"), ",")
			switch {
			case !ok:
			case d < 0:
				errs = append(errs, fmt.Errorf("%s: %s is negative", name, d))
			case d == 0 && positiveDurations[name]:
				errs = append(errs, fmt.Errorf("%s: must be more than 0", name))
			}
		}
	}
	return errs
}

// groupNames finds, sorted, the <NAME>s of a family of variables
// (DEST_<NAME>_*, RULE_<NAME>_*); a variable with the family's prefix that
// is no known setting of it is refused, naming what is expected.
func groupNames(vars map[string]string, re *regexp.Regexp, prefix, expected string) ([]string, []error) {
	var errs []error
	names := map[string]bool{}
	for k := range vars {
		if m := re.FindStringSubmatch(k); m != nil {
			names[m[1]] = true
		} else if strings.HasPrefix(k, prefix) {
			errs = append(errs, fmt.Errorf("%s: unknown %s", k, expected))
		}
	}
	return slices.Sorted(maps.Keys(names)), errs
}

// Package config reads whalewatch's configuration from the environment
// and checks all of it, so that a bad value stops the start with an error
// that names the variable.
package config

import (
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/whalewatch/whalewatch/internal/grants"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/opsgenie"
	"github.com/whalewatch/whalewatch/notify/pagerduty"
	"github.com/whalewatch/whalewatch/notify/shoutrrr"
	"github.com/whalewatch/whalewatch/notify/webhook"
	"github.com/whalewatch/whalewatch/rules"
)

// Config is the whole configuration.
type Config struct {
	// DockerHosts names several daemons: name=url,… (e.g.
	// web1=tcp://10.0.0.5:2376). Empty: the one daemon of DOCKER_HOST or
	// the default socket.
	DockerHosts map[string]string `env:"DOCKER_HOSTS" envKeyValSeparator:"="`
	// DockerCertPaths are the TLS files (ca.pem, cert.pem, key.pem) of each
	// DOCKER_HOSTS entry, from DOCKER_<NAME>_CERT_PATH, else DOCKER_CERT_PATH.
	// The daemon's certificate is always verified.
	DockerCertPaths map[string]string `env:"-"`
	// DockerCertPath and DockerTLSVerify are the Docker client's own
	// variables, checked here: a cert path without verification would
	// make the client accept any certificate.
	DockerCertPath string `env:"DOCKER_CERT_PATH"`
	// SSHConfig is the ssh configuration file for ssh:// daemons (ssh -F);
	// empty: ssh's own (~/.ssh/config).
	SSHConfig       string `env:"SSH_CONFIG"`
	DockerTLSVerify string `env:"DOCKER_TLS_VERIFY"`
	// DockerConfig is the docker CLI's configuration directory (default
	// ~/.docker): with DOCKER_TLS_VERIFY and no DOCKER_CERT_PATH, the TLS
	// files are read there, as the docker CLI does.
	DockerConfig string `env:"DOCKER_CONFIG"`
	// DockerHost is the one daemon's address when DOCKER_HOSTS is empty
	// (the Docker client reads it; checked here).
	DockerHost string `env:"DOCKER_HOST"`
	// SwarmEvents says which whalewatch reports Swarm-scope events:
	// leader, all or off (see events.SwarmLeader).
	SwarmEvents string `env:"SWARM_EVENTS" envDefault:"leader"`
	// HostName names the default daemon in messages (default: the daemon's
	// own host name).
	HostName string `env:"HOST_NAME"`

	WebhookURL     string `env:"WEBHOOK_URL"`
	WebhookURLFile string `env:"WEBHOOK_URL_FILE,file"`
	WebhookSecret  string `env:"WEBHOOK_SECRET"`
	WebhookSecretF string `env:"WEBHOOK_SECRET_FILE,file"`
	// WebhookHeaders is parsed from WEBHOOK_HEADERS (or _FILE) by Load:
	// its values (an Authorization header) are secrets.
	WebhookHeaders  map[string]string `env:"-"`
	WebhookHeadersS string            `env:"WEBHOOK_HEADERS"`
	WebhookHeadersF string            `env:"WEBHOOK_HEADERS_FILE,file"`
	WebhookTemplate string            `env:"WEBHOOK_TEMPLATE"`
	// WebhookConcurrency: posts in flight at once (0: DefaultConcurrency).
	WebhookConcurrency int `env:"WEBHOOK_CONCURRENCY"`

	SlackBotToken       string `env:"SLACK_BOT_TOKEN"`
	SlackBotTokenFile   string `env:"SLACK_BOT_TOKEN_FILE,file"`
	SlackChannel        string `env:"SLACK_CHANNEL"`
	SlackWebhookURL     string `env:"SLACK_WEBHOOK_URL"`
	SlackWebhookURLFile string `env:"SLACK_WEBHOOK_URL_FILE,file"`
	SlackAPIURL         string `env:"SLACK_API_URL" envDefault:"https://slack.com/api/"`

	// Slack actions: slash commands and buttons (see actions/).
	SlackSigningSecret     string            `env:"SLACK_SIGNING_SECRET"`
	SlackSigningSecretFile string            `env:"SLACK_SIGNING_SECRET_FILE,file"`
	SlackAppToken          string            `env:"SLACK_APP_TOKEN"`
	SlackAppTokenFile      string            `env:"SLACK_APP_TOKEN_FILE,file"`
	SlackCommand           string            `env:"SLACK_COMMAND" envDefault:"/docker"`
	ActionsAllowedTeams    []string          `env:"ACTIONS_ALLOWED_TEAMS"`
	ActionsAllowedUsers    []string          `env:"ACTIONS_ALLOWED_USERS"`
	ActionsAllowedGroups   []string          `env:"ACTIONS_ALLOWED_GROUPS"`
	ActionsReadUsers       []string          `env:"ACTIONS_READ_USERS"`
	ActionsAllowedChannels []string          `env:"ACTIONS_ALLOWED_CHANNELS"`
	ActionsContainers      []string          `env:"ACTIONS_CONTAINERS"`
	ActionsRatePerMinute   int               `env:"ACTIONS_RATE_PER_MINUTE" envDefault:"6"`
	ActionsButtonTTL       time.Duration     `env:"ACTIONS_BUTTON_TTL" envDefault:"1h"`
	ActionsTimeout         time.Duration     `env:"ACTIONS_TIMEOUT" envDefault:"30s"`
	ActionsAuditChannel    string            `env:"ACTIONS_AUDIT_CHANNEL"`
	ActionGlobs            []grants.VerbGlob `env:"-"`

	// The crash card: the last lines of output of a container that died or
	// is unhealthy (0: none), how long reading them may take, and a link.
	EvidenceLogLines int           `env:"EVIDENCE_LOG_LINES" envDefault:"20"`
	EvidenceTimeout  time.Duration `env:"EVIDENCE_TIMEOUT" envDefault:"5s"`
	LinkTemplate     string        `env:"LINK_TEMPLATE"`
	// ResolveAfter: an incident resolves once its container has been up
	// (and healthy) this long.
	ResolveAfter time.Duration `env:"RESOLVE_AFTER" envDefault:"1m"`
	// StatsInterval: how often each running, watched container's stats are
	// sampled for the rules of Type "stats" (0: never); StatsConcurrency
	// bounds the samples in flight per daemon.
	StatsInterval    time.Duration `env:"STATS_INTERVAL" envDefault:"30s"`
	StatsConcurrency int           `env:"STATS_CONCURRENCY" envDefault:"8"`
	// WatchByDefault=false watches only containers labelled whalewatch.enable=true.
	WatchByDefault bool `env:"WATCH_BY_DEFAULT" envDefault:"true"`

	// LabelsShown is the allowlist of container labels shown in messages.
	LabelsShown  []string `env:"LABELS_SHOWN" envDefault:"com.docker.compose.project,com.docker.compose.service"`
	DefaultRules bool     `env:"DEFAULT_RULES" envDefault:"true"`

	// StateDir keeps the outbox and event cursors across restarts; empty: nothing survives.
	StateDir           string        `env:"STATE_DIR"`
	CrashLoopDeaths    int           `env:"CRASHLOOP_DEATHS" envDefault:"5"`
	CrashLoopWindow    time.Duration `env:"CRASHLOOP_WINDOW" envDefault:"10m"`
	CrashLoopQuiet     time.Duration `env:"CRASHLOOP_QUIET" envDefault:"5m"`
	SlackRatePerSecond float64       `env:"SLACK_RATE_PER_SECOND" envDefault:"3"`

	EventQueueSize  int           `env:"EVENT_QUEUE_SIZE" envDefault:"4096"`
	NotifyQueueSize int           `env:"NOTIFY_QUEUE_SIZE" envDefault:"50000"`
	NotifyRetryFor  time.Duration `env:"NOTIFY_RETRY_FOR" envDefault:"10m"`
	NotifyTimeout   time.Duration `env:"NOTIFY_TIMEOUT" envDefault:"10s"`

	// HTTPAddr is where /healthz, /readyz and /metrics listen; "off" turns them off.
	HTTPAddr        string        `env:"HTTP_ADDR" envDefault:"127.0.0.1:9180"`
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`
	LogFormat       string        `env:"LOG_FORMAT" envDefault:"text"`
	LogLevel        string        `env:"LOG_LEVEL" envDefault:"info"`
	// Pprof serves Go's profiling endpoints at /debug/pprof/ on HTTP_ADDR.
	Pprof bool `env:"PPROF" envDefault:"false"`
	// StatusPage serves the read-only status page at / on HTTP_ADDR, and
	// its JSON at /api/v1/.
	StatusPage bool `env:"STATUS_PAGE" envDefault:"false"`
	// HTTPAuthToken guards the status page, its API and /metrics (a
	// secret); the page on a non-loopback HTTP_ADDR requires it.
	HTTPAuthToken     string `env:"HTTP_AUTH_TOKEN"`
	HTTPAuthTokenFile string `env:"HTTP_AUTH_TOKEN_FILE,file"`

	// HeartbeatURL is pinged (GET) every HeartbeatInterval while whalewatch
	// is healthy (healthchecks.io, Uptime Kuma push); a secret: its path
	// is the check's key. HeartbeatFail also calls HeartbeatURL + "/fail"
	// when it is not.
	HeartbeatURL      string        `env:"HEARTBEAT_URL"`
	HeartbeatURLFile  string        `env:"HEARTBEAT_URL_FILE,file"`
	HeartbeatInterval time.Duration `env:"HEARTBEAT_INTERVAL" envDefault:"1m"`
	HeartbeatFail     bool          `env:"HEARTBEAT_FAIL" envDefault:"false"`

	// Filled by Load from the dynamic variables.
	Destinations []Destination `env:"-"`
	// Rules are checked by Load (they compile); the caller compiles them
	// again to run them.
	Rules []rules.Spec `env:"-"`
	// RuleSeverity is each rule's RULE_<NAME>_SEVERITY, where set.
	RuleSeverity map[string]string `env:"-"`
}

// Severity is a rule's severity: RULE_<NAME>_SEVERITY, else
// notify.DefaultSeverity (critical for CRASHED, OOM, NODE_DOWN and crash
// loops, warning otherwise).
func (c *Config) Severity(rule string) string {
	if s, ok := c.RuleSeverity[rule]; ok {
		return s
	}
	return notify.DefaultSeverity(rule)
}

// Destination kinds.
const (
	KindStdout       = "stdout"
	KindWebhook      = "webhook"
	KindSlack        = "slack"
	KindSlackWebhook = "slack_webhook"
	KindShoutrrr     = "shoutrrr"
	KindAlertmanager = "alertmanager"
	KindPagerDuty    = "pagerduty"
	KindOpsgenie     = "opsgenie"
)

// Destination is one named place notifications go.
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

// DefaultConcurrency is how many notifications a destination of a kind
// has in flight at once unless told: HTTP endpoints take several; Slack is
// paced per channel anyway, and stdout is one stream.
func DefaultConcurrency(kind string) int {
	switch kind {
	case KindWebhook:
		return 8
	case KindShoutrrr, KindAlertmanager, KindPagerDuty, KindOpsgenie:
		return 4
	}
	return 1
}

// maxConcurrency bounds DEST_<NAME>_CONCURRENCY and WEBHOOK_CONCURRENCY.
const maxConcurrency = 64

// destEnv is one DEST_<NAME>_* group.
type destEnv struct {
	Type       string `env:"TYPE"`
	URL        string `env:"URL"`
	URLFile    string `env:"URL_FILE,file"`
	Token      string `env:"TOKEN"`
	TokenFile  string `env:"TOKEN_FILE,file"`
	Channel    string `env:"CHANNEL"`
	Secret     string `env:"SECRET"`
	SecretFile string `env:"SECRET_FILE,file"`
	Headers    string `env:"HEADERS"`
	HeadersF   string `env:"HEADERS_FILE,file"`
	Template   string `env:"TEMPLATE"`
	// Concurrency, 0 for the kind's default.
	Concurrency int           `env:"CONCURRENCY"`
	Resend      time.Duration `env:"RESEND" envDefault:"1m"`
	RoutingKey  string        `env:"ROUTING_KEY"`
	RoutingKeyF string        `env:"ROUTING_KEY_FILE,file"`
	APIKey      string        `env:"API_KEY"`
	APIKeyF     string        `env:"API_KEY_FILE,file"`
}

// ruleEnv is one RULE_<NAME>_* group.
type ruleEnv struct {
	When        string         `env:"WHEN"`
	Notify      []string       `env:"NOTIFY"`
	Template    string         `env:"TEMPLATE"`
	Enabled     bool           `env:"ENABLED" envDefault:"true"`
	GroupWindow *time.Duration `env:"GROUP_WINDOW"`
	Cooldown    time.Duration  `env:"COOLDOWN"`
	Severity    string         `env:"SEVERITY"`
	For         *time.Duration `env:"FOR"`
}

// defaultGroupWindow groups every rule's storms unless it says otherwise.
const defaultGroupWindow = 10 * time.Second

var (
	nameRE     = regexp.MustCompile(`^[A-Z0-9][A-Z0-9_]*$`)
	ruleKeyRE  = regexp.MustCompile(`^RULE_(.+)_(WHEN|NOTIFY|TEMPLATE|ENABLED|GROUP_WINDOW|COOLDOWN|SEVERITY|FOR)$`)
	hostCertRE = regexp.MustCompile(`^DOCKER_(.+)_CERT_PATH$`)
	destKeyRE  = regexp.MustCompile(`^DEST_(.+)_(TYPE|URL|URL_FILE|TOKEN|TOKEN_FILE|CHANNEL|SECRET|SECRET_FILE|HEADERS|HEADERS_FILE|TEMPLATE|CONCURRENCY|RESEND|ROUTING_KEY|ROUTING_KEY_FILE|API_KEY|API_KEY_FILE)$`)
	destKinds  = []string{KindStdout, KindWebhook, KindSlack, KindSlackWebhook, KindShoutrrr, KindAlertmanager, KindPagerDuty, KindOpsgenie}
)

// Load reads and checks the configuration from environ (as os.Environ
// gives it). The error lists every problem, each naming its variable.
func Load(environ []string) (*Config, error) {
	vars := toMap(environ)
	var cfg Config
	var errs []error
	errs = append(errs, parseEnv(&cfg, vars, "")...)
	errs = append(errs, cfg.secretsFromFiles()...)
	errs = append(errs, cfg.check()...)
	errs = append(errs, cfg.loadDestinations(vars)...)
	errs = append(errs, cfg.loadCertPaths(vars)...)
	errs = append(errs, cfg.loadRules(vars)...)
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// HTTPAddrOnly reads HTTP_ADDR alone: the healthcheck needs nothing else,
// and must not fail on a setting (or a secret file) it has no use for.
func HTTPAddrOnly(environ []string) (string, error) {
	var ops struct {
		HTTPAddr string `env:"HTTP_ADDR" envDefault:"127.0.0.1:9180"`
	}
	if err := errors.Join(parseEnv(&ops, toMap(environ), "")...); err != nil {
		return "", err
	}
	return ops.HTTPAddr, nil
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
		{"WEBHOOK_URL", &c.WebhookURL, &c.WebhookURLFile},
		{"WEBHOOK_SECRET", &c.WebhookSecret, &c.WebhookSecretF},
		{"WEBHOOK_HEADERS", &c.WebhookHeadersS, &c.WebhookHeadersF},
		{"SLACK_BOT_TOKEN", &c.SlackBotToken, &c.SlackBotTokenFile},
		{"SLACK_WEBHOOK_URL", &c.SlackWebhookURL, &c.SlackWebhookURLFile},
		{"SLACK_SIGNING_SECRET", &c.SlackSigningSecret, &c.SlackSigningSecretFile},
		{"SLACK_APP_TOKEN", &c.SlackAppToken, &c.SlackAppTokenFile},
		{"HEARTBEAT_URL", &c.HeartbeatURL, &c.HeartbeatURLFile},
		{"HTTP_AUTH_TOKEN", &c.HTTPAuthToken, &c.HTTPAuthTokenFile},
	} {
		v, err := pickSecret(s.name, *s.dst, *s.file)
		if err != nil {
			errs = append(errs, err)
		}
		*s.dst, *s.file = v, ""
	}
	return errs
}

func (c *Config) check() []error {
	var errs []error
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("LOG_FORMAT: %q is not text or json", c.LogFormat))
	}
	if !slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(c.LogLevel)) {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %q is not debug, info, warn or error", c.LogLevel))
	}
	for _, b := range sizeBounds(c) {
		if b.value < b.min || b.value > b.max {
			errs = append(errs, fmt.Errorf("%s: %d is not between %d and %d%s", b.name, b.value, b.min, b.max, b.why))
		}
	}
	if c.HostName != "" && len(c.DockerHosts) > 0 {
		errs = append(errs, errors.New("HOST_NAME: set together with DOCKER_HOSTS, which names each daemon (name=url); drop HOST_NAME or name the daemon in DOCKER_HOSTS"))
	}
	if err := checkURL("SLACK_API_URL", c.SlackAPIURL); err != nil {
		errs = append(errs, err)
	} else if !strings.HasSuffix(c.SlackAPIURL, "/") {
		errs = append(errs, errors.New("SLACK_API_URL: must end in /"))
	}
	if c.EvidenceLogLines < 0 || c.EvidenceLogLines > 200 {
		errs = append(errs, fmt.Errorf("EVIDENCE_LOG_LINES: %d is not between 0 and 200", c.EvidenceLogLines))
	}
	if c.StatsInterval > 0 && c.StatsInterval < time.Second {
		errs = append(errs, fmt.Errorf("STATS_INTERVAL: %s is under 1s (0 turns sampling off)", c.StatsInterval))
	}
	if c.LinkTemplate != "" {
		if _, err := rules.ParseTemplate("LINK_TEMPLATE", c.LinkTemplate); err != nil {
			errs = append(errs, fmt.Errorf("LINK_TEMPLATE: %w", err))
		}
	}
	if err := checkListenAddr(c.HTTPAddr); err != nil {
		errs = append(errs, fmt.Errorf("HTTP_ADDR: %w", err))
	} else {
		errs = append(errs, c.checkStatusPage()...)
	}
	errs = append(errs, checkDurations(c)...)
	errs = append(errs, c.checkActions()...)
	if c.HeartbeatURL != "" {
		if err := checkURL("HEARTBEAT_URL", c.HeartbeatURL); err != nil {
			errs = append(errs, err)
		}
	} else if c.HeartbeatFail {
		errs = append(errs, errors.New("HEARTBEAT_FAIL: set without HEARTBEAT_URL"))
	}
	if c.SlackBotToken != "" && !strings.HasPrefix(c.SlackBotToken, "xoxb-") {
		errs = append(errs, errors.New("SLACK_BOT_TOKEN: not a bot token (xoxb-…)"))
	}
	if c.SlackChannel != "" && !slackIDRE.MatchString(c.SlackChannel) && !channelNameRE.MatchString(c.SlackChannel) {
		errs = append(errs, fmt.Errorf("SLACK_CHANNEL: %q is not a channel ID (C…) or #name", c.SlackChannel))
	}
	if !slices.Contains([]string{"leader", "all", "off"}, c.SwarmEvents) {
		errs = append(errs, fmt.Errorf("SWARM_EVENTS: %q is not leader, all or off", c.SwarmEvents))
	}
	if c.SSHConfig != "" {
		if _, err := os.ReadFile(c.SSHConfig); err != nil {
			errs = append(errs, fmt.Errorf("SSH_CONFIG: %w", err))
		}
	}
	if err := checkStateDir(c.StateDir); err != nil {
		errs = append(errs, fmt.Errorf("STATE_DIR: %w", err))
	}
	if err := checkDockerURL(c.DockerHost); err != nil {
		errs = append(errs, fmt.Errorf("DOCKER_HOST: %w", err))
	}
	for name, u := range c.DockerHosts {
		if !nameRE.MatchString(strings.ToUpper(name)) {
			errs = append(errs, fmt.Errorf("DOCKER_HOSTS: %q is not a valid host name (letters, digits, _)", name))
		}
		if err := checkDockerURL(u); err != nil || u == "" {
			errs = append(errs, fmt.Errorf("DOCKER_HOSTS: host %s: %q is not a URL like tcp://host:2376 or unix:///path", name, u))
		}
	}
	return errs
}

// ActionsEnabled tells whether Slack may send commands and clicks.
func (c *Config) ActionsEnabled() bool {
	return c.SlackSigningSecret != "" || c.SlackAppToken != ""
}

func (c *Config) checkActions() []error {
	var errs []error
	globs, err := grants.ParseVerbGlobs(c.ActionsContainers)
	if err != nil {
		errs = append(errs, fmt.Errorf("ACTIONS_CONTAINERS: %w", err))
	}
	c.ActionGlobs = globs
	for _, list := range []struct {
		name string
		ids  []string
	}{
		{"ACTIONS_ALLOWED_TEAMS", c.ActionsAllowedTeams}, {"ACTIONS_ALLOWED_USERS", c.ActionsAllowedUsers},
		{"ACTIONS_ALLOWED_GROUPS", c.ActionsAllowedGroups},
		{"ACTIONS_READ_USERS", c.ActionsReadUsers}, {"ACTIONS_ALLOWED_CHANNELS", c.ActionsAllowedChannels},
		{"ACTIONS_AUDIT_CHANNEL", strings.Fields(c.ActionsAuditChannel)},
	} {
		for _, id := range list.ids {
			if !slackIDRE.MatchString(id) {
				errs = append(errs, fmt.Errorf("%s: %q is not a Slack ID (like U024BE7LH or C024BE91L; names change, IDs do not)", list.name, id))
			}
		}
	}
	if c.SlackSigningSecret != "" && (len(c.SlackSigningSecret) < 8 || strings.ContainsAny(c.SlackSigningSecret, " \t\n")) {
		errs = append(errs, errors.New("SLACK_SIGNING_SECRET: not a signing secret (Slack's are 32 characters, without spaces)"))
	}
	if len(c.ActionsAllowedGroups) > 0 && c.SlackBotToken == "" {
		errs = append(errs, errors.New("ACTIONS_ALLOWED_GROUPS: needs SLACK_BOT_TOKEN (with usergroups:read) to read the groups"))
	}
	if c.SlackAppToken != "" && !strings.HasPrefix(c.SlackAppToken, "xapp-") {
		errs = append(errs, errors.New("SLACK_APP_TOKEN: not an app-level token (xapp-…)"))
	}
	if c.SlackAppToken != "" && c.SlackBotToken == "" {
		errs = append(errs, errors.New("SLACK_BOT_TOKEN: required with SLACK_APP_TOKEN (Socket Mode)"))
	}
	if c.SlackSigningSecret != "" && c.HTTPAddr == "off" {
		errs = append(errs, errors.New("HTTP_ADDR: is off, but SLACK_SIGNING_SECRET needs it for /slack/commands"))
	}
	if !strings.HasPrefix(c.SlackCommand, "/") {
		errs = append(errs, fmt.Errorf("SLACK_COMMAND: %q must start with /", c.SlackCommand))
	}
	if !(c.SlackRatePerSecond > 0 && c.SlackRatePerSecond <= maxSlackRate) {
		errs = append(errs, fmt.Errorf("SLACK_RATE_PER_SECOND: must be more than 0 and at most %d (Slack allows about 1 a second per channel)", maxSlackRate))
	}
	return errs
}

// sizeBound is the range a count may take.
type sizeBound struct {
	name            string
	value, min, max int
	why             string
}

// maxSlackRate bounds SLACK_RATE_PER_SECOND.
const maxSlackRate = 100

// sizeBounds are the ranges of the counts: the queues are allocated (the
// event queue in memory, the outbox on disk, 1–2 KB an entry), so a
// mistyped size would exhaust memory or disk long after the start.
func sizeBounds(c *Config) []sizeBound {
	return []sizeBound{
		{"EVENT_QUEUE_SIZE", c.EventQueueSize, 1, 1_000_000, " (events waiting in memory)"},
		{"NOTIFY_QUEUE_SIZE", c.NotifyQueueSize, 1, 1_000_000, " (notifications waiting on disk, per destination)"},
		{"CRASHLOOP_DEATHS", c.CrashLoopDeaths, 0, 1000, ""},
		{"ACTIONS_RATE_PER_MINUTE", c.ActionsRatePerMinute, 1, 1000, ""},
		{"STATS_CONCURRENCY", c.StatsConcurrency, 1, 64, " (stats requests in flight per daemon)"},
	}
}

// loadCertPaths reads DOCKER_<NAME>_CERT_PATH and checks every cert dir.
// DOCKER_TLS_VERIFY without DOCKER_CERT_PATH reads the files from
// DOCKER_CONFIG or ~/.docker, as the docker CLI does (the Docker client
// library alone would talk plain TCP).
func (c *Config) loadCertPaths(vars map[string]string) []error {
	var errs []error
	if c.DockerTLSVerify != "" && c.DockerCertPath == "" {
		dir, from := c.DockerConfig, "DOCKER_CONFIG"
		if dir == "" {
			dir, from = filepath.Join(vars["HOME"], ".docker"), "~/.docker"
		}
		if vars["HOME"] == "" && c.DockerConfig == "" {
			errs = append(errs, errors.New("DOCKER_TLS_VERIFY: set without DOCKER_CERT_PATH, and there is no HOME for ~/.docker; set DOCKER_CERT_PATH to the directory of ca.pem, cert.pem and key.pem"))
		} else if err := checkCertDir(dir); err != nil {
			errs = append(errs, fmt.Errorf("DOCKER_TLS_VERIFY: set without DOCKER_CERT_PATH, so the TLS files are read from %s (%s) as the docker CLI does: %w; set DOCKER_CERT_PATH", dir, from, err))
		} else {
			c.DockerCertPath = dir
		}
	} else if c.DockerCertPath != "" {
		if c.DockerTLSVerify == "" {
			errs = append(errs, errors.New("DOCKER_TLS_VERIFY: empty while DOCKER_CERT_PATH is set, so the daemon's certificate would not be verified; set DOCKER_TLS_VERIFY=1"))
		}
		if err := checkCertDir(c.DockerCertPath); err != nil {
			errs = append(errs, fmt.Errorf("DOCKER_CERT_PATH: %w", err))
		}
	}
	c.DockerCertPaths = map[string]string{}
	for name, u := range c.DockerHosts {
		if strings.HasPrefix(u, "tcp://") && c.DockerCertPath != "" {
			c.DockerCertPaths[name] = c.DockerCertPath
		}
	}
	hosts := slices.Sorted(maps.Keys(c.DockerHosts))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		m := hostCertRE.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		i := slices.IndexFunc(hosts, func(h string) bool { return strings.EqualFold(h, m[1]) })
		if i < 0 {
			errs = append(errs, fmt.Errorf("%s: no DOCKER_HOSTS entry is named %s", k, strings.ToLower(m[1])))
			continue
		}
		host := hosts[i]
		if err := checkCertDir(vars[k]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		c.DockerCertPaths[host] = vars[k]
	}
	return errs
}

// checkCertDir: the Docker client's TLS files are there and readable.
func checkCertDir(dir string) error {
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if _, err := os.ReadFile(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("%s has no readable %s (ca.pem, cert.pem and key.pem are needed): %w", dir, f, err)
		}
	}
	return nil
}

// checkListenAddr accepts "off" or host:port with a port from 0 to 65535.
// minTokenLen: HTTP_AUTH_TOKEN must not be guessable.
const minTokenLen = 16

// checkStatusPage: the page needs HTTP_ADDR, and a token unless only this
// machine can reach it.
func (c *Config) checkStatusPage() []error {
	var errs []error
	if c.HTTPAuthToken != "" && len(c.HTTPAuthToken) < minTokenLen {
		errs = append(errs, fmt.Errorf("HTTP_AUTH_TOKEN: is %d characters; use at least %d (e.g. openssl rand -hex 32)", len(c.HTTPAuthToken), minTokenLen))
	}
	switch {
	case !c.StatusPage:
	case c.HTTPAddr == "off":
		errs = append(errs, errors.New("HTTP_ADDR: is off, but STATUS_PAGE=true serves the page on it"))
	case c.HTTPAuthToken == "" && !Loopback(c.HTTPAddr):
		errs = append(errs, fmt.Errorf("HTTP_AUTH_TOKEN: not set, but STATUS_PAGE=true on HTTP_ADDR %q, which other machines can reach: set HTTP_AUTH_TOKEN (or HTTP_AUTH_TOKEN_FILE), or listen on 127.0.0.1", c.HTTPAddr))
	}
	return errs
}

// Loopback tells whether a listen address (host:port) is reachable from
// this machine only: a loopback IP or localhost (no host is every interface).
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

func checkListenAddr(addr string) error {
	if addr == "off" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (or off): %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 0 to 65535", addr)
	}
	if host != "" && net.ParseIP(host) == nil && !hostnameRE.MatchString(host) {
		return fmt.Errorf("%q: %q is not an IP address or host name", addr, host)
	}
	return nil
}

var (
	slackIDRE     = regexp.MustCompile(`^[A-Z][A-Z0-9]+$`)
	channelNameRE = regexp.MustCompile(`^#[a-z0-9][a-z0-9_-]{0,79}$`)
)

// checkDockerURL accepts what the Docker client dials ("" is the default socket).
func checkDockerURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || !slices.Contains([]string{"unix", "tcp", "ssh", "http", "https", "npipe"}, u.Scheme) || (u.Host == "" && u.Path == "") {
		return fmt.Errorf("%q is not a daemon address like unix:///var/run/docker.sock or tcp://host:2376", raw)
	}
	if u.Scheme == "ssh" && (u.Hostname() == "" || (u.Path != "" && u.Path != "/")) {
		return fmt.Errorf("%q is not ssh://[user@]host[:port]", raw)
	}
	return nil
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

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]{0,251}[A-Za-z0-9])?$`)

// positiveDurations must be more than zero; every other duration must
// not be negative.
var positiveDurations = map[string]bool{"NOTIFY_TIMEOUT": true, "ACTIONS_TIMEOUT": true, "ACTIONS_BUTTON_TTL": true,
	"CRASHLOOP_WINDOW": true, "CRASHLOOP_QUIET": true, "NOTIFY_RETRY_FOR": true, "EVIDENCE_TIMEOUT": true, "RESOLVE_AFTER": true,
	"HEARTBEAT_INTERVAL": true}

func checkDurations(c *Config) []error {
	var errs []error
	v, t := reflect.ValueOf(c).Elem(), reflect.TypeOf(c).Elem()
	for i := range t.NumField() {
		d, ok := v.Field(i).Interface().(time.Duration)
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("env"), ",")
		switch {
		case !ok:
		case d < 0:
			errs = append(errs, fmt.Errorf("%s: %s is negative", name, d))
		case d == 0 && positiveDurations[name]:
			errs = append(errs, fmt.Errorf("%s: must be more than 0", name))
		}
	}
	return errs
}

// checkWebhook checks a webhook destination's secret and template, naming
// the variable they came from.
func checkWebhook(prefix string, d Destination) []error {
	var errs []error
	if d.Secret != "" {
		if err := webhook.CheckSecret(d.Secret); err != nil {
			errs = append(errs, fmt.Errorf("%sSECRET: %w", prefix, err))
		}
	}
	if d.Template != "" {
		if err := webhook.CheckTemplate(d.Template); err != nil {
			errs = append(errs, fmt.Errorf("%sTEMPLATE: %w", prefix, err))
		}
	}
	return errs
}

// headerNameRE is an HTTP header name (RFC 9110 token).
var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// parseHeaders reads name=value pairs separated by commas or newlines.
// Its errors name the variable and the header, never a value: the value
// of an Authorization header is a secret, and a malformed item may be
// one whole ("Authorization: Bearer …").
func parseHeaders(variable, raw string) (map[string]string, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	headers := map[string]string{}
	n := 0
	for item := range strings.FieldsFuncSeq(raw, func(r rune) bool { return r == ',' || r == '\n' }) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n++
		name, value, ok := strings.Cut(item, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !headerNameRE.MatchString(name) {
			// Only the header name at its start is shown, when something
			// (": ", " ") parts it from the rest: a lone word may be the value.
			if i := strings.IndexAny(item, ": ="); i > 0 && headerNameRE.MatchString(item[:i]) {
				lead := item[:i]
				return nil, fmt.Errorf("%s: header %q is not name=value (the value is not shown)", variable, lead)
			}
			return nil, fmt.Errorf("%s: item %d is not name=value (it is not shown)", variable, n)
		}
		if strings.ContainsFunc(value, unicode.IsControl) {
			return nil, fmt.Errorf("%s: header %q: its value holds a control character", variable, name)
		}
		headers[name] = value
	}
	return headers, nil
}

// checkURL tells whether raw is an http(s) URL without echoing it: URLs
// of webhooks are secrets.
func checkURL(variable, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: not an http(s) URL", variable)
	}
	return nil
}

// loadDestinations builds the built-in destinations and every DEST_<NAME>_*.
func (c *Config) loadDestinations(vars map[string]string) []error {
	var errs []error
	var err error
	if c.WebhookHeaders, err = parseHeaders("WEBHOOK_HEADERS", c.WebhookHeadersS); err != nil {
		errs = append(errs, err)
	}
	if c.WebhookURL != "" {
		if err := checkURL("WEBHOOK_URL", c.WebhookURL); err != nil {
			errs = append(errs, err)
		}
		d := Destination{Name: KindWebhook, Kind: KindWebhook, URL: c.WebhookURL,
			Secret: c.WebhookSecret, Headers: c.WebhookHeaders, Template: c.WebhookTemplate, Concurrency: c.WebhookConcurrency}
		if c.WebhookConcurrency < 0 || c.WebhookConcurrency > maxConcurrency {
			errs = append(errs, fmt.Errorf("WEBHOOK_CONCURRENCY: %d is not between 1 and %d", c.WebhookConcurrency, maxConcurrency))
		}
		errs = append(errs, checkWebhook("WEBHOOK_", d)...)
		c.Destinations = append(c.Destinations, d)
	} else if c.WebhookSecret != "" || c.WebhookHeadersS != "" || c.WebhookTemplate != "" {
		errs = append(errs, errors.New("WEBHOOK_SECRET, WEBHOOK_HEADERS or WEBHOOK_TEMPLATE set without WEBHOOK_URL"))
	}
	switch {
	case c.SlackBotToken != "" && c.SlackChannel == "":
		errs = append(errs, errors.New("SLACK_CHANNEL: required when SLACK_BOT_TOKEN is set"))
	case c.SlackBotToken == "" && c.SlackChannel != "":
		errs = append(errs, errors.New("SLACK_BOT_TOKEN: required when SLACK_CHANNEL is set"))
	case c.SlackBotToken != "":
		c.Destinations = append(c.Destinations, Destination{Name: KindSlack, Kind: KindSlack, Token: c.SlackBotToken, Channel: c.SlackChannel})
	}
	if c.SlackWebhookURL != "" {
		if err := checkURL("SLACK_WEBHOOK_URL", c.SlackWebhookURL); err != nil {
			errs = append(errs, err)
		}
		c.Destinations = append(c.Destinations, Destination{Name: KindSlackWebhook, Kind: KindSlackWebhook, URL: c.SlackWebhookURL})
	}

	names, nameErrs := groupNames(vars, destKeyRE, "DEST_", "destination setting (expected DEST_<NAME>_TYPE, _URL, _TOKEN, _CHANNEL, _SECRET, _HEADERS, _TEMPLATE, _CONCURRENCY, _RESEND, _ROUTING_KEY, _API_KEY or a _FILE variant)")
	errs = append(errs, nameErrs...)
	for _, name := range names {
		d, err := loadDestination(name, vars)
		errs = append(errs, err...)
		if d != nil {
			if slices.ContainsFunc(c.Destinations, func(x Destination) bool { return x.Name == d.Name }) {
				errs = append(errs, fmt.Errorf("DEST_%s_TYPE: destination name %q is taken by a built-in destination", name, d.Name))
				continue
			}
			c.Destinations = append(c.Destinations, *d)
		}
	}
	if len(c.Destinations) == 0 {
		c.Destinations = []Destination{{Name: KindStdout, Kind: KindStdout}}
	}
	return errs
}

func loadDestination(name string, vars map[string]string) (*Destination, []error) {
	prefix := "DEST_" + name + "_"
	if !nameRE.MatchString(name) {
		return nil, []error{fmt.Errorf("%sTYPE: destination name %q: use capital letters, digits and _", prefix, name)}
	}
	var de destEnv
	if errs := parseEnv(&de, vars, prefix); len(errs) > 0 {
		return nil, errs
	}
	var errs []error
	var err error
	d := &Destination{Name: strings.ToLower(name), Kind: de.Type, Channel: de.Channel, Template: de.Template, Concurrency: de.Concurrency}
	if raw, err := pickSecret(prefix+"HEADERS", de.Headers, de.HeadersF); err != nil {
		errs = append(errs, err)
	} else if d.Headers, err = parseHeaders(prefix+"HEADERS", raw); err != nil {
		errs = append(errs, err)
	}
	if _, set := vars[prefix+"CONCURRENCY"]; set && (de.Concurrency < 1 || de.Concurrency > maxConcurrency) {
		errs = append(errs, fmt.Errorf("%sCONCURRENCY: %d is not between 1 and %d", prefix, de.Concurrency, maxConcurrency))
	}
	if d.URL, err = pickSecret(prefix+"URL", de.URL, de.URLFile); err != nil {
		errs = append(errs, err)
	}
	if d.Token, err = pickSecret(prefix+"TOKEN", de.Token, de.TokenFile); err != nil {
		errs = append(errs, err)
	}
	if d.Secret, err = pickSecret(prefix+"SECRET", de.Secret, de.SecretFile); err != nil {
		errs = append(errs, err)
	}
	if d.RoutingKey, err = pickSecret(prefix+"ROUTING_KEY", de.RoutingKey, de.RoutingKeyF); err != nil {
		errs = append(errs, err)
	}
	if d.APIKey, err = pickSecret(prefix+"API_KEY", de.APIKey, de.APIKeyF); err != nil {
		errs = append(errs, err)
	}
	d.Resend = de.Resend
	need := func(variable, value string) {
		if value == "" {
			errs = append(errs, fmt.Errorf("%s%s: required for a %s destination", prefix, variable, d.Kind))
		}
	}
	switch d.Kind {
	case KindWebhook, KindSlackWebhook:
		need("URL", d.URL)
		if d.URL != "" {
			if err := checkURL(prefix+"URL", d.URL); err != nil {
				errs = append(errs, err)
			}
		}
		if d.Kind == KindWebhook {
			errs = append(errs, checkWebhook(prefix, *d)...)
		}
	case KindSlack:
		need("TOKEN", d.Token)
		need("CHANNEL", d.Channel)
	case KindShoutrrr:
		need("URL", d.URL)
		if d.URL != "" {
			if err := shoutrrr.Check(d.URL); err != nil {
				errs = append(errs, fmt.Errorf("%sURL: %w", prefix, err))
			}
		}
	case KindAlertmanager:
		need("URL", d.URL)
		for i, u := range strings.Split(d.URL, ",") {
			u = strings.TrimSpace(u)
			if err := checkURL(fmt.Sprintf("%sURL (member %d)", prefix, i+1), u); err != nil {
				errs = append(errs, err)
				continue
			}
			d.URLs = append(d.URLs, u)
		}
		if d.Resend <= 0 {
			errs = append(errs, fmt.Errorf("%sRESEND: must be more than 0 (Alertmanager resolves an alert that is not sent again within its resolve_timeout)", prefix))
		}
	case KindPagerDuty:
		need("ROUTING_KEY", d.RoutingKey)
		if d.RoutingKey != "" && !routingKeyRE.MatchString(d.RoutingKey) {
			errs = append(errs, fmt.Errorf("%sROUTING_KEY: not an Events API v2 integration key (32 letters and digits; the value is not shown)", prefix))
		}
		if d.URL == "" {
			d.URL = pagerduty.DefaultURL
		} else if err := checkURL(prefix+"URL", d.URL); err != nil {
			errs = append(errs, err)
		}
	case KindOpsgenie:
		need("API_KEY", d.APIKey)
		if d.APIKey != "" && strings.ContainsFunc(d.APIKey, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
			errs = append(errs, fmt.Errorf("%sAPI_KEY: holds a space or control character (the value is not shown)", prefix))
		}
		if d.URL == "" {
			d.URL = opsgenie.DefaultURL
		} else if err := checkURL(prefix+"URL", d.URL); err != nil {
			errs = append(errs, err)
		}
	case KindStdout:
	case "":
		errs = append(errs, fmt.Errorf("%sTYPE: required (one of %s)", prefix, strings.Join(destKinds, ", ")))
	default:
		errs = append(errs, fmt.Errorf("%sTYPE: %q is not one of %s", prefix, d.Kind, strings.Join(destKinds, ", ")))
	}
	if d.Kind != KindPagerDuty && d.RoutingKey != "" {
		errs = append(errs, fmt.Errorf("%sROUTING_KEY: only a pagerduty destination has one", prefix))
	}
	if d.Kind != KindOpsgenie && d.APIKey != "" {
		errs = append(errs, fmt.Errorf("%sAPI_KEY: only an opsgenie destination has one", prefix))
	}
	if _, set := vars[prefix+"RESEND"]; set && d.Kind != KindAlertmanager {
		errs = append(errs, fmt.Errorf("%sRESEND: only an alertmanager destination re-sends", prefix))
	}
	return d, errs
}

// routingKeyRE is a PagerDuty integration (routing) key.
var routingKeyRE = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

// loadRules reads the default rules (unless DEFAULT_RULES=false) and every
// RULE_<NAME>_*; a rule named like a default one changes or replaces it.
func (c *Config) loadRules(vars map[string]string) []error {
	var errs []error
	var specs []rules.Spec
	if c.DefaultRules {
		specs = rules.Defaults()
	}
	for i := range specs {
		specs[i].GroupWindow = defaultGroupWindow
	}
	names, nameErrs := groupNames(vars, ruleKeyRE, "RULE_", "rule setting (expected RULE_<NAME>_WHEN, _NOTIFY, _TEMPLATE, _ENABLED, _GROUP_WINDOW, _COOLDOWN, _SEVERITY or _FOR)")
	errs = append(errs, nameErrs...)
	for _, name := range names {
		prefix := "RULE_" + name + "_"
		if !nameRE.MatchString(name) {
			errs = append(errs, fmt.Errorf("%sWHEN: rule name %q: use capital letters, digits and _", prefix, name))
			continue
		}
		var re ruleEnv
		if perrs := parseEnv(&re, vars, prefix); len(perrs) > 0 {
			errs = append(errs, perrs...)
			continue
		}
		i := slices.IndexFunc(specs, func(s rules.Spec) bool { return s.Name == name })
		if i < 0 {
			specs = append(specs, rules.Spec{Name: name, GroupWindow: defaultGroupWindow})
			i = len(specs) - 1
		}
		s := &specs[i]
		if re.When != "" {
			s.When = re.When
		}
		if re.Template != "" {
			s.Template = re.Template
		}
		s.Enabled = re.Enabled
		s.Cooldown = re.Cooldown
		if re.GroupWindow != nil {
			s.GroupWindow = *re.GroupWindow
		}
		if s.GroupWindow < 0 {
			errs = append(errs, fmt.Errorf("%sGROUP_WINDOW: must not be negative", prefix))
		}
		if s.Cooldown < 0 {
			errs = append(errs, fmt.Errorf("%sCOOLDOWN: must not be negative", prefix))
		}
		if re.For != nil {
			s.For = *re.For
		}
		if s.For < 0 {
			errs = append(errs, fmt.Errorf("%sFOR: must not be negative", prefix))
		}
		if re.Severity != "" {
			if !notify.ValidSeverity(re.Severity) {
				errs = append(errs, fmt.Errorf("%sSEVERITY: %q is not one of %s", prefix, re.Severity, strings.Join(notify.Severities, ", ")))
			} else {
				if c.RuleSeverity == nil {
					c.RuleSeverity = map[string]string{}
				}
				c.RuleSeverity[name] = re.Severity
			}
		}
		for _, d := range re.Notify {
			d = strings.ToLower(strings.TrimSpace(d))
			if !slices.ContainsFunc(c.Destinations, func(x Destination) bool { return x.Name == d }) {
				errs = append(errs, fmt.Errorf("%sNOTIFY: no destination named %q (configured: %s)", prefix, d, strings.Join(c.DestinationNames(), ", ")))
				continue
			}
			s.Notify = append(s.Notify, d)
		}
	}
	c.Rules = specs
	if _, err := rules.Compile(specs); err != nil {
		errs = append(errs, err)
	}
	return errs
}

// DestinationNames lists the destinations in order.
func (c *Config) DestinationNames() []string {
	names := make([]string, len(c.Destinations))
	for i, d := range c.Destinations {
		names[i] = d.Name
	}
	return names
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

package main

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// badValues gives every variable of config.example.env a wrong value (and
// what it needs beside it to be read at all). validate must refuse each
// with exit 2, naming the variable, and run must refuse it the same way
// before it starts anything.
var badValues = map[string][]string{
	"ACTIONS_ALLOWED_CHANNELS":   {"ACTIONS_ALLOWED_CHANNELS=#ops"},
	"ACTIONS_ALLOWED_GROUPS":     {"ACTIONS_ALLOWED_GROUPS=S0123456"},
	"ACTIONS_ALLOWED_TEAMS":      {"ACTIONS_ALLOWED_TEAMS=acme"},
	"ACTIONS_ALLOWED_USERS":      {"ACTIONS_ALLOWED_USERS=@bob"},
	"ACTIONS_AUDIT_CHANNEL":      {"ACTIONS_AUDIT_CHANNEL=#audit"},
	"ACTIONS_BUTTON_TTL":         {"ACTIONS_BUTTON_TTL=soon"},
	"ACTIONS_CONTAINERS":         {"ACTIONS_CONTAINERS=frobnicate:web-*"},
	"ACTIONS_RATE_PER_MINUTE":    {"ACTIONS_RATE_PER_MINUTE=0"},
	"ACTIONS_READ_USERS":         {"ACTIONS_READ_USERS=@carol"},
	"ACTIONS_TIMEOUT":            {"ACTIONS_TIMEOUT=0s"},
	"CRASHLOOP_DEATHS":           {"CRASHLOOP_DEATHS=many"},
	"CRASHLOOP_QUIET":            {"CRASHLOOP_QUIET=-1m"},
	"CRASHLOOP_WINDOW":           {"CRASHLOOP_WINDOW=0s"},
	"DEFAULT_RULES":              {"DEFAULT_RULES=perhaps"},
	"DEST_OPS_CHANNEL":           {"DEST_OPS_TYPE=slack", "DEST_OPS_TOKEN=xoxb-1"},
	"DEST_OPS_TOKEN":             {"DEST_OPS_TYPE=slack", "DEST_OPS_CHANNEL=C1"},
	"DEST_OPS_TOKEN_FILE":        {"DEST_OPS_TYPE=slack", "DEST_OPS_CHANNEL=C1", "DEST_OPS_TOKEN_FILE=/nonexistent/token"},
	"DEST_OPS_TYPE":              {"DEST_OPS_TYPE=pager"},
	"DEST_PAGER_HEADERS":         {"DEST_PAGER_TYPE=webhook", "DEST_PAGER_URL=http://127.0.0.1:1/", "DEST_PAGER_HEADERS=novalue"},
	"DEST_PAGER_SECRET":          {"DEST_PAGER_TYPE=webhook", "DEST_PAGER_URL=http://127.0.0.1:1/", "DEST_PAGER_SECRET=whsec_not*base64"},
	"DEST_PAGER_SECRET_FILE":     {"DEST_PAGER_TYPE=webhook", "DEST_PAGER_URL=http://127.0.0.1:1/", "DEST_PAGER_SECRET_FILE=/nonexistent/secret"},
	"DEST_PAGER_TEMPLATE":        {"DEST_PAGER_TYPE=webhook", "DEST_PAGER_URL=http://127.0.0.1:1/", "DEST_PAGER_TEMPLATE={{.name"},
	"DEST_PAGER_TYPE":            {"DEST_PAGER_TYPE=carrier-pigeon"},
	"DEST_PAGER_URL":             {"DEST_PAGER_TYPE=webhook", "DEST_PAGER_URL=ftp://127.0.0.1/"},
	"DEST_PAGER_URL_FILE":        {"DEST_PAGER_TYPE=webhook", "DEST_PAGER_URL_FILE=/nonexistent/url"},
	"DOCKER_HOST":                {"DOCKER_HOST=docker.example:2375"},
	"DOCKER_CERT_PATH":           {"DOCKER_TLS_VERIFY=1", "DOCKER_CERT_PATH=/nonexistent/certs"},
	"DOCKER_TLS_VERIFY":          {"DOCKER_CERT_PATH=$CERTS"}, // a cert path, unverified
	"DOCKER_WEB1_CERT_PATH":      {"DOCKER_HOSTS=web1=tcp://127.0.0.1:2376", "DOCKER_WEB1_CERT_PATH=/nonexistent/certs"},
	"DOCKER_HOSTS":               {"DOCKER_HOSTS=web1=docker.example:2375"},
	"EVENT_QUEUE_SIZE":           {"EVENT_QUEUE_SIZE=2000000000"}, // run would die of out-of-memory
	"DOCKER_CONFIG":              {"DOCKER_TLS_VERIFY=1", "DOCKER_CONFIG=/nonexistent/docker"},
	"HOST_NAME":                  {"DOCKER_HOSTS=web1=unix:///nonexistent.sock", "HOST_NAME=main"},
	"WEBHOOK_HEADERS_FILE":       {"WEBHOOK_URL=http://127.0.0.1:1/", "WEBHOOK_HEADERS_FILE=/nonexistent/headers"},
	"DEST_PAGER_HEADERS_FILE":    {"DEST_PAGER_TYPE=webhook", "DEST_PAGER_URL=http://127.0.0.1:1/", "DEST_PAGER_HEADERS_FILE=/nonexistent/headers"},
	"WEBHOOK_CONCURRENCY":        {"WEBHOOK_URL=http://127.0.0.1:1/", "WEBHOOK_CONCURRENCY=65"},
	"DEST_PAGER_CONCURRENCY":     {"DEST_PAGER_TYPE=webhook", "DEST_PAGER_URL=http://127.0.0.1:1/", "DEST_PAGER_CONCURRENCY=0"},
	"PPROF":                      {"PPROF=sure"},
	"STATUS_PAGE":                {"STATUS_PAGE=maybe"},
	"HTTP_AUTH_TOKEN":            {"STATUS_PAGE=true", "HTTP_ADDR=0.0.0.0:0"}, // reachable by others, no token
	"HTTP_AUTH_TOKEN_FILE":       {"HTTP_AUTH_TOKEN_FILE=/nonexistent/token"},
	"EVIDENCE_LOG_LINES":         {"EVIDENCE_LOG_LINES=5000"},
	"EVIDENCE_TIMEOUT":           {"EVIDENCE_TIMEOUT=0s"},
	"LINK_TEMPLATE":              {"LINK_TEMPLATE=https://x/{{.Nmae}}"},
	"RESOLVE_AFTER":              {"RESOLVE_AFTER=0s"},
	"WATCH_BY_DEFAULT":           {"WATCH_BY_DEFAULT=sometimes"},
	"DEST_AM_TYPE":               {"DEST_AM_TYPE=alertmanger"},
	"DEST_AM_URL":                {"DEST_AM_TYPE=alertmanager", "DEST_AM_URL=http://127.0.0.1:1,am2:9093"},
	"DEST_AM_HEADERS":            {"DEST_AM_TYPE=alertmanager", "DEST_AM_URL=http://127.0.0.1:1", "DEST_AM_HEADERS=Authorization Bearer t0ken"},
	"DEST_AM_RESEND":             {"DEST_AM_TYPE=alertmanager", "DEST_AM_URL=http://127.0.0.1:1", "DEST_AM_RESEND=0s"},
	"DEST_PD_TYPE":               {"DEST_PD_TYPE=pager-duty"},
	"DEST_PD_ROUTING_KEY":        {"DEST_PD_TYPE=pagerduty", "DEST_PD_ROUTING_KEY=not-a-key-hunter2"},
	"DEST_PD_ROUTING_KEY_FILE":   {"DEST_PD_TYPE=pagerduty", "DEST_PD_ROUTING_KEY_FILE=/nonexistent/key"},
	"DEST_PD_URL":                {"DEST_PD_TYPE=pagerduty", "DEST_PD_ROUTING_KEY=R0123456789abcdef0123456789abcde", "DEST_PD_URL=events.pagerduty.com"},
	"DEST_OG_TYPE":               {"DEST_OG_TYPE=ops-genie"},
	"DEST_OG_API_KEY":            {"DEST_OG_TYPE=opsgenie", "DEST_OG_API_KEY=hunter2 with spaces"},
	"DEST_OG_API_KEY_FILE":       {"DEST_OG_TYPE=opsgenie", "DEST_OG_API_KEY_FILE=/nonexistent/key"},
	"DEST_OG_URL":                {"DEST_OG_TYPE=opsgenie", "DEST_OG_API_KEY=k", "DEST_OG_URL=api.eu.opsgenie.com"},
	"RULE_WEB_DOWN_SEVERITY":     {"RULE_WEB_DOWN_WHEN=true", "RULE_WEB_DOWN_SEVERITY=urgent"},
	"HEARTBEAT_URL":              {"HEARTBEAT_URL=hc-ping.com/secret-uuid"},
	"HEARTBEAT_URL_FILE":         {"HEARTBEAT_URL_FILE=/nonexistent/url"},
	"HEARTBEAT_INTERVAL":         {"HEARTBEAT_URL=http://127.0.0.1:1/ping", "HEARTBEAT_INTERVAL=0s"},
	"HEARTBEAT_FAIL":             {"HEARTBEAT_FAIL=true"},
	"DEST_NTFY_TYPE":             {"DEST_NTFY_TYPE=shoutrr"},
	"DEST_NTFY_URL":              {"DEST_NTFY_TYPE=shoutrrr", "DEST_NTFY_URL=carrierpigeon://coop/1"},
	"DEST_NTFY_URL_FILE":         {"DEST_NTFY_TYPE=shoutrrr", "DEST_NTFY_URL_FILE=/nonexistent/url"},
	"DEST_MAIL_TYPE":             {"DEST_MAIL_TYPE=email"},
	"DEST_MAIL_URL":              {"DEST_MAIL_TYPE=shoutrrr", "DEST_MAIL_URL=smtp://user:hunter2@mail.example:587/"},
	"HTTP_ADDR":                  {"HTTP_ADDR=::nope"},
	"LOG_FORMAT":                 {"LOG_FORMAT=xml"},
	"LOG_LEVEL":                  {"LOG_LEVEL=loud"},
	"NOTIFY_QUEUE_SIZE":          {"NOTIFY_QUEUE_SIZE=2000000000"},
	"NOTIFY_RETRY_FOR":           {"NOTIFY_RETRY_FOR=a while"},
	"NOTIFY_TIMEOUT":             {"NOTIFY_TIMEOUT=0s"},
	"RULE_WEB_DOWN_COOLDOWN":     {"RULE_WEB_DOWN_WHEN=true", "RULE_WEB_DOWN_COOLDOWN=-1s"},
	"RULE_MEMORY_HIGH_FOR":       {"RULE_MEMORY_HIGH_FOR=-1s"},
	"STATS_INTERVAL":             {"STATS_INTERVAL=500ms"},
	"STATS_CONCURRENCY":          {"STATS_CONCURRENCY=100"},
	"RULE_WEB_DOWN_ENABLED":      {"RULE_WEB_DOWN_WHEN=true", "RULE_WEB_DOWN_ENABLED=perhaps"},
	"RULE_WEB_DOWN_GROUP_WINDOW": {"RULE_WEB_DOWN_WHEN=true", "RULE_WEB_DOWN_GROUP_WINDOW=long"},
	"RULE_WEB_DOWN_NOTIFY":       {"RULE_WEB_DOWN_WHEN=true", "RULE_WEB_DOWN_NOTIFY=nowhere"},
	"RULE_WEB_DOWN_TEMPLATE":     {"RULE_WEB_DOWN_WHEN=true", "RULE_WEB_DOWN_TEMPLATE={{.Name"},
	"RULE_WEB_DOWN_WHEN":         {"RULE_WEB_DOWN_WHEN=Nmae == 1"},
	"SHUTDOWN_TIMEOUT":           {"SHUTDOWN_TIMEOUT=-1s"},
	"SLACK_API_URL":              {"SLACK_API_URL=ftp://slack.example/api/"},
	"SLACK_APP_TOKEN":            {"SLACK_BOT_TOKEN=xoxb-1", "SLACK_CHANNEL=C1", "SLACK_APP_TOKEN=xoxb-2"},
	"SLACK_APP_TOKEN_FILE":       {"SLACK_APP_TOKEN_FILE=/nonexistent/token"},
	"SLACK_BOT_TOKEN":            {"SLACK_BOT_TOKEN=hunter2", "SLACK_CHANNEL=C1"},
	"SLACK_BOT_TOKEN_FILE":       {"SLACK_BOT_TOKEN_FILE=/nonexistent/token"},
	"SLACK_CHANNEL":              {"SLACK_BOT_TOKEN=xoxb-1", "SLACK_CHANNEL=alerts channel"},
	"SLACK_COMMAND":              {"SLACK_COMMAND=docker"},
	"SLACK_RATE_PER_SECOND":      {"SLACK_RATE_PER_SECOND=0"},
	"SLACK_SIGNING_SECRET":       {"SLACK_SIGNING_SECRET=short"},
	"SLACK_SIGNING_SECRET_FILE":  {"SLACK_SIGNING_SECRET_FILE=/nonexistent/secret"},
	"SLACK_WEBHOOK_URL":          {"SLACK_WEBHOOK_URL=hooks.slack.example/x"},
	"SWARM_EVENTS":               {"SWARM_EVENTS=everywhere"},
	"SSH_CONFIG":                 {"SSH_CONFIG=/nonexistent/ssh_config"},
	"SLACK_WEBHOOK_URL_FILE":     {"SLACK_WEBHOOK_URL_FILE=/nonexistent/url"},
	"STATE_DIR":                  {"STATE_DIR=/etc/passwd"},
	"WEBHOOK_HEADERS":            {"WEBHOOK_URL=http://127.0.0.1:1/", "WEBHOOK_HEADERS=novalue"},
	"WEBHOOK_SECRET":             {"WEBHOOK_URL=http://127.0.0.1:1/", "WEBHOOK_SECRET=whsec_not*base64"},
	"WEBHOOK_SECRET_FILE":        {"WEBHOOK_SECRET_FILE=/nonexistent/secret"},
	"WEBHOOK_TEMPLATE":           {"WEBHOOK_URL=http://127.0.0.1:1/", "WEBHOOK_TEMPLATE={\"text\": {{.summary}}"},
	"WEBHOOK_URL":                {"WEBHOOK_URL=ftp://127.0.0.1/"},
	"WEBHOOK_URL_FILE":           {"WEBHOOK_URL_FILE=/nonexistent/url"},
}

// freeText are variables no value of which is wrong.
var freeText = map[string]string{
	"LABELS_SHOWN": "any label keys",
}

// Refusals that need more than one variable wrong: validate and run
// both refuse them with exit 2, naming the variables.
func TestCombinationsRefusedByValidateAndRun(t *testing.T) {
	emptyHome := t.TempDir()
	for _, tc := range []struct {
		env  []string
		want []string
	}{
		// Without certificates, the Docker client would talk plain TCP.
		{[]string{"DOCKER_HOST=tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY=1", "HOME=" + emptyHome}, []string{"DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH"}},
		{[]string{"DOCKER_HOST=ssh://web1/some/path"}, []string{"DOCKER_HOST"}},
		{[]string{"DOCKER_HOSTS=a=unix:///x.sock", "HOST_NAME=main"}, []string{"HOST_NAME", "DOCKER_HOSTS"}},
		{[]string{"ACTIONS_RATE_PER_MINUTE=1000000"}, []string{"ACTIONS_RATE_PER_MINUTE"}},
		{[]string{"CRASHLOOP_DEATHS=-3"}, []string{"CRASHLOOP_DEATHS"}},
	} {
		for _, cmd := range []string{"validate", "run"} {
			var stdout, stderr bytes.Buffer
			env := append(slices.Clone(tc.env), "HTTP_ADDR=off")
			var code int
			if cmd == "validate" {
				code = validate(env, &stdout, &stderr)
			} else {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				code = watch(ctx, env, &stdout, &stderr)
				cancel()
			}
			if code != exitBadConfig {
				t.Errorf("%s %v: exit %d, want 2:\n%s%s", cmd, env, code, stdout.String(), stderr.String())
			}
			for _, want := range tc.want {
				if !strings.Contains(stderr.String(), want) {
					t.Errorf("%s %v: the error does not name %s:\n%s", cmd, env, want, stderr.String())
				}
			}
		}
	}
}

func TestEveryBadVariableIsRefusedByValidateAndRun(t *testing.T) {
	example, err := os.ReadFile("config.example.env")
	if err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`(?m)^#? ?([A-Z][A-Z0-9_]+)=`).FindAllStringSubmatch(string(example), -1)
	var names []string
	for _, m := range vars {
		if !slices.Contains(names, m[1]) {
			names = append(names, m[1])
		}
	}
	certs := t.TempDir() // TLS files that exist, for the cases that need them
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(certs, f), []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		env, ok := badValues[name]
		if !ok {
			if _, free := freeText[name]; !free {
				t.Errorf("%s is in config.example.env but has no bad value in this test", name)
			}
			continue
		}
		for _, cmd := range []string{"validate", "run"} {
			var stdout, stderr bytes.Buffer
			env := append(slices.Clone(env), "HTTP_ADDR="+httpAddrOf(env))
			for i := range env {
				env[i] = strings.ReplaceAll(env[i], "$CERTS", certs)
			}
			var code int
			if cmd == "validate" {
				code = validate(env, &stdout, &stderr)
			} else {
				// A run that got past the checks would watch until this ends.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				code = watch(ctx, env, &stdout, &stderr)
				cancel()
			}
			if code != exitBadConfig || !strings.Contains(stderr.String(), name) {
				t.Errorf("%s %v: exit %d, want 2 naming %s:\n%s%s", cmd, env, code, name, stdout.String(), stderr.String())
			}
			if strings.Contains(stderr.String(), "starting") {
				t.Errorf("run %v: started before refusing:\n%s", env, stderr.String())
			}
		}
	}
}

// httpAddrOf keeps a test's own HTTP_ADDR, else turns the endpoints off
// (a run that wrongly got past the checks must not take a port).
func httpAddrOf(env []string) string {
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "HTTP_ADDR="); ok {
			return v
		}
	}
	return "off"
}

// Every fuzz target is run by the test script, so CI fuzzes it.
func TestEveryFuzzTargetRunsInCI(t *testing.T) {
	script, err := os.ReadFile("scripts/test.sh")
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, "_test.go") {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, m := range regexp.MustCompile(`(?m)^func (Fuzz\w+)\(`).FindAllStringSubmatch(string(src), -1) {
			if want := "./" + filepath.Dir(path) + ":" + m[1]; !strings.Contains(string(script), want) {
				t.Errorf("%s is not fuzzed by scripts/test.sh (add %s)", m[1], want)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// validate's plan says how each daemon is reached: TLS verified with
// which files, ssh, or plain TCP (warned about).
func TestValidateSaysHowDaemonsAreReached(t *testing.T) {
	home := t.TempDir()
	certs := filepath.Join(home, ".docker")
	if err := os.MkdirAll(certs, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(certs, f), []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		env  []string
		want []string
	}{
		{[]string{"DOCKER_HOST=tcp://10.0.0.5:2376", "DOCKER_TLS_VERIFY=1", "HOME=" + home}, []string{"tcp://10.0.0.5:2376 (TLS, verified with " + certs + ")"}},
		{[]string{"DOCKER_HOST=tcp://10.0.0.5:2375"}, []string{"tcp://10.0.0.5:2375 (plain TCP, no TLS: anyone on the path is root on the daemon)"}},
		{[]string{"DOCKER_HOST=ssh://ops@10.0.0.7"}, []string{"ssh://ops@10.0.0.7 (ssh, docker system dial-stdio)"}},
		{[]string{}, []string{"the default socket (unix:///var/run/docker.sock)"}},
		{[]string{"DOCKER_HOSTS=b=tcp://10.0.0.6:2375,a=unix:///run/a.sock"}, []string{"  - a: unix:///run/a.sock\n  - b: tcp://10.0.0.6:2375 (plain TCP"}},
	} {
		var stdout, stderr bytes.Buffer
		if code := validate(tc.env, &stdout, &stderr); code != exitOK {
			t.Fatalf("%v: exit %d\n%s", tc.env, code, stderr.String())
		}
		for _, want := range tc.want {
			if !strings.Contains(stdout.String(), want) {
				t.Errorf("%v: plan lacks %q:\n%s", tc.env, want, stdout.String())
			}
		}
	}
}

// validate shows the on-call destinations and the heartbeat, never their secrets.
func TestValidateShowsOnCallDestinations(t *testing.T) {
	var stdout, stderr bytes.Buffer
	code := validate([]string{"DEST_AM_TYPE=alertmanager", "DEST_AM_URL=http://am1:9093,http://user:pw-secret@am2:9093/prefix",
		"DEST_PD_TYPE=pagerduty", "DEST_PD_ROUTING_KEY=Rsecret789abcdef0123456789abcde0",
		"DEST_OG_TYPE=opsgenie", "DEST_OG_API_KEY=og-secret", "HEARTBEAT_URL=https://hc-ping.com/hb-secret", "HEARTBEAT_FAIL=true",
		"RULE_UNHEALTHY_SEVERITY=error"}, &stdout, &stderr)
	out := stdout.String()
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, want := range []string{"am (alertmanager) → cluster of 2: http://am1:9093, http://am2:9093", "pd (pagerduty) → https://events.pagerduty.com/…",
		"og (opsgenie) → https://api.opsgenie.com/…", "heartbeat: every 1m0s while healthy; /fail when not", "UNHEALTHY → all destinations (severity error)"} {
		if !strings.Contains(out, want) {
			t.Errorf("validate does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "secret") {
		t.Errorf("a secret is shown:\n%s", out)
	}
}

// validate says whether containers are sampled for the stats rules, as run decides.
func TestValidateShowsStatsSampling(t *testing.T) {
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{nil, "stats: each running, watched container sampled every 30s (8 at once per host)"},
		{[]string{"RULE_MEMORY_HIGH_FOR=10s", "STATS_INTERVAL=5s"}, "      for 10s\n"},
		{[]string{"STATS_INTERVAL=0"}, "stats: not sampled"},
		{[]string{"RULE_MEMORY_HIGH_ENABLED=false", "RULE_PIDS_HIGH_ENABLED=false"}, "stats: not sampled"},
	} {
		var stdout, stderr bytes.Buffer
		if code := validate(tc.env, &stdout, &stderr); code != exitOK {
			t.Fatalf("%v: exit %d: %s", tc.env, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), tc.want) {
			t.Errorf("%v: plan lacks %q:\n%s", tc.env, tc.want, stdout.String())
		}
	}
}

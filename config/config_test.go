package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/notify/kinds"
)

func TestDefaultsPrintToStdoutWithDefaultRules(t *testing.T) {
	cfg, err := Load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Delivery.Destinations) != 1 || cfg.Delivery.Destinations[0].Kind != kinds.Stdout {
		t.Errorf("destinations = %+v", cfg.Delivery.Destinations)
	}
	var names []string
	for _, r := range cfg.Rules.Specs {
		names = append(names, r.Name)
	}
	if strings.Join(names, ",") != "CRASHED,OOM,UNHEALTHY,NODE_DOWN,SERVICE_ROLLBACK,MEMORY_HIGH,PIDS_HIGH,WHALEWATCH" {
		t.Errorf("rules = %v", names)
	}
	if cfg.HTTP.Addr != "127.0.0.1:9180" || cfg.Slack.APIURL != "https://slack.com/api/" {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestDestinationsAndRouting(t *testing.T) {
	dir := t.TempDir()
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("xoxb-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := Load([]string{
		"WEBHOOK_URL=https://hooks.example/a", "WEBHOOK_SECRET=s", "WEBHOOK_HEADERS=X-A=1,X-B=2",
		"SLACK_BOT_TOKEN_FILE=" + tokenFile, "SLACK_CHANNEL=C1",
		"DEST_OPS_TYPE=slack_webhook", "DEST_OPS_URL=https://hooks.slack.com/services/x",
		"DEST_LOG_TYPE=stdout",
		"RULE_WEB_WHEN=glob(Name, \"web-*\")", "RULE_WEB_NOTIFY=ops, Slack",
		"RULE_UNHEALTHY_ENABLED=false",
		"RULE_CRASHED_NOTIFY=log",
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cfg.DestinationNames(), ","); got != "webhook,slack,log,ops" {
		t.Errorf("destinations = %s", got)
	}
	if cfg.Delivery.Destinations[1].Token != "xoxb-from-file" {
		t.Errorf("token from file = %q", cfg.Delivery.Destinations[1].Token)
	}
	if h := cfg.Delivery.Destinations[0].Headers; h["X-A"] != "1" || h["X-B"] != "2" {
		t.Errorf("headers = %v", h)
	}
	rules := map[string]string{}
	for _, r := range cfg.Rules.Specs {
		rules[r.Name] = strings.Join(r.Notify, "+")
		if r.Name == "UNHEALTHY" && r.Enabled {
			t.Error("UNHEALTHY still enabled")
		}
	}
	if rules["WEB"] != "ops+slack" || rules["CRASHED"] != "log" {
		t.Errorf("routing = %v", rules)
	}
}

func TestBadConfigNamesEveryVariable(t *testing.T) {
	_, err := Load([]string{
		"WEBHOOK_URL=ftp://secret-host/secret-path",
		"SLACK_BOT_TOKEN=xoxb-1",
		"LOG_LEVEL=loud",
		"EVENT_QUEUE_SIZE=many",
		"DEST_X_TYPE=pager",
		"DEST_Y_URL=https://a.example/",
		"DEST_Z_TYPO=1",
		"RULE_A_WHEN=Action ==",
		"RULE_B_NOTIFY=nowhere",
		"RULE_C_WHN=true",
		"RULE_D_ENABLED=maybe",
		"RULE_E_WHEN=Action == \"die\"", "RULE_E_FOR=1m",
		"RULE_MEMORY_HIGH_FOR=-1s",
		"STATS_INTERVAL=100ms", "STATS_CONCURRENCY=0",
		"SLACK_WEBHOOK_URL=https://hooks.slack.com/x", "SLACK_WEBHOOK_URL_FILE=/nonexistent",
	})
	if err == nil {
		t.Fatal("no error")
	}
	msg := err.Error()
	for _, want := range []string{
		"WEBHOOK_URL: not an http(s) URL",
		"SLACK_CHANNEL: required when SLACK_BOT_TOKEN is set",
		"LOG_LEVEL",
		"EVENT_QUEUE_SIZE",
		`DEST_X_TYPE: "pager" is not one of`,
		"DEST_Y_TYPE: required",
		"DEST_Z_TYPO: unknown destination setting",
		"rule A (RULE_A_WHEN)",
		`RULE_B_NOTIFY: no destination named "nowhere"`,
		"RULE_C_WHN: unknown rule setting",
		"RULE_D_ENABLED",
		"SLACK_WEBHOOK_URL_FILE",
		"rule E (RULE_E_FOR): only a rule of stats samples",
		"RULE_MEMORY_HIGH_FOR: must not be negative",
		"STATS_INTERVAL: 100ms is under 1s",
		"STATS_CONCURRENCY: 0 is not between 1 and 64",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q", want)
		}
	}
	for _, secret := range []string{"secret-host", "secret-path", "xoxb-1"} {
		if strings.Contains(msg, secret) {
			t.Errorf("error reveals %q:\n%s", secret, msg)
		}
	}
}

func TestSecretAndFileBothSet(t *testing.T) {
	f := filepath.Join(t.TempDir(), "url")
	_ = os.WriteFile(f, []byte("https://x.example/"), 0o600)
	_, err := Load([]string{"WEBHOOK_URL=https://y.example/", "WEBHOOK_URL_FILE=" + f})
	if err == nil || !strings.Contains(err.Error(), "WEBHOOK_URL and WEBHOOK_URL_FILE are both set") {
		t.Errorf("err = %v", err)
	}
}

func TestDefaultRulesOff(t *testing.T) {
	cfg, err := Load([]string{"DEFAULT_RULES=false", "RULE_MINE_WHEN=true"})
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Rules.Specs) != 1 || cfg.Rules.Specs[0].Name != "MINE" {
		t.Errorf("rules = %+v", cfg.Rules.Specs)
	}
}

// A malformed header names its variable and the header, never the value
// (an Authorization header is a secret); headers also come from _FILE.
func TestHeadersNeverEchoTheirValue(t *testing.T) {
	for _, tc := range []struct {
		desc string
		env  []string
		want string
	}{
		{"colon instead of =", []string{"WEBHOOK_URL=https://h.example/", "WEBHOOK_HEADERS=X-Team=ops,Authorization: Bearer s3cr3t-value"},
			`WEBHOOK_HEADERS: header "Authorization" is not name=value`},
		{"destination", []string{"DEST_PAGER_TYPE=webhook", "DEST_PAGER_URL=https://h.example/", "DEST_PAGER_HEADERS=Authorization Bearer s3cr3t-value"},
			`DEST_PAGER_HEADERS: header "Authorization" is not name=value`},
		{"no name at all", []string{"WEBHOOK_URL=https://h.example/", "WEBHOOK_HEADERS=s3cr3t-value"},
			`WEBHOOK_HEADERS: item 1 is not name=value`},
		{"bad name", []string{"WEBHOOK_URL=https://h.example/", "WEBHOOK_HEADERS=X Token=s3cr3t-value"},
			`WEBHOOK_HEADERS: header "X" is not name=value`},
		{"both set", []string{"WEBHOOK_URL=https://h.example/", "WEBHOOK_HEADERS=A=s3cr3t-value", "WEBHOOK_HEADERS_FILE=" + writeFile(t, "A=s3cr3t-value")},
			"WEBHOOK_HEADERS and WEBHOOK_HEADERS_FILE are both set"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Load(tc.env)
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error lacks %q:\n%v", tc.want, err)
			}
			if strings.Contains(err.Error(), "s3cr3t") {
				t.Errorf("error echoes the value:\n%v", err)
			}
		})
	}
	cfg, err := Load([]string{"WEBHOOK_URL=https://h.example/", "WEBHOOK_HEADERS_FILE=" + writeFile(t, "Authorization=Bearer abc\nX-Team=ops\n"),
		"DEST_PAGER_TYPE=webhook", "DEST_PAGER_URL=https://p.example/", "DEST_PAGER_HEADERS_FILE=" + writeFile(t, "X-Key=k1,X-Other=a=b\n")})
	if err != nil {
		t.Fatal(err)
	}
	if h := cfg.Delivery.Destinations[0].Headers; h["Authorization"] != "Bearer abc" || h["X-Team"] != "ops" || len(h) != 2 {
		t.Errorf("webhook headers = %v", h)
	}
	if h := cfg.Delivery.Destinations[1].Headers; h["X-Key"] != "k1" || h["X-Other"] != "a=b" || len(h) != 2 {
		t.Errorf("pager headers = %v", h)
	}
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	f, err := os.CreateTemp(t.TempDir(), "f")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()
	return f.Name()
}

// What run cannot live with is refused at load, naming the variables:
// sizes that would exhaust memory or disk, a HOST_NAME that DOCKER_HOSTS
// would silently override, TLS verification without certificates.
func TestRefusedLikeRunWouldFail(t *testing.T) {
	emptyHome := t.TempDir()
	for _, tc := range []struct {
		desc string
		env  []string
		want []string
	}{
		{"event queue too big", []string{"EVENT_QUEUE_SIZE=2000000000"}, []string{"EVENT_QUEUE_SIZE: 2000000000 is not between 1 and 1000000"}},
		{"event queue zero", []string{"EVENT_QUEUE_SIZE=0"}, []string{"EVENT_QUEUE_SIZE: 0 is not between 1 and 1000000"}},
		{"notify queue too big", []string{"NOTIFY_QUEUE_SIZE=2000000000"}, []string{"NOTIFY_QUEUE_SIZE: 2000000000 is not between 1 and 1000000"}},
		{"crash loop deaths negative", []string{"CRASHLOOP_DEATHS=-1"}, []string{"CRASHLOOP_DEATHS: -1 is not between 0 and 1000"}},
		{"actions rate too high", []string{"ACTIONS_RATE_PER_MINUTE=100000"}, []string{"ACTIONS_RATE_PER_MINUTE: 100000 is not between 1 and 1000"}},
		{"slack rate too high", []string{"SLACK_RATE_PER_SECOND=1e9"}, []string{"SLACK_RATE_PER_SECOND: must be more than 0 and at most 100"}},
		{"HOST_NAME with DOCKER_HOSTS", []string{"DOCKER_HOSTS=web1=unix:///run/a.sock", "HOST_NAME=main"},
			[]string{"HOST_NAME", "DOCKER_HOSTS", "names each daemon"}},
		{"TLS verify without certificates", []string{"DOCKER_HOST=tcp://127.0.0.1:2376", "DOCKER_TLS_VERIFY=1", "HOME=" + emptyHome},
			[]string{"DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", filepath.Join(emptyHome, ".docker"), "ca.pem"}},
		{"TLS verify, DOCKER_CONFIG without certificates", []string{"DOCKER_TLS_VERIFY=1", "DOCKER_CONFIG=" + emptyHome},
			[]string{"DOCKER_TLS_VERIFY", "DOCKER_CERT_PATH", "DOCKER_CONFIG", emptyHome}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			_, err := Load(tc.env)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range tc.want {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q:\n%v", want, err)
				}
			}
		})
	}
}

// DOCKER_TLS_VERIFY without DOCKER_CERT_PATH reads the TLS files from
// ~/.docker (or DOCKER_CONFIG), as the docker CLI does.
func TestTLSVerifyUsesTheDockerCLIDirectory(t *testing.T) {
	home := t.TempDir()
	certs := filepath.Join(home, ".docker")
	other := t.TempDir()
	for _, dir := range []string{certs, other} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte("pem"), 0o600); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, tc := range []struct {
		env  []string
		want string
	}{
		{[]string{"DOCKER_HOST=tcp://d:2376", "DOCKER_TLS_VERIFY=1", "HOME=" + home}, certs},
		{[]string{"DOCKER_HOST=tcp://d:2376", "DOCKER_TLS_VERIFY=1", "HOME=" + home, "DOCKER_CONFIG=" + other}, other},
		{[]string{"DOCKER_HOST=tcp://d:2376", "DOCKER_TLS_VERIFY=1", "HOME=" + home, "DOCKER_CERT_PATH=" + other}, other},
		{[]string{"DOCKER_HOST=tcp://d:2376", "HOME=" + home}, ""},
	} {
		cfg, err := Load(tc.env)
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		if cfg.Docker.CertPath != tc.want {
			t.Errorf("%v: cert path %q, want %q", tc.env, cfg.Docker.CertPath, tc.want)
		}
	}
}

func TestOnCallDestinations(t *testing.T) {
	cfg, err := Load([]string{
		"DEST_AM_TYPE=alertmanager", "DEST_AM_URL=http://am1:9093, http://am2:9093/", "DEST_AM_RESEND=30s",
		"DEST_PD_TYPE=pagerduty", "DEST_PD_ROUTING_KEY=R0123456789abcdef0123456789abcde",
		"DEST_OG_TYPE=opsgenie", "DEST_OG_API_KEY=eb243592-faa2-4ba2-a551-1afdf565c889", "DEST_OG_URL=https://api.eu.opsgenie.com",
		"RULE_UNHEALTHY_SEVERITY=error", "HEARTBEAT_URL=https://hc-ping.com/uuid", "HEARTBEAT_FAIL=true",
	})
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]kinds.Destination{}
	for _, d := range cfg.Delivery.Destinations {
		byName[d.Name] = d
	}
	if am := byName["am"]; strings.Join(am.URLs, " ") != "http://am1:9093 http://am2:9093/" || am.Resend != 30*time.Second {
		t.Errorf("alertmanager: %+v", am)
	}
	if pd := byName["pd"]; pd.URL != "https://events.pagerduty.com/v2/enqueue" || pd.RoutingKey == "" {
		t.Errorf("pagerduty: %+v", pd)
	}
	if og := byName["og"]; og.URL != "https://api.eu.opsgenie.com" || og.APIKey == "" {
		t.Errorf("opsgenie: %+v", og)
	}
	if cfg.Severity("UNHEALTHY") != "error" || cfg.Severity("CRASHED") != "critical" || cfg.Severity("WHALEWATCH") != "warning" {
		t.Errorf("severities: %v", cfg.Rules.Severity)
	}
	if cfg.Heartbeat.Interval != time.Minute || !cfg.Heartbeat.Fail {
		t.Errorf("heartbeat: %v %v", cfg.Heartbeat.Interval, cfg.Heartbeat.Fail)
	}
}

func TestOnCallSecretsAreNeverEchoed(t *testing.T) {
	for _, env := range [][]string{
		{"DEST_PD_TYPE=pagerduty", "DEST_PD_ROUTING_KEY=hunter2-routing"},
		{"DEST_OG_TYPE=opsgenie", "DEST_OG_API_KEY=hunter2 api"},
		{"HEARTBEAT_URL=hc-ping.com/hunter2-uuid"},
		{"DEST_WH_TYPE=webhook", "DEST_WH_URL=http://127.0.0.1:1/", "DEST_WH_ROUTING_KEY=hunter2-wrong-kind"},
	} {
		_, err := Load(env)
		if err == nil || strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: %v", env, err)
		}
	}
}

// The status page on an address other machines reach needs a token; the
// error names both variables and never echoes the token.
func TestStatusPageNeedsATokenOffLoopback(t *testing.T) {
	dir := t.TempDir()
	tokenFile := dir + "/token"
	if err := os.WriteFile(tokenFile, []byte("hunter2-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  []string
		want string // "" means accepted
	}{
		{[]string{"STATUS_PAGE=true"}, ""}, // 127.0.0.1:9180
		{[]string{"STATUS_PAGE=true", "HTTP_ADDR=localhost:9180"}, ""},
		{[]string{"STATUS_PAGE=true", "HTTP_ADDR=[::1]:9180"}, ""},
		{[]string{"HTTP_ADDR=:9180"}, ""}, // no page: no token needed
		{[]string{"STATUS_PAGE=true", "HTTP_ADDR=:9180"}, "HTTP_AUTH_TOKEN: not set, but STATUS_PAGE=true on HTTP_ADDR \":9180\""},
		{[]string{"STATUS_PAGE=true", "HTTP_ADDR=0.0.0.0:9180"}, "HTTP_AUTH_TOKEN_FILE"},
		{[]string{"STATUS_PAGE=true", "HTTP_ADDR=whalewatch.lan:9180"}, "HTTP_AUTH_TOKEN: not set"},
		{[]string{"STATUS_PAGE=true", "HTTP_ADDR=:9180", "HTTP_AUTH_TOKEN=hunter2-0123456789abcdef"}, ""},
		{[]string{"STATUS_PAGE=true", "HTTP_ADDR=:9180", "HTTP_AUTH_TOKEN_FILE=" + tokenFile}, ""},
		{[]string{"STATUS_PAGE=true", "HTTP_ADDR=:9180", "HTTP_AUTH_TOKEN=hunter2"}, "HTTP_AUTH_TOKEN: is 7 characters"},
		{[]string{"HTTP_AUTH_TOKEN=hunter2-x", "HTTP_AUTH_TOKEN_FILE=" + tokenFile}, "HTTP_AUTH_TOKEN and HTTP_AUTH_TOKEN_FILE are both set"},
		{[]string{"STATUS_PAGE=true", "HTTP_ADDR=off"}, "HTTP_ADDR: is off, but STATUS_PAGE=true"},
		{[]string{"HTTP_ADDR=" + strings.Repeat("a", 253) + ":9180"}, ""},
		{[]string{"HTTP_ADDR=" + strings.Repeat("a", 254) + ":9180"}, "is not an IP address or host name"},
	} {
		cfg, err := Load(tc.env)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: %v, want %q", tc.env, err, tc.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%v: the token is echoed: %v", tc.env, err)
		case err == nil && slices.Contains(tc.env, "HTTP_AUTH_TOKEN_FILE="+tokenFile) && cfg.HTTP.AuthToken != "hunter2-0123456789abcdef":
			t.Errorf("token from the file: %q", cfg.HTTP.AuthToken)
		}
	}
}

func TestStatsRuleFor(t *testing.T) {
	cfg, err := Load([]string{"RULE_MEMORY_HIGH_FOR=5s", "STATS_INTERVAL=1s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range cfg.Rules.Specs {
		if want := map[string]time.Duration{"MEMORY_HIGH": 5 * time.Second, "PIDS_HIGH": 2 * time.Minute}[r.Name]; r.For != want {
			t.Errorf("%s: FOR %s, want %s", r.Name, r.For, want)
		}
	}
	if cfg.Stats.Interval != time.Second || cfg.Stats.Concurrency != 8 {
		t.Errorf("stats: %s, %d", cfg.Stats.Interval, cfg.Stats.Concurrency)
	}
}

// The parts share Go field names (Timeout, Concurrency, Interval): a value
// that does not parse is still named by its own variable.
func TestParseErrorsNameTheirVariable(t *testing.T) {
	for _, v := range []string{"EVIDENCE_TIMEOUT", "NOTIFY_TIMEOUT", "ACTIONS_TIMEOUT", "STATS_INTERVAL",
		"HEARTBEAT_INTERVAL", "STATS_CONCURRENCY", "WEBHOOK_CONCURRENCY"} {
		_, err := Load([]string{v + "=soon"})
		if err == nil || !strings.HasPrefix(err.Error(), v+": ") {
			t.Errorf("%s=soon: %v", v, err)
		}
	}
}

// SLACK_CHANNEL is an ID or a #name of at most 80 characters, as Slack
// allows.
func TestSlackChannelNames(t *testing.T) {
	for channel, ok := range map[string]bool{
		"C0123ABCD": true, "#ops": true, "#" + strings.Repeat("a", 80): true,
		"#" + strings.Repeat("a", 81): false, "#Ops": false, "ops": false, "#-ops": false,
	} {
		_, err := Load([]string{"SLACK_BOT_TOKEN=xoxb-1-2", "SLACK_CHANNEL=" + channel})
		if got := err == nil || !strings.Contains(err.Error(), "SLACK_CHANNEL"); got != ok {
			t.Errorf("SLACK_CHANNEL=%s: %v", channel, err)
		}
	}
}

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/internal/slackstub"
	"github.com/whalewatch/whalewatch/internal/testdocker"
)

var binary string

// moduleRoot is where the module's own files are (the Dockerfile, the
// stack file): these tests run in e2e/.
const moduleRoot = ".."

// TestMain builds the real binary: these tests run whalewatch as a user does.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "whalewatch-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "whalewatch")
	if out, err := exec.Command("go", "build", "-o", binary, "github.com/whalewatch/whalewatch").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is a running whalewatch.
type proc struct {
	cmd    *exec.Cmd
	mu     sync.Mutex
	stdout []string
	stderr strings.Builder
	done   chan struct{}
}

func (p *proc) lines() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.stdout...)
}

func (p *proc) logs() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stderr.String()
}

// start runs whalewatch with env (plus DOCKER_HOST and a free HTTP port)
// and waits until its event stream is open.
func start(t *testing.T, env ...string) *proc {
	t.Helper()
	p := launch(t, env...)
	// The stream starts at the daemon's clock before the container list
	// (or at the saved cursor): whatever the test does from now on comes
	// on it, even before the subscription reaches the daemon.
	eventually(t, "event stream open", 15*time.Second, func() bool {
		return strings.Contains(p.logs(), "docker event stream open") || strings.Contains(p.logs(), "docker event stream restored")
	})
	return p
}

// launch runs whalewatch with env (plus DOCKER_HOST and a free HTTP port);
// it stops when the test ends.
func launch(t *testing.T, env ...string) *proc {
	t.Helper()
	p := &proc{cmd: exec.Command(binary), done: make(chan struct{})}
	p.cmd.Env = []string{"DOCKER_HOST=" + os.Getenv("DOCKER_HOST"), "HTTP_ADDR=127.0.0.1:0", "PATH=" + os.Getenv("PATH")}
	p.cmd.Env = append(p.cmd.Env, env...)
	stdout, _ := p.cmd.StdoutPipe()
	stderr, _ := p.cmd.StderrPipe()
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.mu.Lock()
			p.stdout = append(p.stdout, sc.Text())
			p.mu.Unlock()
			announce()
		}
	})
	wg.Go(func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			p.mu.Lock()
			p.stderr.WriteString(sc.Text() + "\n")
			p.mu.Unlock()
			announce()
		}
	})
	go func() { wg.Wait(); _ = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-p.done:
		case <-time.After(15 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("whalewatch log:\n%s", p.logs())
		}
	})
	return p
}

// news wakes the waits of eventually whenever a recorder of this package
// (the bot's output, a sink, a stub) takes something in, so a wait ends
// as soon as what it waits for arrives.
var news = struct {
	sync.Mutex
	ch chan struct{}
}{ch: make(chan struct{})}

// announce tells every wait that something arrived.
func announce() {
	news.Lock()
	close(news.ch)
	news.ch = make(chan struct{})
	news.Unlock()
}

func nextNews() <-chan struct{} {
	news.Lock()
	defer news.Unlock()
	return news.ch
}

// eventually waits until cond holds: it looks again at each arrival
// (announce), and every 100 ms for what no recorder here announces (a
// daemon's state, an HTTP endpoint, the Slack stub).
func eventually(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	recheck := time.NewTicker(100 * time.Millisecond)
	defer recheck.Stop()
	for {
		arrived := nextNews() // before looking, so that nothing is missed
		if cond() {
			return
		}
		select {
		case <-arrived:
		case <-recheck.C:
		case <-deadline.C:
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
	}
}

// The README's run command with no configuration: a crash is printed on stdout.
func TestRunWithoutConfigPrintsCrashes(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	p := start(t, ungrouped()...)
	crash := testdocker.Run(t, c, testdocker.Spec{Name: "stdout-crash", Args: []string{"exit", "3"}})
	began := time.Now()
	var line string
	eventually(t, "stdout line", 10*time.Second, func() bool {
		for _, l := range p.lines() {
			if strings.Contains(l, crash.Name) {
				line = l
				return true
			}
		}
		return false
	})
	t.Logf("printed %s after the container started: %s", time.Since(began).Round(time.Millisecond), line)
	for _, want := range []string{"[CRASHED]", "container " + crash.Name + " died: exit code 3 (application error)", `image="whalewatch-test/testprog:latest"`, "host="} {
		if !strings.Contains(line, want) {
			t.Errorf("line lacks %q: %s", want, line)
		}
	}

	base := "http://" + p.httpAddr(t)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		if body := get(t, base+path); strings.TrimSpace(body) != want {
			t.Errorf("%s = %q", path, body)
		}
	}
	// A delivery is counted once the line is out: the counters may lag it.
	wants := []string{
		`whalewatch_events_received_total{action="die",host=`,
		`whalewatch_rule_matches_total{rule="CRASHED"}`,
		`whalewatch_notifications_total{destination="stdout",outcome="sent"}`,
		`whalewatch_stream_connected{host=`,
		`whalewatch_event_lag_seconds_count`,
	}
	eventually(t, "/metrics with "+strings.Join(wants, ", "), 10*time.Second, func() bool {
		metrics := get(t, base+"/metrics")
		return !slices.ContainsFunc(wants, func(w string) bool { return !strings.Contains(metrics, w) })
	})
}

// httpAddr is where the process serves /metrics (HTTP_ADDR=127.0.0.1:0 picks a port).
func (p *proc) httpAddr(t *testing.T) string {
	t.Helper()
	for _, line := range strings.Split(p.logs(), "\n") {
		if _, rest, ok := strings.Cut(line, "serving HTTP"); ok {
			if _, addr, ok := strings.Cut(rest, "addr="); ok {
				return strings.Fields(addr)[0]
			}
		}
	}
	t.Fatalf("no HTTP address in the log:\n%s", p.logs())
	return ""
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// ungrouped adds settings that turn grouping off to env: other tests'
// containers die on the same daemon at the same time, and with grouping
// ours could land in a shared summary.
func ungrouped(env ...string) []string {
	return append(env, "RULE_CRASHED_GROUP_WINDOW=0", "RULE_OOM_GROUP_WINDOW=0",
		"RULE_UNHEALTHY_GROUP_WINDOW=0", "RULE_WHALEWATCH_GROUP_WINDOW=0")
}

// Real containers crash, exit cleanly, get OOM-killed, turn unhealthy and
// are stopped; exactly the expected notifications reach a webhook and
// Slack (through slack-go against a local Web API stand-in).
func TestNotificationsReachWebhookAndSlack(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)
	api := slackstub.New(t)
	start(t, ungrouped(
		"WEBHOOK_URL="+sink.URL+"/hook", "WEBHOOK_SECRET=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
		"SLACK_BOT_TOKEN=xoxb-e2e", "SLACK_CHANNEL=C0ALERTS", "SLACK_API_URL="+api.APIURL(),
	)...)
	run := func(name string, spec testdocker.Spec) string {
		spec.Name = name
		return testdocker.Run(t, c, spec).Name
	}
	crash := run("crash", testdocker.Spec{Args: []string{"exit", "3"}})
	// Docker copies labels over event attributes: this one's die event says
	// exitCode "0". It must still be reported, with its real exit code.
	shadowed := run("shadowed", testdocker.Spec{Args: []string{"exit", "3"}, Labels: map[string]string{"exitCode": "0", "signal": "SIGTERM"}})
	clean := run("clean", testdocker.Spec{Args: []string{"exit", "0"}})
	oom := run("oom", testdocker.Spec{Args: []string{"oom"}, Memory: 16 << 20})
	sick := run("sick", testdocker.Spec{Args: []string{"sleep"},
		Health: &container.HealthConfig{Test: []string{"CMD", "/testprog", "unhealthy"}, Interval: 200 * time.Millisecond, Retries: 1}})
	stopped := testdocker.Run(t, c, testdocker.Spec{Name: "stopped", Args: []string{"sleep"}})
	if _, err := c.ContainerStop(context.Background(), stopped.ID, client.ContainerStopOptions{}); err != nil {
		t.Fatal(err)
	}

	want := map[string]string{crash: "CRASHED", shadowed: "CRASHED", oom: "OOM", sick: "UNHEALTHY"}
	if testdocker.IsPodman(t, c) {
		// testdocker.PodmanNoOOM: the kill is seen as a SIGKILL nobody asked for.
		want[oom] = "CRASHED"
	}
	eventually(t, "webhook posts", 30*time.Second, func() bool {
		for name := range want {
			if len(sink.about(name)) == 0 {
				return false
			}
		}
		return true
	})
	// Anything extra (a repeated oom event, a second report) comes before
	// the death of a container started after all of them.
	sentinel := run("sentinel", testdocker.Spec{Args: []string{"exit", "5"}})
	eventually(t, "the sentinel", 30*time.Second, func() bool {
		return len(sink.about(sentinel)) > 0 && slices.ContainsFunc(api.Calls("chat.postMessage"), func(c slackstub.Call) bool {
			return strings.Contains(c.Form.Get("text"), sentinel) // Slack is paced: it may come later than the webhook
		})
	})
	for name, rule := range want {
		got := sink.about(name)
		if len(got) != 1 || got[0].Rule != rule {
			t.Errorf("%s: webhook got %+v, want one %s", name, got, rule)
		}
	}
	for _, name := range []string{clean, stopped.Name} {
		if got := sink.about(name); len(got) != 0 {
			t.Errorf("%s: unexpected notifications %+v", name, got)
		}
	}
	if got := sink.about(shadowed); len(got) == 1 && (got[0].ExitCode == nil || *got[0].ExitCode != 3) {
		t.Errorf("label-shadowed death reported with exit code %v, want 3 (from inspect): %+v", got[0].ExitCode, got[0])
	}
	crashed := sink.about(crash)[0]
	if crashed.Image != "whalewatch-test/testprog:latest" || crashed.ExitCode == nil || *crashed.ExitCode != 3 || crashed.Host == "" {
		t.Errorf("crash payload lacks image/exit code/host: %+v", crashed)
	}
	if crashed.Labels[testdocker.LabelKey] != "" {
		t.Errorf("a label outside LABELS_SHOWN was sent: %v", crashed.Labels)
	}
	for _, a := range sink.all() {
		if a.header.Get("webhook-id") == "" || !strings.HasPrefix(a.header.Get("webhook-signature"), "v1,") {
			t.Errorf("unsigned post: %v", a.header)
		}
	}

	// Slack got the same three, as Block Kit with a fallback text.
	posts := map[string]string{}
	for _, call := range api.Calls("chat.postMessage") {
		if call.Form.Get("channel") != "C0ALERTS" || call.Token != "xoxb-e2e" {
			t.Errorf("post to %s with token %s", call.Form.Get("channel"), call.Token)
		}
		for name := range want {
			if strings.Contains(call.Form.Get("text"), name) {
				posts[name] += call.Form.Get("blocks")
			}
		}
	}
	for name, rule := range want {
		if !strings.Contains(posts[name], rule+": "+name) {
			t.Errorf("slack post for %s lacks header %q: %s", name, rule+": "+name, posts[name])
		}
	}
	if !strings.Contains(posts[crash], "Exit code") {
		t.Errorf("crash post lacks the exit code field: %s", posts[crash])
	}
}

func TestBadRuleExits2NamingRuleAndColumn(t *testing.T) {
	cmd := exec.Command(binary)
	cmd.Env = []string{"RULE_WEB_WHEN=Type == \"container\" && Nmae == \"web\"", "SLACK_BOT_TOKEN=xoxb-very-secret"}
	out, err := cmd.CombinedOutput()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit code %d (%v), want 2:\n%s", code, err, out)
	}
	for _, want := range []string{"rule WEB (RULE_WEB_WHEN): line 1, column 24: unknown name Nmae", "SLACK_CHANNEL: required"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "very-secret") {
		t.Errorf("output reveals the token:\n%s", out)
	}
}

func TestValidatePrintsThePlan(t *testing.T) {
	cmd := exec.Command(binary, "validate")
	cmd.Env = []string{"WEBHOOK_URL=https://hooks.example/secret-path", "RULE_WEB_WHEN=glob(Name, \"web-*\")", "RULE_WEB_NOTIFY=webhook", "RULE_OOM_ENABLED=false"}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"configuration is valid", "webhook (webhook) → https://hooks.example/…", "WEB → webhook", "OOM: disabled", "CRASHED → all destinations"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(string(out), "secret-path") {
		t.Errorf("plan reveals the webhook path:\n%s", out)
	}
}

func TestSIGTERMStopsCleanly(t *testing.T) {
	testdocker.Client(t)
	p := start(t)
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop within 15s of SIGTERM")
	}
	if code := p.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit code %d after SIGTERM", code)
	}
	if !strings.Contains(p.logs(), "whalewatch stopped") {
		t.Errorf("log:\n%s", p.logs())
	}
}

// The daemon restarts while whalewatch runs, and a container's process is
// killed while the daemon is down (live-restore keeps containers running
// across the restart, so no die event is ever sent for it). whalewatch
// reconnects, reports the gap and the death, once.
func TestDaemonRestartIsReportedWithoutDuplicates(t *testing.T) {
	d := testdocker.StartPrivateDaemon(t, "--live-restore")
	c := d.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)
	// One lane: the sentinel crash at the end arrives after all before it.
	p := start(t, ungrouped("DOCKER_HOST="+d.Host, "WEBHOOK_URL="+sink.URL, "HOST_NAME=restarted", "WEBHOOK_CONCURRENCY=1", "STATUS_PAGE=true")...)

	victim := testdocker.Run(t, c, testdocker.Spec{Name: "victim", Args: []string{"sleep"}})
	crash := testdocker.Run(t, c, testdocker.Spec{Name: "before", Args: []string{"exit", "4"}})
	eventually(t, "crash before the restart", 10*time.Second, func() bool { return len(sink.about(crash.Name)) == 1 })
	res, err := c.ContainerInspect(context.Background(), victim.ID, client.ContainerInspectOptions{})
	if err != nil || res.Container.State == nil || res.Container.State.Pid == 0 {
		t.Fatalf("inspect victim: %v", err)
	}

	d.Stop(t)
	if err := syscall.Kill(res.Container.State.Pid, syscall.SIGKILL); err != nil {
		t.Fatalf("kill the container's process: %v", err)
	}
	// Down, as whalewatch sees it, for longer than a gap worth a notice (5 s).
	hosts := "http://" + p.httpAddr(t) + "/api/v1/hosts"
	eventually(t, "whalewatch to see the daemon down for 6 s", 30*time.Second, func() bool {
		var status []struct {
			DownSince time.Time `json:"down_since"`
		}
		return json.Unmarshal([]byte(get(t, hosts)), &status) == nil && len(status) == 1 &&
			!status[0].DownSince.IsZero() && time.Since(status[0].DownSince) > 6*time.Second
	})
	d.Start(t)

	eventually(t, "victim's death", 30*time.Second, func() bool { return len(sink.about(victim.Name)) > 0 })
	eventually(t, "the gap's notice", 10*time.Second, func() bool { return len(sink.about("restarted")) > 0 })
	// A crash after everything else: once it is in, all that was to come has.
	last := testdocker.Run(t, c, testdocker.Spec{Name: "after", Args: []string{"exit", "5"}})
	eventually(t, "a crash after the restart", 30*time.Second, func() bool { return len(sink.about(last.Name)) == 1 })
	deaths := sink.about(victim.Name)
	if len(deaths) != 1 || deaths[0].Rule != "CRASHED" || deaths[0].ExitCode == nil || *deaths[0].ExitCode != 137 {
		t.Errorf("victim: %+v, want one CRASHED with exit code 137", deaths)
	} else {
		t.Logf("reported: %s (reconciled=%v)", deaths[0].Summary, deaths[0].Reconciled)
	}
	if got := sink.about(crash.Name); len(got) != 1 {
		t.Errorf("the crash before the restart was reported %d times", len(got))
	}
	// The restarted daemon has no events from before: one notice, of the gap.
	notices := sink.about("restarted")
	if len(notices) != 1 || notices[0].Action != "stream_gap" {
		t.Errorf("notices: %+v", notices)
	}
}

// Slack actions wired in the binary: an allowed user starts a container,
// a forged request gets 401, and an alert about an actionable container
// carries a button.
func TestSlackActionsThroughTheBinary(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	api := slackstub.New(t)
	replies := newScriptedSink(t, 0, nil)
	const secret = "e2e-signing-secret"
	p := start(t, ungrouped("SLACK_SIGNING_SECRET="+secret, "SLACK_BOT_TOKEN=xoxb-e2e", "SLACK_CHANNEL=COPS", "SLACK_API_URL="+api.APIURL(),
		"ACTIONS_ALLOWED_USERS=UADMIN", "ACTIONS_ALLOWED_CHANNELS=COPS", "ACTIONS_AUDIT_CHANNEL=CAUDIT")...)
	labels := map[string]string{"whalewatch.actions": "start,restart"}
	web := testdocker.Run(t, c, testdocker.Spec{Name: "web", NoStart: true, Labels: labels})

	post := func(user, sig string) int {
		return signedCommand(t, p.httpAddr(t), sig, user, "start "+web.Name, replies.URL)
	}
	if code := post("UADMIN", "forged"); code != 401 {
		t.Errorf("forged request: %d", code)
	}
	if code := post("USTRANGER", secret); code != 200 {
		t.Errorf("stranger: %d", code)
	}
	if code := post("UADMIN", secret); code != 200 {
		t.Errorf("admin: %d", code)
	}
	eventually(t, "container started", 15*time.Second, func() bool {
		res, err := c.ContainerInspect(context.Background(), web.ID, client.ContainerInspectOptions{})
		return err == nil && res.Container.State.Running
	})
	audits := api.WaitCalls(t, "chat.postMessage", 2, 10*time.Second)
	var auditTexts []string
	for _, a := range audits {
		if a.Form.Get("channel") == "CAUDIT" {
			auditTexts = append(auditTexts, a.Form.Get("text"))
		}
	}
	joined := strings.Join(auditTexts, "\n")
	if !strings.Contains(joined, "<@USTRANGER> start `"+web.Name+"` in <#COPS>: denied") || !strings.Contains(joined, "<@UADMIN> start `"+web.Name+"` in <#COPS>: done") {
		t.Errorf("audit channel got:\n%s", joined)
	}

	crash := testdocker.Run(t, c, testdocker.Spec{Name: "crash-button", Args: []string{"exit", "3"}, Labels: labels})
	eventually(t, "alert with a button", 15*time.Second, func() bool {
		for _, call := range api.Calls("chat.postMessage") {
			if call.Form.Get("channel") == "COPS" && strings.Contains(call.Form.Get("text"), crash.Name) {
				return strings.Contains(call.Form.Get("blocks"), `"action_id":"whalewatch_start"`) && strings.Contains(call.Form.Get("blocks"), "Start again")
			}
		}
		return false
	})
}

// signedCommand posts a slash command as Slack would, signed with secret.
func signedCommand(t *testing.T, addr, secret, user, text, responseURL string) int {
	t.Helper()
	body := url.Values{"command": {"/docker"}, "text": {text}, "user_id": {user}, "channel_id": {"COPS"},
		"team_id": {"T1"}, "response_url": {responseURL}, "trigger_id": {user + text}}.Encode()
	ts := fmt.Sprint(time.Now().Unix())
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/slack/commands", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slackstub.Sign(secret, ts, []byte(body)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// A mute label and /docker mute keep containers quiet; others are still reported.
func TestMutes(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)
	const secret = "mute-secret"
	p := start(t, ungrouped("WEBHOOK_URL="+sink.URL, "SLACK_SIGNING_SECRET="+secret,
		"ACTIONS_ALLOWED_USERS=UADMIN", "ACTIONS_ALLOWED_CHANNELS=COPS", "STATE_DIR="+t.TempDir(),
		"ACTIONS_CONTAINERS=stop:wwtest-"+testdocker.RunID+"-hushed*")...) // a mute needs stop grants over its glob
	if code := signedCommand(t, p.httpAddr(t), secret, "UADMIN", "mute wwtest-"+testdocker.RunID+"-hushed* 10m", sink.URL); code != 200 {
		t.Fatalf("mute: %d", code)
	}
	labelled := testdocker.Run(t, c, testdocker.Spec{Name: "labelled", Args: []string{"exit", "3"}, Labels: map[string]string{"whalewatch.mute": "true"}})
	hushed := testdocker.Run(t, c, testdocker.Spec{Name: "hushed-1", Args: []string{"exit", "3"}})
	control := testdocker.Run(t, c, testdocker.Spec{Name: "control", Args: []string{"exit", "3"}})
	// control died last: once it is reported, the muted ones were handled.
	eventually(t, "control reported", 15*time.Second, func() bool { return len(sink.about(control.Name)) == 1 })
	if len(sink.about(labelled.Name)) != 0 || len(sink.about(hushed.Name)) != 0 {
		t.Errorf("muted containers reported: %v %v", sink.about(labelled.Name), sink.about(hushed.Name))
	}
	if !strings.Contains(get(t, "http://"+p.httpAddr(t)+"/metrics"), `whalewatch_matches_held_total{reason="muted"} 2`) {
		t.Error("muted matches not counted")
	}
}

// LOG_FORMAT=json writes one JSON object per log line.
func TestJSONLogs(t *testing.T) {
	testdocker.Client(t)
	p := start(t, "LOG_FORMAT=json", "LOG_LEVEL=debug")
	for _, line := range strings.Split(strings.TrimSpace(p.logs()), "\n") {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec["msg"] == nil || rec["level"] == nil {
			t.Errorf("not a JSON log line: %s", line)
		}
	}
}

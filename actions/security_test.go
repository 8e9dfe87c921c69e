package actions

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/whalewatch/whalewatch/internal/grants"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/slackstub"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/internal/syncbuf"
)

const testSecret = "test-signing-secret"

// serve runs svc's workers and its HTTP endpoints until the test ends.
func serve(t *testing.T, svc *Service) *http.ServeMux {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = svc.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	mux := http.NewServeMux()
	NewHTTPHandler(svc, testSecret).Register(mux)
	return mux
}

// post sends body to path as Slack would, with the headers given.
func post(mux *http.ServeMux, path, body, ts, signature string) int {
	req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", signature)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, req)
	return rec.Code
}

func commandBody(user, text string) string {
	return url.Values{"command": {"/docker"}, "text": {text}, "user_id": {user}, "channel_id": {"C1"}, "team_id": {"T1"}}.Encode()
}

// A captured signed request is accepted once: not again with its
// signature in another letter case (hex is read in any case), and not
// after whalewatch restarts (the seen signatures are in the state file).
func TestReplayRefusedInAnyLetterCaseAndAfterRestart(t *testing.T) {
	dir := t.TempDir()
	store, err := state.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	policy := grants.Policy{Users: []string{"U1"}, Channels: []string{"C1"}}
	mux := serve(t, NewService(OneHost(idleDocker{}), policy, store, quietLog(), metrics.New()))
	body := commandBody("U1", "restart web")
	ts := fmt.Sprint(time.Now().Unix())
	sig := slackstub.Sign(testSecret, ts, []byte(body))
	hexPart := strings.TrimPrefix(sig, "v0=")
	mixed := []byte(hexPart)
	for i := range mixed {
		if i%2 == 0 {
			mixed[i] = bytes.ToUpper(mixed[i : i+1])[0]
		}
	}
	for _, tc := range []struct {
		name, signature string
		want            int
	}{
		{"the genuine request", sig, 200},
		{"the same again", sig, 401},
		{"upper-case hex", "v0=" + strings.ToUpper(hexPart), 401},
		{"mixed-case hex", "v0=" + string(mixed), 401},
		{"upper-case prefix", "V0=" + hexPart, 401},
	} {
		if got := post(mux, "/slack/commands", body, ts, tc.signature); got != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, got, tc.want)
		}
	}
	_ = store.Close()

	store, err = state.Open(dir) // a restart
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	mux = serve(t, NewService(OneHost(idleDocker{}), policy, store, quietLog(), metrics.New()))
	if got := post(mux, "/slack/commands", body, ts, sig); got != 401 {
		t.Errorf("replay after a restart: status %d, want 401", got)
	}
}

// Refusals and audit posts never wait for Slack: with an API that hangs
// for 10 s, a stranger's command and a mute are still acknowledged at once,
// and their audit lines are in the log.
func TestAckDoesNotWaitForAHangingSlackAPI(t *testing.T) {
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(10 * time.Second):
		case <-r.Context().Done():
		}
	}))
	defer hang.Close()
	logs := &syncbuf.Buffer{}
	svc := NewService(OneHost(idleDocker{}), grants.Policy{Users: []string{"U1"}, Channels: []string{"C1"}}, tempStore(t),
		slog.New(slog.NewJSONHandler(logs, nil)), metrics.New())
	svc.Slack, svc.AuditChannel = slack.New("xoxb-test", slack.OptionAPIURL(hang.URL+"/")), "CAUDIT"
	svc.Mutes = tempStore(t)
	mux := serve(t, svc)
	for _, tc := range []struct{ user, text string }{{"USTRANGER", "restart web"}, {"U1", "mute web-* 10m"}, {"U1", "start web;id"}} {
		body := commandBody(tc.user, tc.text)
		ts := fmt.Sprint(time.Now().Unix())
		began := time.Now()
		if got := post(mux, "/slack/commands", body, ts, slackstub.Sign(testSecret, ts, []byte(body))); got != 200 {
			t.Errorf("%s: status %d", tc.text, got)
		}
		if took := time.Since(began); took > 5*time.Second {
			t.Errorf("%q acknowledged after %s: it waited for Slack", tc.text, took)
		}
	}
	for _, want := range []string{`"user_id":"USTRANGER"`, `"verb":"mute"`, `"container":"web;id"`} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("audit log lacks %s:\n%s", want, logs.String())
		}
	}
}

// A malformed name is refused with its reason, which the audit records
// with the user, channel, verb and target; nothing reaches Docker.
func TestMalformedNamesAreRefusedSpecificallyAndAudited(t *testing.T) {
	logs := &syncbuf.Buffer{}
	svc := NewService(OneHost(idleDocker{}), grants.Policy{Users: []string{"U1"}, Channels: []string{"C1"}}, tempStore(t),
		slog.New(slog.NewJSONHandler(logs, nil)), metrics.New())
	for _, text := range []string{"start web;id", "restart $(id)", "stop ../web", "logs web --tail x", "mute /etc 1h"} {
		ack := svc.SlashCommand(slack.SlashCommand{UserID: "U1", ChannelID: "C1", Text: text})
		if !strings.HasPrefix(ack, "⛔ ") || !strings.Contains(ack, "Usage") || strings.Count(ack, "\n") < 1 {
			t.Errorf("%q: ack %q", text, ack)
		}
		if strings.Contains(ack, "$(id)") && !strings.Contains(ack, `"$(id)"`) {
			t.Errorf("%q: reason not specific: %q", text, ack)
		}
	}
	log := logs.String()
	for _, want := range []string{`"container":"web;id"`, `"container":"$(id)"`, `"container":"../web"`, `"verb":"logs"`, `"channel":"C1"`, `"reason":"not a command, or not its arguments: \"web;id\" is not a container name or ID"`} {
		if !strings.Contains(log, want) {
			t.Errorf("audit lacks %s:\n%s", want, log)
		}
	}
}

func quietLog() *slog.Logger { return slog.New(slog.DiscardHandler) }

// A button's response_url is a secret (anyone holding it may post as the
// app for 30 minutes): when editing the alert fails both through
// chat.update and through response_url, the log says so without it.
func TestResponseURLIsNeverLogged(t *testing.T) {
	down := httptest.NewServer(http.NotFoundHandler())
	down.Close() // nothing listens there any more
	logs := &syncbuf.Buffer{}
	svc := NewService(OneHost(idleDocker{}), grants.Policy{}, tempStore(t), slog.New(slog.NewJSONHandler(logs, nil)), metrics.New())
	svc.Slack = slack.New("xoxb-test", slack.OptionAPIURL(down.URL+"/api/"))
	cb := slack.InteractionCallback{ResponseURL: down.URL + "/actions/T1/42/s3cr3tHookPath"}
	cb.Channel.ID, cb.Message.Timestamp = "C1", "1.000001"
	svc.updateAlert(context.Background(), cb, "done", "")
	if !strings.Contains(logs.String(), "could not update the alert") {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
	if strings.Contains(logs.String(), "s3cr3tHookPath") || strings.Contains(logs.String(), "/actions/") {
		t.Errorf("the response_url is in the log:\n%s", logs.String())
	}
}

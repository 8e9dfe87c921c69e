package actions_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"github.com/moby/moby/client"
	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"
	"go.uber.org/goleak"

	"github.com/whalewatch/whalewatch/actions"
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/grants"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/slackstub"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/internal/syncbuf"
	"github.com/whalewatch/whalewatch/internal/testdocker"
	"github.com/whalewatch/whalewatch/notify"
	notifyslack "github.com/whalewatch/whalewatch/notify/slack"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"), goleak.IgnoreTopFunction("internal/poll.runtime_pollWait"))
}

const secret = "8f742231b10e8888abcd99yyyzzz85a5"

// responses records what whalewatch posts to response_url.
type responses struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []slack.WebhookMessage
}

func newResponses(t *testing.T) *responses {
	r := &responses{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var m slack.WebhookMessage
		_ = json.NewDecoder(req.Body).Decode(&m)
		r.mu.Lock()
		r.msgs = append(r.msgs, m)
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *responses) all() []slack.WebhookMessage {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slack.WebhookMessage(nil), r.msgs...)
}

// sentinel sends a harmless signed command and waits for its reply: what
// earlier requests would have done is done by then.
func (f *fixture) sentinel(t *testing.T, container string) {
	t.Helper()
	before := len(f.replies.all())
	if status, _ := f.post(t, "/slack/commands", f.command("UADMIN", "COPS", "logs "+container+" --tail 1"), nil); status != 200 {
		t.Fatalf("sentinel: status %d", status)
	}
	f.replies.wait(t, before+1)
}

func (r *responses) wait(t *testing.T, n int) []slack.WebhookMessage {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for len(r.all()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d responses, want %d: %+v", len(r.all()), n, r.all())
		}
		time.Sleep(10 * time.Millisecond)
	}
	return r.all()
}

type fixture struct {
	c       *client.Client
	svc     *actions.Service
	server  *httptest.Server
	replies *responses
	log     *syncbuf.Buffer // the service's log (the audit lines)
}

var allVerbs = map[string]string{grants.ActionsLabel: "start,stop,restart,logs"}

func setup(t *testing.T) *fixture {
	t.Helper()
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	f := &fixture{c: c, replies: newResponses(t), log: &syncbuf.Buffer{}}
	policy := grants.Policy{Teams: []string{"T1"}, Users: []string{"UADMIN"}, ReadUsers: []string{"UREAD"}, Channels: []string{"COPS"}}
	store, err := state.Open("")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	f.svc = actions.NewService(actions.OneHost(c), policy, store, slog.New(slog.NewJSONHandler(f.log, nil)), metrics.New())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = f.svc.Run(ctx); close(done) }()
	mux := http.NewServeMux()
	actions.NewHTTPHandler(f.svc, secret).Register(mux)
	f.server = httptest.NewServer(mux)
	t.Cleanup(func() { f.server.Close(); cancel(); <-done })
	return f
}

// post sends a request as Slack would: form-encoded and signed.
func (f *fixture) post(t *testing.T, path string, body []byte, mutate func(*http.Request)) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, f.server.URL+path, bytes.NewReader(body))
	ts := fmt.Sprint(time.Now().Unix())
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", slackstub.Sign(secret, ts, body))
	if mutate != nil {
		mutate(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (f *fixture) command(user, channel, text string) []byte {
	return []byte(url.Values{
		"command": {"/docker"}, "text": {text}, "team_id": {"T1"}, "user_id": {user}, "user_name": {strings.ToLower(user)},
		"channel_id": {channel}, "response_url": {f.replies.URL + "/response"}, "trigger_id": {"1.2.3"},
	}.Encode())
}

func (f *fixture) running(t *testing.T, id string) bool {
	t.Helper()
	res, err := f.c.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return res.Container.State.Running
}

func (f *fixture) startedAt(t *testing.T, id string) time.Time {
	t.Helper()
	res, err := f.c.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	at, _ := time.Parse(time.RFC3339Nano, res.Container.State.StartedAt)
	return at
}

func TestSignedCommandStartsTheContainer(t *testing.T) {
	f := setup(t)
	ct := testdocker.Run(t, f.c, testdocker.Spec{Name: "web", NoStart: true, Labels: allVerbs})
	status, body := f.post(t, "/slack/commands", f.command("UADMIN", "COPS", "start "+ct.Name), nil)
	if status != 200 || !strings.Contains(body, "Working on it") || !strings.Contains(body, `"response_type":"ephemeral"`) {
		t.Fatalf("ack: %d %s", status, body)
	}
	msg := f.replies.wait(t, 1)[0]
	if msg.ResponseType != slack.ResponseTypeInChannel || msg.Text != fmt.Sprintf("✅ <@UADMIN> started `%s`", ct.Name) {
		t.Errorf("result: %+v", msg)
	}
	if !f.running(t, ct.ID) {
		t.Error("container not running")
	}
	if !strings.Contains(f.log.String(), `"msg":"audit"`) || !strings.Contains(f.log.String(), `"result":"done"`) || !strings.Contains(f.log.String(), `"container_id":"`+ct.ID) {
		t.Errorf("no audit record:\n%s", f.log.String())
	}

	// logs and ps, for the read-only user too
	f.post(t, "/slack/commands", f.command("UREAD", "COPS", "logs "+ct.Name+" --tail 5"), nil)
	f.post(t, "/slack/commands", f.command("UREAD", "COPS", "ps"), nil)
	msgs := f.replies.wait(t, 3)
	var texts []string
	for _, m := range msgs[1:] {
		texts = append(texts, m.Text)
	}
	joined := strings.Join(texts, "\n")
	if !strings.Contains(joined, "Last 5 lines of `"+ct.Name+"`") || !strings.Contains(joined, "`"+ct.Name+"` Up") {
		t.Errorf("logs/ps replies: %s", joined)
	}
}

// Forged, stale, replayed, oversized or mistyped requests are refused
// before anything is parsed, and nothing happens.
func TestForgedRequestsAreRejected(t *testing.T) {
	f := setup(t)
	ct := testdocker.Run(t, f.c, testdocker.Spec{Name: "forged", NoStart: true, Labels: allVerbs})
	body := f.command("UADMIN", "COPS", "start "+ct.Name)
	for _, tc := range []struct {
		name   string
		body   []byte
		mutate func(*http.Request)
		want   int
	}{
		{"wrong secret", body, func(r *http.Request) {
			r.Header.Set("X-Slack-Signature", slackstub.Sign("not-the-secret", r.Header.Get("X-Slack-Request-Timestamp"), body))
		}, 401},
		{"stale timestamp", body, func(r *http.Request) {
			ts := fmt.Sprint(time.Now().Add(-6 * time.Minute).Unix())
			r.Header.Set("X-Slack-Request-Timestamp", ts)
			r.Header.Set("X-Slack-Signature", slackstub.Sign(secret, ts, body))
		}, 401},
		{"missing headers", body, func(r *http.Request) { r.Header.Del("X-Slack-Signature"); r.Header.Del("X-Slack-Request-Timestamp") }, 401},
		{"missing v0=", body, func(r *http.Request) {
			r.Header.Set("X-Slack-Signature", strings.TrimPrefix(r.Header.Get("X-Slack-Signature"), "v0="))
		}, 401},
		{"tampered body", body, func(r *http.Request) {
			tampered := f.command("UADMIN", "COPS", "stop "+ct.Name)
			r.Body = io.NopCloser(bytes.NewReader(tampered))
			r.ContentLength = int64(len(tampered))
		}, 401},
		{"oversized", append(body, bytes.Repeat([]byte("a"), 70<<10)...), nil, 413},
		{"wrong content type", body, func(r *http.Request) { r.Header.Set("Content-Type", "application/json") }, 415},
	} {
		if status, _ := f.post(t, "/slack/commands", tc.body, tc.mutate); status != tc.want {
			t.Errorf("%s: status %d, want %d", tc.name, status, tc.want)
		}
	}
	// A replay of a valid request: the first one acts, the copy is refused.
	req := func() (*http.Request, []byte) {
		r, _ := http.NewRequest(http.MethodPost, f.server.URL+"/slack/commands", bytes.NewReader(body))
		return r, body
	}
	ts := fmt.Sprint(time.Now().Unix())
	var statuses []int
	for range 2 {
		r, b := req()
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		r.Header.Set("X-Slack-Request-Timestamp", ts)
		r.Header.Set("X-Slack-Signature", slackstub.Sign(secret, ts, b))
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		statuses = append(statuses, resp.StatusCode)
	}
	if statuses[0] != 200 || statuses[1] != 401 {
		t.Errorf("replay: statuses %v, want [200 401]", statuses)
	}
	f.sentinel(t, ct.Name)
	if n := len(f.replies.wait(t, 2)); n != 2 {
		t.Errorf("%d replies; only the one genuine request (and the sentinel) may act", n)
	}
}

func TestRefusalsAreAudited(t *testing.T) {
	f := setup(t)
	ct := testdocker.Run(t, f.c, testdocker.Spec{Name: "refused", NoStart: true, Labels: allVerbs})
	unlabelled := testdocker.Run(t, f.c, testdocker.Spec{Name: "unlabelled", NoStart: true})
	for _, tc := range []struct{ user, channel, text, want string }{
		{"USTRANGER", "COPS", "start " + ct.Name, "⛔ you are not allowed to do that"},
		{"UADMIN", "CRANDOM", "start " + ct.Name, "⛔ actions are not allowed in this channel"},
		{"UREAD", "COPS", "start " + ct.Name, "⛔ you are not allowed to do that"},
		{"UADMIN", "COPS", "frobnicate", "Usage:"},
	} {
		if _, body := f.post(t, "/slack/commands", f.command(tc.user, tc.channel, tc.text), nil); !strings.Contains(body, tc.want) {
			t.Errorf("%s %s %q: %s", tc.user, tc.channel, tc.text, body)
		}
	}
	// Allowed caller, but the container does not allow it (no label) or does not exist.
	f.post(t, "/slack/commands", f.command("UADMIN", "COPS", "start "+unlabelled.Name), nil)
	f.post(t, "/slack/commands", f.command("UADMIN", "COPS", "start no-such-container-"+testdocker.RunID), nil)
	var reasons []string
	for _, m := range f.replies.wait(t, 2) {
		reasons = append(reasons, m.Text)
		if m.ResponseType == slack.ResponseTypeInChannel {
			t.Errorf("refusal shown in the channel: %+v", m)
		}
	}
	slices.Sort(reasons)
	if want := []string{"⛔ " + grants.ErrUnknownContainer.Error(), "⛔ " + grants.ErrNotAllowlisted.Error()}; !slices.Equal(reasons, want) {
		t.Errorf("refusals %q, want %q", reasons, want)
	}
	if f.running(t, ct.ID) || f.running(t, unlabelled.ID) {
		t.Error("a refused request started a container")
	}
	if n := strings.Count(f.log.String(), `"result":"denied"`); n != 6 {
		t.Errorf("%d denied audit records, want 6 (frobnicate too):\n%s", n, f.log.String())
	}
}

// The acknowledgement comes back before a slow Docker call is done.
func TestAckBeforeTheDockerCallFinishes(t *testing.T) {
	f := setup(t)
	ct := testdocker.Run(t, f.c, testdocker.Spec{Name: "stubborn", Args: []string{"stubborn"}, StopTimeout: 3, Labels: allVerbs})
	began := time.Now()
	status, body := f.post(t, "/slack/commands", f.command("UADMIN", "COPS", "stop "+ct.Name), nil)
	acked := time.Since(began)
	if status != 200 || !strings.Contains(body, "Working on it") {
		t.Fatalf("ack: %d %s", status, body)
	}
	// Podman 4.3 gives containers made through the API a StopTimeout of 0
	// (the Spec's is not kept): its stop kills at once and is never slow,
	// so there only the acknowledgement and the result are checked.
	if !testdocker.IsPodman(t, f.c) && !f.running(t, ct.ID) {
		t.Fatal("the stop finished before the acknowledgement: the handler waited for Docker")
	}
	msg := f.replies.wait(t, 1)[0]
	took := time.Since(began)
	t.Logf("acknowledged after %s; stopped after %s", acked.Round(time.Millisecond), took.Round(time.Millisecond))
	if !strings.Contains(msg.Text, "stopped") || f.running(t, ct.ID) {
		t.Errorf("stop result %+v", msg)
	}
}

// An alert's button: a click from an allowed user starts the container and
// updates the alert (chat.update); a second click does nothing.
func TestButtonFlow(t *testing.T) {
	f := setup(t)
	api := slackstub.New(t)
	f.svc.Slack = slack.New("xoxb-test", slack.OptionAPIURL(api.APIURL()))
	ct := testdocker.Run(t, f.c, testdocker.Spec{Name: "button", Args: []string{"exit", "3"}, Labels: allVerbs})
	time.Sleep(500 * time.Millisecond) // it dies

	n := notify.New("CRASHED", "", eventFor(ct), nil)
	buttons := offered(f.svc, event.Offer{Situation: event.SituationDied, ContainerID: ct.ID, Name: ct.Name, Labels: allVerbs})
	if len(buttons) != 2 || buttons[0].Text.Text != "Start again" || len(buttons[0].Value) != 32 || buttons[1].ActionID != actions.AckActionID {
		t.Fatalf("offer: %+v", buttons)
	}
	blocks := card(n, buttons)
	clicks := 0
	click := func(user string) (int, string) {
		clicks++ // Slack gives every click its own trigger_id, so no two bodies are alike
		payload, _ := json.Marshal(map[string]any{
			"type": "block_actions", "team": map[string]string{"id": "T1"}, "trigger_id": fmt.Sprint(clicks),
			"user": map[string]string{"id": user, "name": strings.ToLower(user)}, "channel": map[string]string{"id": "COPS"},
			"message":      map[string]any{"ts": "1700000000.000100", "text": "fallback", "blocks": blocks},
			"response_url": f.replies.URL + "/response",
			"actions":      []map[string]string{{"block_id": notifyslack.ActionBlockID, "action_id": buttons[0].ActionID, "value": buttons[0].Value, "type": "button"}},
		})
		return f.post(t, "/slack/interactions", []byte(url.Values{"payload": {string(payload)}}.Encode()), nil)
	}

	if status, _ := click("USTRANGER"); status != 200 {
		t.Fatalf("click status %d", status)
	}
	if msg := f.replies.wait(t, 1)[0]; msg.Text != "⛔ you are not allowed to do that" {
		t.Errorf("stranger's click: %+v", msg)
	}
	startedAt := f.startedAt(t, ct.ID)
	if !startedAt.Equal(f.startedAt(t, ct.ID)) || f.running(t, ct.ID) {
		t.Fatal("a stranger's click started the container")
	}

	click("UADMIN")
	update := api.WaitCalls(t, "chat.update", 1, 20*time.Second)[0]
	if update.Form.Get("channel") != "COPS" || update.Form.Get("ts") != "1700000000.000100" {
		t.Errorf("chat.update of %s/%s", update.Form.Get("channel"), update.Form.Get("ts"))
	}
	newBlocks := update.Form.Get("blocks")
	if strings.Contains(newBlocks, notifyslack.ActionBlockID) || !strings.Contains(newBlocks, `\u003c@UADMIN\u003e started `+"`"+ct.Name+"`") {
		t.Errorf("updated blocks: %s", newBlocks)
	}
	if !f.startedAt(t, ct.ID).After(startedAt) {
		t.Error("the click did not start the container") // it runs "exit 3" again, so look at StartedAt
	}

	click("UADMIN") // the same button again
	if msg := f.replies.wait(t, 2)[1]; msg.Text != "⛔ This button was already used or has expired." {
		t.Errorf("second click: %+v", msg)
	}
	if n := len(api.Calls("chat.update")); n != 1 { // the refusal's reply is the last thing its job does
		t.Errorf("%d chat.update calls, want 1", n)
	}
}

// Mute 1h and Acknowledge: the container allows no verb, yet every alert
// about it offers both. A read-only user may acknowledge but not mute; the
// acknowledgement is kept with the message (later edits keep it) and only
// the clicked button goes; Mute silences the container's name for an hour.
func TestMuteAndAcknowledgeButtons(t *testing.T) {
	f := setup(t)
	api := slackstub.New(t)
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = store.Close() })
	f.svc.Store, f.svc.Mutes = store, store
	f.svc.Slack = slack.New("xoxb-test", slack.OptionAPIURL(api.APIURL()))
	var ackMu sync.Mutex
	var acks []string
	f.svc.Acknowledged = func(channel, ts, user string, _ time.Time) { // the pagers are told
		ackMu.Lock()
		acks = append(acks, channel+"/"+ts+"/"+user)
		ackMu.Unlock()
	}
	const ts = "1700000000.000200"
	if err := store.SaveThread("inc_1", state.Thread{Channel: "COPS", TS: ts, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	n := notify.New("CRASHED", "", event.Event{Type: "container", Action: "die", Name: "quiet-web", ActorID: "abc", ExitCode: 3, Host: "h", Time: time.Now()}, nil)
	buttons := offered(f.svc, event.Offer{Situation: event.SituationDied, ContainerID: "abc", Name: "quiet-web", Host: "h"})
	if len(buttons) != 2 || buttons[0].Text.Text != "Mute 1h" || buttons[1].Text.Text != "Acknowledge" {
		t.Fatalf("offer: %+v", buttons)
	}
	blocks := card(n, buttons)
	clicks := 0
	click := func(user string, a *slack.ButtonBlockElement) {
		clicks++
		payload, _ := json.Marshal(map[string]any{
			"type": "block_actions", "team": map[string]string{"id": "T1"}, "trigger_id": fmt.Sprint(clicks),
			"user": map[string]string{"id": user, "name": strings.ToLower(user)}, "channel": map[string]string{"id": "COPS"},
			"message":      map[string]any{"ts": ts, "text": "fallback", "blocks": blocks},
			"response_url": f.replies.URL + "/response",
			"actions":      []map[string]string{{"block_id": notifyslack.ActionBlockID, "action_id": a.ActionID, "value": a.Value, "type": "button"}},
		})
		if status, _ := f.post(t, "/slack/interactions", []byte(url.Values{"payload": {string(payload)}}.Encode()), nil); status != 200 {
			t.Fatalf("click: %d", status)
		}
	}
	mute, ack := buttons[0], buttons[1]

	click("UREAD", mute)
	if msg := f.replies.wait(t, 1)[0]; msg.Text != "⛔ you are not allowed to do that" {
		t.Errorf("read-only user's mute: %+v", msg)
	}
	click("UREAD", ack)
	update := api.WaitCalls(t, "chat.update", 1, 20*time.Second)[0].Form.Get("blocks")
	if !strings.Contains(update, `Acknowledged by \u003c@UREAD\u003e`) || strings.Contains(update, actions.AckActionID) || !strings.Contains(update, "Mute 1h") {
		t.Errorf("after the ack: %s", update)
	}
	ackMu.Lock()
	if len(acks) != 1 || acks[0] != "COPS/"+ts+"/UREAD" {
		t.Errorf("acknowledgements told: %v", acks)
	}
	ackMu.Unlock()
	if th, _ := store.Thread("inc_1"); th.AckedBy != "UREAD" {
		t.Errorf("ack not kept with the message: %+v", th)
	}
	click("UADMIN", mute) // the refused click left the button usable
	api.WaitCalls(t, "chat.update", 2, 20*time.Second)
	mutes, _ := store.Mutes(time.Now())
	if until, ok := mutes["quiet-web"]; !ok || time.Until(until) < 59*time.Minute || time.Until(until) > time.Hour {
		t.Errorf("mutes = %v; want quiet-web for an hour", mutes)
	}
	if !strings.Contains(f.log.String(), `"verb":"ack"`) || !strings.Contains(f.log.String(), `"verb":"mute"`) {
		t.Errorf("clicks not audited: %s", f.log.String())
	}
}

// Slash commands over Socket Mode, through slack-go's socketmode client
// against a local websocket: acknowledged, acted on once even when the
// envelope is delivered twice.
func TestSocketMode(t *testing.T) {
	f := setup(t)
	ct := testdocker.Run(t, f.c, testdocker.Spec{Name: "socket", NoStart: true, Labels: allVerbs})
	acks := make(chan map[string]any, 4)
	envelope := func(retry int) map[string]any {
		return map[string]any{
			"type": "slash_commands", "envelope_id": "env-1", "retry_attempt": retry, "accepts_response_payload": true,
			"payload": map[string]any{
				"command": "/docker", "text": "start " + ct.Name, "team_id": "T1", "user_id": "UADMIN", "user_name": "admin",
				"channel_id": "COPS", "response_url": f.replies.URL + "/response",
			},
		}
	}
	server := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/ws", slacktest.Websocket(func(conn *websocket.Conn) {
			_ = conn.WriteJSON(map[string]any{"type": "hello", "num_connections": 1})
			for retry := range 2 {
				if err := conn.WriteJSON(envelope(retry)); err != nil {
					return
				}
				var ack map[string]any
				if err := conn.ReadJSON(&ack); err != nil {
					return
				}
				acks <- ack
			}
			_, _, _ = conn.ReadMessage() // hold the connection until the client goes
		}))
	})
	server.Start()
	defer server.Stop()
	api := slack.New("xoxb-test", slack.OptionAPIURL(server.GetAPIURL()), slack.OptionAppLevelToken("xapp-1-test"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.RunSocketMode(ctx, api) }()
	defer func() { cancel(); <-done }()

	for i := range 2 {
		select {
		case ack := <-acks:
			if ack["envelope_id"] != "env-1" {
				t.Errorf("ack %d: %v", i, ack)
			}
			if i == 0 && !strings.Contains(fmt.Sprint(ack["payload"]), "Working on it") {
				t.Errorf("first ack payload: %v", ack["payload"])
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("no ack %d", i)
		}
	}
	f.replies.wait(t, 1)
	f.sentinel(t, ct.Name)
	if n := len(f.replies.wait(t, 2)); n != 2 {
		t.Errorf("%d results for one re-delivered command (and the sentinel)", n)
	}
	if !f.running(t, ct.ID) {
		t.Error("container not started over Socket Mode")
	}
	if n := strings.Count(f.log.String(), `"verb":"start"`); n != 1 {
		t.Errorf("%d start audit records, want 1", n)
	}
}

// With several daemons, name@host picks one; a bare name on several hosts
// is refused with the candidates; a button acts on the host of its alert.
// Two real daemons: the test's and a private one.
func TestActionsOnSeveralDaemons(t *testing.T) {
	f := setup(t)
	other := testdocker.StartPrivateDaemon(t, "").Client(t)
	testdocker.Image(t, other)
	f.svc.Hosts = []actions.Host{{Name: "host-a", Docker: f.c}, {Name: "host-b", Docker: other}}
	twinA := testdocker.Run(t, f.c, testdocker.Spec{Name: "twin", NoStart: true, Labels: allVerbs})
	twinB := testdocker.Run(t, other, testdocker.Spec{Name: "twin", NoStart: true, Labels: allVerbs})
	solo := testdocker.Run(t, other, testdocker.Spec{Name: "solo", NoStart: true, Labels: allVerbs})
	runningOn := func(c *client.Client, id string) bool {
		res, err := c.ContainerInspect(context.Background(), id, client.ContainerInspectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return res.Container.State.Running
	}
	say := func(text string) string {
		t.Helper()
		n := len(f.replies.all())
		if _, body := f.post(t, "/slack/commands", f.command("UADMIN", "COPS", text), nil); !strings.Contains(body, "Working on it") {
			t.Fatalf("%q: ack %s", text, body)
		}
		return f.replies.wait(t, n+1)[n].Text
	}
	if got := say("start " + twinA.Name); !strings.Contains(got, twinA.Name+"@host-a") || !strings.Contains(got, twinB.Name+"@host-b") {
		t.Errorf("a bare name on two hosts: %q, want both candidates", got)
	}
	if got := say("start " + twinB.Name + "@host-b"); !strings.HasPrefix(got, "✅") || !runningOn(other, twinB.ID) || runningOn(f.c, twinA.ID) {
		t.Errorf("start twin@host-b: %q; running on b=%v a=%v", got, runningOn(other, twinB.ID), runningOn(f.c, twinA.ID))
	}
	if got := say("start " + solo.Name); !strings.HasPrefix(got, "✅") || !runningOn(other, solo.ID) {
		t.Errorf("a name on one host only: %q", got)
	}
	if got := say("start " + solo.Name + "@host-c"); !strings.Contains(got, `no Docker host is named "host-c"`) {
		t.Errorf("unknown host: %q", got)
	}

	// A button of an alert from host-b stops the container there.
	buttons := offered(f.svc, event.Offer{Situation: event.SituationCrashLoop, ContainerID: solo.ID, Name: solo.Name, Labels: allVerbs, Host: "host-b"})
	i := slices.IndexFunc(buttons, func(b *slack.ButtonBlockElement) bool { return b.Text.Text == "Stop" })
	if i < 0 {
		t.Fatalf("no Stop button: %+v", buttons)
	}
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "team": map[string]string{"id": "T1"}, "trigger_id": "b1",
		"user": map[string]string{"id": "UADMIN"}, "channel": map[string]string{"id": "COPS"},
		"message":      map[string]any{"ts": "1700000000.000100", "text": "fallback"},
		"response_url": f.replies.URL + "/response",
		"actions":      []map[string]string{{"block_id": notifyslack.ActionBlockID, "action_id": buttons[i].ActionID, "value": buttons[i].Value, "type": "button"}},
	})
	if status, _ := f.post(t, "/slack/interactions", []byte(url.Values{"payload": {string(payload)}}.Encode()), nil); status != 200 {
		t.Fatalf("click: %d", status)
	}
	testdocker.WaitStopped(t, other, solo.ID, 30*time.Second)
}

// offered are the buttons the service makes for a card with offer o.
func offered(svc *actions.Service, o event.Offer) []*slack.ButtonBlockElement {
	var out []*slack.ButtonBlockElement
	for _, e := range svc.Buttons(o, false) {
		out = append(out, e.(*slack.ButtonBlockElement))
	}
	return out
}

// card lays n out with buttons, as the Slack bot posts it.
func card(n notify.Notification, buttons []*slack.ButtonBlockElement) []slack.Block {
	elements := make([]slack.BlockElement, len(buttons))
	for i, b := range buttons {
		elements[i] = b
	}
	return append(notifyslack.Blocks(n), slack.NewActionBlock(notifyslack.ActionBlockID, elements...))
}

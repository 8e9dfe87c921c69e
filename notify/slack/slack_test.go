package slack_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/slackstub"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/slack"
)

func crash(name string) notify.Notification {
	return notify.New("CRASHED", "", event.Event{
		Type: "container", Action: "die", Name: name, Image: "shop/web:1.2", ExitCode: 137, Host: "prod-1",
		ActorID: "0123456789abcdef", Time: time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC),
		Labels: map[string]string{"com.docker.compose.project": "shop", "com.docker.compose.service": "web"},
	}, []string{"com.docker.compose.project", "com.docker.compose.service"})
}

func TestBotPostsBlocksAndFallback(t *testing.T) {
	api := slackstub.New(t)
	bot := slack.NewBot("xoxb-test", "C123", api.APIURL(), http.DefaultClient, nil, threads(t), nil)
	if retry, err := bot.Notify(context.Background(), crash("web-1")); err != nil || retry {
		t.Fatalf("Notify = %v, %v", retry, err)
	}
	call := api.Calls("chat.postMessage")[0]
	if call.Form.Get("channel") != "C123" || call.Token != "xoxb-test" {
		t.Errorf("posted to %q with token %q", call.Form.Get("channel"), call.Token)
	}
	if want := "container web-1 died: exit code 137 (SIGKILL: killed, often out of memory or docker kill)"; call.Form.Get("text") != want {
		t.Errorf("fallback text = %q", call.Form.Get("text"))
	}
	blocks := call.Blocks(t).BlockSet
	if len(blocks) != 3 {
		t.Fatalf("%d blocks", len(blocks))
	}
	header := blocks[0].(*goslack.HeaderBlock).Text.Text
	if !strings.Contains(header, "CRASHED: web-1") {
		t.Errorf("header = %q", header)
	}
	var fields []string
	for _, f := range blocks[1].(*goslack.SectionBlock).Fields {
		fields = append(fields, f.Text)
	}
	joined := strings.Join(fields, "|")
	for _, want := range []string{"*Container*\nweb-1", "*Image*\nshop/web:1.2", "*Exit code*\n137 — SIGKILL", "*Host*\nprod-1", "*Compose*\nshop/web"} {
		if !strings.Contains(joined, want) {
			t.Errorf("fields lack %q: %s", want, joined)
		}
	}
}

// Container names and labels are untrusted: nobody may ping the channel.
func TestBotEscapesUntrustedText(t *testing.T) {
	api := slackstub.New(t)
	bot := slack.NewBot("xoxb-test", "C123", api.APIURL(), http.DefaultClient, nil, threads(t), nil)
	n := crash("<!channel> <https://evil.example|click> & co")
	if _, err := bot.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	call := api.Calls("chat.postMessage")[0]
	for _, part := range []string{call.Form.Get("text"), call.Form.Get("blocks")} {
		if strings.Contains(part, "<!channel>") || strings.Contains(part, "<https://") {
			t.Errorf("unescaped mention or link in %s", part)
		}
	}
	if !strings.Contains(call.Form.Get("text"), "&lt;!channel&gt;") {
		t.Errorf("text = %q", call.Form.Get("text"))
	}
}

func TestBotRespectsSlackLimits(t *testing.T) {
	api := slackstub.New(t)
	bot := slack.NewBot("xoxb-test", "C123", api.APIURL(), http.DefaultClient, nil, threads(t), nil)
	n := crash(strings.Repeat("&", 5000))
	n.Text = strings.Repeat("<", 10000)
	if _, err := bot.Notify(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	blocks := api.Calls("chat.postMessage")[0].Blocks(t).BlockSet
	if h := blocks[0].(*goslack.HeaderBlock).Text.Text; len([]rune(h)) > 150 {
		t.Errorf("header of %d chars", len([]rune(h)))
	}
	sec := blocks[1].(*goslack.SectionBlock)
	if len([]rune(sec.Text.Text)) > 3000 {
		t.Errorf("section of %d chars", len([]rune(sec.Text.Text)))
	}
	for _, f := range sec.Fields {
		if len([]rune(f.Text)) > 2000 {
			t.Errorf("field of %d chars", len([]rune(f.Text)))
		}
	}
}

func TestBotClassifiesFailures(t *testing.T) {
	api := slackstub.New(t)
	ctx := context.Background()

	api.RateLimit(1, 3)
	retry, err := slack.NewBot("xoxb-test", "C123", api.APIURL(), http.DefaultClient, nil, threads(t), nil).Notify(ctx, crash("a"))
	var ra *notify.RetryAfterError
	if !retry || !errors.As(err, &ra) || ra.After != 3*time.Second {
		t.Errorf("429: retry=%v err=%v", retry, err)
	}
	if retry, err := slack.NewBot("xoxb-test", "C404", api.APIURL(), http.DefaultClient, nil, threads(t), nil).Notify(ctx, crash("a")); retry || err == nil || !strings.Contains(err.Error(), "channel_not_found") {
		t.Errorf("channel_not_found: retry=%v err=%v", retry, err)
	}
	if retry, err := slack.NewBot("xoxb-invalid", "C1", api.APIURL(), http.DefaultClient, nil, threads(t), nil).Notify(ctx, crash("a")); retry || err == nil {
		t.Errorf("invalid_auth: retry=%v err=%v", retry, err)
	}
	down := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(502) }))
	defer down.Close()
	if retry, err := slack.NewBot("xoxb-test", "C1", down.URL+"/", http.DefaultClient, nil, threads(t), nil).Notify(ctx, crash("a")); !retry || err == nil {
		t.Errorf("502: retry=%v err=%v", retry, err)
	}
}

func TestWebhookPostsAndNeverLeaksItsURL(t *testing.T) {
	var body string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b := new(strings.Builder)
		_, _ = io.Copy(b, r.Body)
		body = b.String()
		if strings.Contains(body, "limit-me") {
			w.Header().Set("Retry-After", "2")
			w.WriteHeader(429)
		}
	}))
	defer srv.Close()
	hook := slack.NewWebhook(srv.URL+"/services/T0/B0/SECRETPATH", http.DefaultClient)
	if _, err := hook.Notify(context.Background(), crash("web-1")); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(body, `"text":"container web-1 died`) || !strings.Contains(body, `"blocks"`) {
		t.Errorf("body = %s", body)
	}
	retry, err := hook.Notify(context.Background(), crash("limit-me"))
	var ra *notify.RetryAfterError
	if !retry || !errors.As(err, &ra) || ra.After != 2*time.Second {
		t.Errorf("429: %v %v", retry, err)
	}
	srv.Close()
	_, err = hook.Notify(context.Background(), crash("web-1"))
	if err == nil || strings.Contains(err.Error(), "SECRETPATH") {
		t.Errorf("error leaks the URL or is nil: %v", err)
	}
}

// threads is a state file for one test, holding the Slack threads.
func threads(t *testing.T) *state.Store {
	t.Helper()
	s, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// A group's first message is posted; its update edits that message in
// place and adds the details in its thread — also when whalewatch was
// restarted in between (the message is remembered in the state file).
func TestBotUpdatesGroupsInPlace(t *testing.T) {
	api := slackstub.New(t)
	store := threads(t)
	first := crash("web-1")
	first.Group = &notify.Group{Key: "g1", Seq: 1, Count: 1}
	update := crash("web-2")
	update.Text = "CRASHED: 2 more matches (3 in all): web-2 (exit 137), web-3 (exit 137)"
	update.Group = &notify.Group{Key: "g1", Seq: 2, Count: 3, New: []string{"web-2", "web-3"}}
	for _, n := range []notify.Notification{first, update} {
		bot := slack.NewBot("xoxb-test", "C123", api.APIURL(), http.DefaultClient, slack.NewWorkspace(100), store, nil) // a new process each time
		if _, err := bot.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	posts, updates := api.Calls("chat.postMessage"), api.Calls("chat.update")
	if len(posts) != 2 || len(updates) != 1 {
		t.Fatalf("%d posts, %d updates", len(posts), len(updates))
	}
	ts := "1700000000.000001"
	if updates[0].Form.Get("ts") != ts || !strings.Contains(updates[0].Form.Get("text"), "3 in all") {
		t.Errorf("update: %v", updates[0].Form)
	}
	if posts[1].Form.Get("thread_ts") != ts || !strings.Contains(posts[1].Form.Get("text"), "web-3") {
		t.Errorf("thread reply: %v", posts[1].Form)
	}
}

// ackButtons mints an Acknowledge button unless the message was
// acknowledged, as actions.Service does, and records what it was asked.
type ackButtons struct{ acked []bool }

func (b *ackButtons) Buttons(o event.Offer, acked bool) []goslack.BlockElement {
	b.acked = append(b.acked, acked)
	if acked {
		return nil
	}
	return []goslack.BlockElement{goslack.NewButtonBlockElement("whalewatch_ack", "t",
		goslack.NewTextBlockObject(goslack.PlainTextType, "Acknowledge", false, false))}
}

// An incident is one message: its next alert and its resolution edit it
// (after a restart too: a new Bot on the same state file), their cards go
// into its thread, and an acknowledgement stays on it without the button.
func TestBotKeepsAnIncidentInOneMessage(t *testing.T) {
	api := slackstub.New(t)
	store := threads(t)
	buttons := &ackButtons{}
	opened := crash("web-1")
	opened.Incident = &notify.Incident{ID: "inc_1", Status: notify.Firing, Seq: 1, Alerts: 1}
	opened.Offer = &event.Offer{Situation: event.SituationDied, Host: "prod-1", ContainerID: "0123456789abcdef", Name: "web-1"}
	again := crash("web-1")
	again.Incident = &notify.Incident{ID: "inc_1", Status: notify.Firing, Seq: 2, Alerts: 2}
	again.Offer = opened.Offer
	resolved := crash("web-1")
	resolved.Text = "Resolved: container web-1 has been running for 1m0s (2 alerts in 3m0s)"
	resolved.Incident = &notify.Incident{ID: "inc_1", Status: notify.Resolved, Seq: 3, Alerts: 2}
	for i, n := range []notify.Notification{opened, again, resolved} {
		if i == 1 {
			if err := store.AckThread("C123", "1700000000.000001", "UONCALL", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		bot := slack.NewBot("xoxb-test", "C123", api.APIURL(), http.DefaultClient, slack.NewWorkspace(100), store, buttons)
		if _, err := bot.Notify(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	posts, updates := api.Calls("chat.postMessage"), api.Calls("chat.update")
	if len(posts) != 3 || len(updates) != 2 {
		t.Fatalf("%d posts, %d updates; want the root, two thread replies and two edits", len(posts), len(updates))
	}
	if len(buttons.acked) != 2 || buttons.acked[0] || !buttons.acked[1] {
		t.Errorf("buttons asked with acked %v; want the post's, then the acknowledged edit's", buttons.acked)
	}
	if !strings.Contains(posts[0].Form.Get("blocks"), "whalewatch_ack") || strings.Contains(posts[1].Form.Get("blocks"), "whalewatch_ack") {
		t.Errorf("the root has the button, its thread none: %s / %s", posts[0].Form.Get("blocks"), posts[1].Form.Get("blocks"))
	}
	root := "1700000000.000001"
	for _, p := range posts[1:] {
		if p.Form.Get("thread_ts") != root || !strings.Contains(p.Form.Get("blocks"), "web-1") {
			t.Errorf("thread reply: %v", p.Form)
		}
	}
	last := updates[1].Form.Get("blocks")
	if updates[1].Form.Get("ts") != root || !strings.Contains(last, "✅") || !strings.Contains(last, "Acknowledged by") || strings.Contains(last, "whalewatch_ack") {
		t.Errorf("resolved edit: %s", last)
	}
}

// A root message deleted in Slack (or one Slack no longer lets the bot
// edit): the incident's next alert posts a new root, which the state file
// remembers, and its resolution edits that one and goes into its thread;
// nothing is lost and nothing fails.
func TestBotPostsANewRootWhenItsMessageIsGone(t *testing.T) {
	for _, code := range []string{"message_not_found", "cant_update_message", "edit_window_closed"} {
		t.Run(code, func(t *testing.T) {
			api := slackstub.New(t)
			store := threads(t)
			opened := crash("web-1")
			opened.Incident = &notify.Incident{ID: "inc_1", Status: notify.Firing, Seq: 1, Alerts: 1}
			again := crash("web-1")
			again.Incident = &notify.Incident{ID: "inc_1", Status: notify.Firing, Seq: 2, Alerts: 2}
			resolved := crash("web-1")
			resolved.Text = "Resolved: container web-1 has been running for 1m0s (2 alerts in 3m0s)"
			resolved.Incident = &notify.Incident{ID: "inc_1", Status: notify.Resolved, Seq: 3, Alerts: 2}
			group := crash("web-2")
			group.Group = &notify.Group{Key: "g1", Seq: 1, Count: 1}
			groupMore := crash("web-3")
			groupMore.Text = "CRASHED: 1 more match (2 in all): web-3 (exit 137)"
			groupMore.Group = &notify.Group{Key: "g1", Seq: 2, Count: 2, New: []string{"web-3"}}

			notifyAll := func(ns ...notify.Notification) {
				for _, n := range ns {
					bot := slack.NewBot("xoxb-test", "C123", api.APIURL(), http.DefaultClient, slack.NewWorkspace(100), store, nil)
					if retry, err := bot.Notify(context.Background(), n); err != nil {
						t.Fatalf("retry %v: %v", retry, err)
					}
				}
			}
			notifyAll(opened, group)
			oldRoot, _ := store.Thread("inc_1")
			oldGroup, _ := store.Thread("g1")
			if code == "message_not_found" {
				if _, _, err := goslack.New("xoxb-test", goslack.OptionAPIURL(api.APIURL())).DeleteMessage("C123", oldRoot.TS); err != nil {
					t.Fatal(err)
				}
			} else {
				api.RefuseEdits(oldRoot.TS, code)
			}
			api.RefuseEdits(oldGroup.TS, code)
			notifyAll(again, groupMore)

			newRoot, _ := store.Thread("inc_1")
			newGroup, _ := store.Thread("g1")
			if newRoot.TS == oldRoot.TS || newGroup.TS == oldGroup.TS {
				t.Fatalf("roots not replaced: incident %s → %s, group %s → %s", oldRoot.TS, newRoot.TS, oldGroup.TS, newGroup.TS)
			}
			var reposted bool
			for _, p := range api.Calls("chat.postMessage") {
				if p.Form.Get("ts") == "" && p.Form.Get("thread_ts") == "" && strings.Contains(p.Form.Get("blocks"), "2 alerts") {
					reposted = true
				}
			}
			if !reposted {
				t.Errorf("the incident's news was not posted as a new root: %v", api.Calls("chat.postMessage"))
			}

			notifyAll(resolved)
			updates := api.Calls("chat.update")
			last := updates[len(updates)-1]
			if last.Form.Get("ts") != newRoot.TS || !strings.Contains(last.Form.Get("blocks"), "✅") {
				t.Errorf("resolution edited %s, want the new root %s: %s", last.Form.Get("ts"), newRoot.TS, last.Form.Get("blocks"))
			}
			posts := api.Calls("chat.postMessage")
			if reply := posts[len(posts)-1]; reply.Form.Get("thread_ts") != newRoot.TS {
				t.Errorf("resolution's card went to thread %q, want %q", reply.Form.Get("thread_ts"), newRoot.TS)
			}
		})
	}
}

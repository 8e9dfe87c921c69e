package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/slackstub"
	"github.com/whalewatch/whalewatch/internal/smtpstub"
	"github.com/whalewatch/whalewatch/internal/testdocker"
	"github.com/whalewatch/whalewatch/notify/webhook"
)

// ntfyStub is an ntfy-style endpoint on 127.0.0.1 that keeps each
// request's path and body.
type ntfyStub struct {
	*httptest.Server
	mu   sync.Mutex
	msgs []string // "path body"
}

func newNtfyStub(t *testing.T) *ntfyStub {
	s := &ntfyStub{}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		s.mu.Lock()
		s.msgs = append(s.msgs, r.URL.Path+" "+string(b))
		s.mu.Unlock()
		announce()
		_, _ = w.Write([]byte(`{"id":"x"}`))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *ntfyStub) about(name string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, m := range s.msgs {
		if strings.Contains(m, name) {
			out = append(out, m)
		}
	}
	return out
}

// slackAbout joins the text and blocks of every Slack call that mentions name.
func slackAbout(api *slackstub.Server, method, name string) string {
	var b strings.Builder
	for _, c := range api.Calls(method) {
		if all := c.Form.Get("text") + c.Form.Get("blocks"); strings.Contains(all, name) {
			b.WriteString(all + "\n")
		}
	}
	return b.String()
}

// The crash card end to end on the real daemon: a container's last
// stderr line reaches Slack, the webhook, ntfy and an email; an unhealthy
// container's card has its probe output; a restart-always container that
// recovers resolves its incident by editing the same Slack message and
// with a webhook "resolved" under the same incident id; a container's
// labels route its alert and mention its owner.
func TestCrashCardIncidentsAndRouting(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)
	api := slackstub.New(t)
	ntfy := newNtfyStub(t)
	mail := smtpstub.Start(t)
	start(t, ungrouped(
		"WEBHOOK_URL="+sink.URL+"/hook",
		"SLACK_BOT_TOKEN=xoxb-e2e", "SLACK_CHANNEL=C0ALERTS", "SLACK_API_URL="+api.APIURL(), "SLACK_RATE_PER_SECOND=50",
		"DEST_NTFY_TYPE=shoutrrr", "DEST_NTFY_URL=ntfy://"+strings.TrimPrefix(ntfy.URL, "http://")+"/whalewatch?disabletls=yes",
		"DEST_MAIL_TYPE=shoutrrr", "DEST_MAIL_URL=smtp://"+mail.Addr+"/?from=whalewatch@example.test&to=oncall@example.test&auth=None&encryption=None&usestarttls=no",
		"RESOLVE_AFTER=2s", "LINK_TEMPLATE=https://logs.example.test/container/{{.Name}}",
	)...)
	const line = "fatal: cannot open /etc/app.conf"
	crash := testdocker.Run(t, c, testdocker.Spec{Name: "card", Args: []string{"say", line, "3"}}).Name
	sick := testdocker.Run(t, c, testdocker.Spec{Name: "sick", Args: []string{"sleep"},
		Health: &container.HealthConfig{Test: []string{"CMD", "/testprog", "unhealthy"}, Interval: 200 * time.Millisecond, Retries: 1}}).Name
	flaky := testdocker.Run(t, c, testdocker.Spec{Name: "flaky", Args: []string{"flaky", "2"}, Restart: container.RestartPolicyAlways}).Name
	routed := testdocker.Run(t, c, testdocker.Spec{Name: "routed", Args: []string{"exit", "4"},
		Labels: map[string]string{"whalewatch.notify": "slack,ntfy", "whalewatch.owner": "U0OWNER1"}}).Name

	// The crash card, everywhere.
	eventually(t, "the crash card on every destination", 30*time.Second, func() bool {
		return len(sink.about(crash)) > 0 && len(ntfy.about(crash)) > 0 && strings.Contains(slackAbout(api, "chat.postMessage", crash), line)
	})
	card := sink.about(crash)[0]
	if card.Evidence == nil || len(card.Evidence.Logs) == 0 {
		t.Fatalf("webhook card has no evidence: %+v", card)
	}
	// stdout and stderr reach the log driver through separate pipes: their
	// order between the streams is the driver's.
	if !slices.Contains(card.Evidence.Logs, event.LogLine{Stream: "stderr", Text: line}) {
		t.Errorf("lines = %+v, want stderr %q among them", card.Evidence.Logs, line)
	}
	if card.Status != "firing" || card.Incident == nil || card.Link != "https://logs.example.test/container/"+crash {
		t.Errorf("card status %q, incident %+v, link %q", card.Status, card.Incident, card.Link)
	}
	if got := ntfy.about(crash)[0]; !strings.HasPrefix(got, "/whalewatch ") || !strings.Contains(got, "err| "+line) {
		t.Errorf("ntfy got %q", got)
	}
	if post := slackAbout(api, "chat.postMessage", crash); !strings.Contains(post, "Last output") || !strings.Contains(post, "Open logs") {
		t.Errorf("slack card lacks the output or the link: %s", post)
	}

	// The unhealthy card carries the probe's output.
	eventually(t, "the unhealthy card", 30*time.Second, func() bool { return len(sink.about(sick)) > 0 })
	if ev := sink.about(sick)[0].Evidence; ev == nil || len(ev.Health) == 0 || !strings.Contains(ev.Health[len(ev.Health)-1].Output, "backend unreachable") {
		t.Errorf("unhealthy card evidence = %+v", ev)
	}

	// The flaky container crashes twice, then stays up: its incident
	// resolves, in the same Slack message and under the same id.
	eventually(t, "the flaky container's incident resolved", 40*time.Second, func() bool {
		return len(sink.where(func(p webhook.Payload) bool { return p.Name == flaky && p.Status == "resolved" })) > 0
	})
	var incident string
	for _, p := range sink.about(flaky) {
		if p.Incident == nil {
			t.Fatalf("flaky alert without an incident: %+v", p)
		}
		if incident == "" {
			incident = p.Incident.ID
		}
		if p.Incident.ID != incident {
			t.Errorf("flaky container's alerts are in two incidents: %s and %s", incident, p.Incident.ID)
		}
	}
	eventually(t, "slack edits the flaky root message to resolved", 20*time.Second, func() bool {
		return strings.Contains(slackAbout(api, "chat.update", flaky), "Resolved")
	})
	roots := 0
	for _, call := range api.Calls("chat.postMessage") {
		if strings.Contains(call.Form.Get("text"), flaky) && call.Form.Get("thread_ts") == "" {
			roots++
		}
	}
	if roots != 1 {
		t.Errorf("flaky container: %d root messages in the channel, want 1 edited in place", roots)
	}

	// Routed by its labels: Slack (mentioning its owner) and ntfy, not the webhook.
	sentinel := testdocker.Run(t, c, testdocker.Spec{Name: "sentinel", Args: []string{"exit", "5"}}).Name
	eventually(t, "the routed alert and the sentinel", 30*time.Second, func() bool {
		return len(ntfy.about(routed)) > 0 && strings.Contains(slackAbout(api, "chat.postMessage", routed), routed) && len(sink.about(sentinel)) > 0
	})
	if got := sink.about(routed); len(got) != 0 {
		t.Errorf("the webhook got an alert routed elsewhere: %+v", got)
	}
	if post := slackAbout(api, "chat.postMessage", routed); !strings.Contains(post, "\u003c@U0OWNER1\u003e") && !strings.Contains(post, `\u003c@U0OWNER1\u003e`) {
		t.Errorf("owner not mentioned: %s", post)
	}

	// The mail destination got the crash card too.
	deadline := time.After(30 * time.Second)
	for {
		select {
		case m := <-mail.Mails:
			if strings.Contains(m.Data, crash) {
				if !strings.Contains(m.Data, line) || m.To[0] != "oncall@example.test" {
					t.Errorf("mail = %+v", m)
				}
				return
			}
		case <-deadline:
			t.Fatal("no mail about the crash")
		}
	}
}

// Opt-in mode (WATCH_BY_DEFAULT=false): only containers labelled
// whalewatch.enable=true are reported.
func TestOptInIgnoresUnlabelledContainers(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)
	start(t, ungrouped("WEBHOOK_URL="+sink.URL+"/hook", "WATCH_BY_DEFAULT=false")...)
	enabled := map[string]string{"whalewatch.enable": "true"}
	plain := testdocker.Run(t, c, testdocker.Spec{Name: "plain", Args: []string{"exit", "3"}})
	chosen := testdocker.Run(t, c, testdocker.Spec{Name: "chosen", Args: []string{"exit", "3"}, Labels: enabled}).Name
	// The sentinel dies after plain did (so plain's death was read before
	// it); the chosen one's card may come after the sentinel's (each waits
	// for its own evidence), so both are waited for.
	testdocker.WaitStopped(t, c, plain.ID, 30*time.Second)
	sentinel := testdocker.Run(t, c, testdocker.Spec{Name: "sentinel", Args: []string{"exit", "5"}, Labels: enabled}).Name
	eventually(t, "the chosen one and the sentinel", 30*time.Second, func() bool {
		return len(sink.about(sentinel)) > 0 && len(sink.about(chosen)) > 0
	})
	if len(sink.about(chosen)) != 1 || len(sink.about(plain.Name)) != 0 {
		t.Errorf("opted in: %d alerts (want 1); not opted in: %d (want 0)", len(sink.about(chosen)), len(sink.about(plain.Name)))
	}
}

package shoutrrr

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/smtpstub"
	"github.com/whalewatch/whalewatch/notify"
)

// card is a crash with evidence, as the core makes it.
func card() notify.Notification {
	ev := event.Event{Host: "h1", Type: "container", Action: "die", ActorID: "c1", Name: "web", Image: "shop/web", ExitCode: 3,
		Time:     time.Unix(1_700_000_000, 0).UTC(),
		Evidence: &event.Evidence{RestartCount: 2, Logs: []event.LogLine{{Stream: "stderr", Text: "fatal: config missing"}}}}
	return notify.New("CRASHED", "", ev, nil)
}

type request struct {
	path, query, body string
	header            http.Header
}

// server records what the library sends, answering with status.
func server(t *testing.T, status int) (string, chan request) {
	got := make(chan request, 10)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- request{r.URL.Path, r.URL.RawQuery, string(body), r.Header}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{}`))
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), got
}

// Each service is sent the plain-text card, at the path its API uses.
func TestServicesReceiveTheCard(t *testing.T) {
	for name, tc := range map[string]struct{ url, path string }{
		"ntfy":    {"ntfy://%s/whalewatch-alerts?disabletls=yes", "/whalewatch-alerts"},
		"gotify":  {"gotify://%s/Aapptoken123456?disabletls=yes", "/message"},
		"generic": {"generic://%s/hooks/incoming?disabletls=yes", "/hooks/incoming"},
	} {
		t.Run(name, func(t *testing.T) {
			host, got := server(t, http.StatusOK)
			n, err := New(strings.Replace(tc.url, "%s", host, 1), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if retry, err := n.Notify(context.Background(), card()); err != nil {
				t.Fatalf("retry=%v err=%v", retry, err)
			}
			r := <-got
			if r.path != tc.path || !strings.Contains(r.body, "fatal: config missing") || !strings.Contains(r.body, "web died: exit code 3") {
				t.Errorf("%s got path %s body %q", name, r.path, r.body)
			}
		})
	}
}

// A failing service is retried by the Dispatcher, and its error never
// carries the URL's token.
func TestFailureIsRetriedAndHidesTheToken(t *testing.T) {
	host, _ := server(t, http.StatusInternalServerError)
	n, err := New("gotify://"+host+"/Asecrettoken999?disabletls=yes", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	retry, err := n.Notify(context.Background(), card())
	if err == nil || !retry || strings.Contains(err.Error(), "Asecrettoken999") {
		t.Errorf("retry=%v err=%v; want a retryable error without the token", retry, err)
	}
}

func TestBadURLsAreRefusedWithoutTheirSecrets(t *testing.T) {
	for _, raw := range []string{"nosuchservice://x/y", "ntfy", "smtp://user:hunter2@mail.example:587/?from=a@b.c"} {
		err := Check(raw)
		if err == nil {
			t.Errorf("%q accepted", raw)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%q: error shows the password: %v", raw, err)
		}
	}
}

// An SMTP destination delivers the card as a mail to a real (local) server.
func TestEmailArrives(t *testing.T) {
	srv := smtpstub.Start(t)
	host, port, _ := strings.Cut(srv.Addr, ":")
	n, err := New("smtp://"+host+":"+port+"/?from=whalewatch@example.test&to=oncall@example.test&auth=None&encryption=None&usestarttls=no", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if retry, err := n.Notify(context.Background(), card()); err != nil {
		t.Fatalf("retry=%v err=%v", retry, err)
	}
	select {
	case m := <-srv.Mails:
		if m.To[0] != "oncall@example.test" || !strings.Contains(m.Data, "Subject: CRASHED: web") || !strings.Contains(m.Data, "fatal: config missing") {
			t.Errorf("mail = %+v", m)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no mail")
	}
}

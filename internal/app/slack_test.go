package app

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
)

// An Acknowledge click on an incident's Slack message reaches PagerDuty
// (acknowledge, same dedup_key) and Opsgenie (acknowledge by alias)
// through the outbox; other destinations are not told.
func TestAcknowledgeReachesThePagers(t *testing.T) {
	reqs := make(chan string, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var pd struct {
			Action string `json:"event_action"`
			Key    string `json:"dedup_key"`
		}
		_ = json.Unmarshal(body, &pd)
		reqs <- r.URL.Path + "?" + r.URL.RawQuery + " " + pd.Action + " " + pd.Key
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	cfg, err := config.Load([]string{
		"DEST_PD_TYPE=pagerduty", "DEST_PD_ROUTING_KEY=R0123456789abcdef0123456789abcde", "DEST_PD_URL=" + srv.URL + "/v2/enqueue",
		"DEST_OG_TYPE=opsgenie", "DEST_OG_API_KEY=k", "DEST_OG_URL=" + srv.URL,
		"DEST_HOOK_TYPE=webhook", "DEST_HOOK_URL=" + srv.URL + "/hook",
	})
	if err != nil {
		t.Fatal(err)
	}
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dispatcher, _, err := newDispatcher(cfg, log, metrics.New(), store, io.Discard, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.SaveThread("inc_42", state.Thread{Channel: "COPS", TS: "1.2", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	forwardAcks(cfg, log, store, dispatcher)("COPS", "1.2", "U0BOB", time.Now())
	// Queued for the pagers only (before any delivery runs).
	if store.Len("pd") != 1 || store.Len("og") != 1 || store.Len("hook") != 0 {
		t.Fatalf("queued: pd %d, og %d, hook %d", store.Len("pd"), store.Len("og"), store.Len("hook"))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- dispatcher.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var got []string
	for len(got) < 2 {
		select {
		case r := <-reqs:
			got = append(got, r)
		case <-time.After(20 * time.Second):
			t.Fatalf("timed out waiting for both pagers; told: %q", got)
		}
	}
	joined := strings.Join(got, "\n")
	if !strings.Contains(joined, "/v2/enqueue? acknowledge inc_42") ||
		!strings.Contains(joined, "/v2/alerts/inc_42/acknowledge?identifierType=alias") {
		t.Errorf("requests:\n%s", joined)
	}
}

// whalewatch knows its own container from the mounts Docker makes, else
// from the short ID Docker gives as the host name.
func TestContainerID(t *testing.T) {
	id := "4f3c2b1a0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b"
	for _, tc := range []struct {
		desc, mountinfo, hostname, want string
	}{
		{"from the mounts", "1 2 0:3 /var/lib/docker/containers/" + id + "/hostname /etc/hostname rw\n", "web", id},
		{"the mounts before the host name", "/var/lib/docker/containers/" + id + "/resolv.conf", "0123456789ab", id},
		{"from the short ID as host name", "1 2 0:3 / / rw", "0123456789ab", "0123456789ab"},
		{"a host name that is no ID", "", "buildhost-01", ""},
		{"a host name of 12 letters that is no ID", "", "web-frontend", ""},
		{"a shortened ID in the mounts", "/containers/4f3c2b1a/hostname", "", ""},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			if got := containerID([]byte(tc.mountinfo), tc.hostname); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

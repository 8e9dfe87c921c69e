package app

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify/kinds"
)

// built is what the table expects of one destination: its name, the type
// of its notifier and its concurrency.
type built struct {
	name, notifier string
	concurrency    int
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func tempStore(t *testing.T) *state.Store {
	t.Helper()
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	return store
}

// Every kind of destination, from the environment as a user writes it, is
// built into its notifier with the kind's concurrency unless one is set;
// only Alertmanager runs a loop beside the dispatcher (its re-sends).
func TestDestinationsFromConfig(t *testing.T) {
	for _, tc := range []struct {
		desc  string
		env   []string
		want  []built
		loops int
	}{
		{desc: "nothing configured: stdout", want: []built{{"stdout", "*stdout.Notifier", 1}}},
		{desc: "webhook", env: []string{"WEBHOOK_URL=http://127.0.0.1:1/"}, want: []built{{"webhook", "*webhook.Notifier", 8}}},
		{desc: "webhook with its concurrency", env: []string{"WEBHOOK_URL=http://127.0.0.1:1/", "WEBHOOK_CONCURRENCY=3"},
			want: []built{{"webhook", "*webhook.Notifier", 3}}},
		{desc: "slack bot", env: []string{"SLACK_BOT_TOKEN=xoxb-1", "SLACK_CHANNEL=C1"}, want: []built{{"slack", "*slack.Bot", 1}}},
		{desc: "slack webhook", env: []string{"SLACK_WEBHOOK_URL=https://hooks.slack.com/services/T/B/x"},
			want: []built{{"slack_webhook", "*slack.Webhook", 1}}},
		{desc: "shoutrrr", env: []string{"DEST_NTFY_TYPE=shoutrrr", "DEST_NTFY_URL=ntfy://ntfy.example/topic"},
			want: []built{{"ntfy", "*shoutrrr.Notifier", 4}}},
		{desc: "alertmanager cluster", env: []string{"DEST_AM_TYPE=alertmanager", "DEST_AM_URL=http://am1:9093,http://am2:9093"},
			want: []built{{"am", "*alertmanager.Notifier", 4}}, loops: 1},
		{desc: "pagerduty", env: []string{"DEST_PD_TYPE=pagerduty", "DEST_PD_ROUTING_KEY=R0123456789abcdef0123456789abcde"},
			want: []built{{"pd", "*pagerduty.Notifier", 4}}},
		{desc: "opsgenie with its concurrency", env: []string{"DEST_OG_TYPE=opsgenie", "DEST_OG_API_KEY=k", "DEST_OG_CONCURRENCY=2"},
			want: []built{{"og", "*opsgenie.Notifier", 2}}},
		{desc: "several, in order", env: []string{"DEST_A_TYPE=stdout", "DEST_B_TYPE=webhook", "DEST_B_URL=http://127.0.0.1:1/"},
			want: []built{{"a", "*stdout.Notifier", 1}, {"b", "*webhook.Notifier", 8}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, err := config.Load(tc.env)
			if err != nil {
				t.Fatal(err)
			}
			dests, loops, err := destinations(cfg, quietLog(), tempStore(t), io.Discard, nil)
			if err != nil {
				t.Fatal(err)
			}
			var got []built
			for _, d := range dests {
				got = append(got, built{d.Name, fmt.Sprintf("%T", d.Notifier), d.Concurrency})
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) || len(loops) != tc.loops {
				t.Errorf("built %v with %d loops, want %v with %d", got, len(loops), tc.want, tc.loops)
			}
		})
	}
}

// A destination its package refuses is an error naming the destination,
// and no dispatcher is made.
func TestDestinationRefusedNamesIt(t *testing.T) {
	for _, tc := range []struct {
		desc string
		dest kinds.Destination
		want string
	}{
		{"shoutrrr service unknown", kinds.Destination{Name: "pigeon", Kind: kinds.Shoutrrr, URL: "carrierpigeon://coop/1"}, "destination pigeon: "},
		{"webhook template", kinds.Destination{Name: "hook", Kind: kinds.Webhook, URL: "http://127.0.0.1:1/", Template: "{{.name"}, "destination hook: "},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg := &config.Config{Delivery: config.Delivery{Destinations: []kinds.Destination{tc.dest}}}
			d, _, err := newDispatcher(cfg, quietLog(), nil, tempStore(t), io.Discard, nil)
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) || d != nil {
				t.Errorf("got %v, %v; want an error starting %q", d, err, tc.want)
			}
		})
	}
}

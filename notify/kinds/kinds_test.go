package kinds

import (
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/slack"
)

// Every kind has a name, a concurrency, a check and a constructor, and a
// minimal valid destination of it passes its check and builds.
func TestTable(t *testing.T) {
	store, err := state.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	shared := Shared{HTTP: http.DefaultClient, Timeout: time.Second, SlackAPIURL: "https://slack.example/api/",
		Workspace: slack.NewWorkspace(1), Store: store, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Severity: notify.DefaultSeverity, Stdout: io.Discard}
	minimal := map[string]Destination{
		Stdout:       {},
		Webhook:      {URL: "https://hooks.example/x"},
		Slack:        {Token: "xoxb-1", Channel: "C1"},
		SlackWebhook: {URL: "https://hooks.slack.example/x"},
		Shoutrrr:     {URL: "generic://hooks.example/x"},
		Alertmanager: {URL: "http://am1.example:9093, http://am2.example:9093", Resend: time.Minute},
		PagerDuty:    {RoutingKey: strings.Repeat("a", 32)},
		Opsgenie:     {APIKey: "key"},
	}
	for _, k := range Table {
		t.Run(k.Name, func(t *testing.T) {
			if k.Name == "" || k.Concurrency < 1 || k.Check == nil || k.New == nil {
				t.Fatalf("incomplete row: %+v", k)
			}
			d, ok := minimal[k.Name]
			if !ok {
				t.Fatalf("no minimal destination of %s in this test", k.Name)
			}
			d.Name, d.Kind = "x", k.Name
			if errs := k.Check("DEST_X_", &d); len(errs) > 0 {
				t.Fatalf("check: %v", errs)
			}
			dest, loop, err := Build(Spec{Destination: d, Shared: shared})
			if err != nil {
				t.Fatal(err)
			}
			if dest.Notifier == nil || dest.Concurrency != k.Concurrency || dest.Name != "x" {
				t.Errorf("built %+v", dest)
			}
			if (loop != nil) != (k.Name == Alertmanager) {
				t.Errorf("loop %v: only Alertmanager runs one", loop != nil)
			}
		})
	}
	if len(minimal) != len(Table) {
		t.Errorf("the test knows %d kinds, the table has %d", len(minimal), len(Table))
	}
}

// The checks derive what the constructors need: Alertmanager's members,
// the pagers' default URLs.
func TestCheckCompletes(t *testing.T) {
	for _, tc := range []struct {
		desc string
		in   Destination
		want Destination
	}{
		{"alertmanager members", Destination{Kind: Alertmanager, URL: "http://a:9093, http://b:9093", Resend: time.Minute},
			Destination{Kind: Alertmanager, URL: "http://a:9093, http://b:9093", Resend: time.Minute, URLs: []string{"http://a:9093", "http://b:9093"}}},
		{"pagerduty default URL", Destination{Kind: PagerDuty, RoutingKey: strings.Repeat("b", 32)},
			Destination{Kind: PagerDuty, RoutingKey: strings.Repeat("b", 32), URL: "https://events.pagerduty.com/v2/enqueue"}},
	} {
		k, _ := Lookup(tc.in.Kind)
		d := tc.in
		if errs := k.Check("DEST_X_", &d); len(errs) > 0 || d.URL != tc.want.URL || !slices.Equal(d.URLs, tc.want.URLs) {
			t.Errorf("%s: got %+v, %v; want %+v", tc.desc, d, errs, tc.want)
		}
	}
}

// A missing setting is named with the destination's prefix.
func TestCheckNamesVariable(t *testing.T) {
	for _, k := range Table {
		if k.Name == Stdout {
			continue
		}
		d := Destination{Kind: k.Name}
		errs := k.Check("DEST_X_", &d)
		if len(errs) == 0 {
			t.Errorf("%s: an empty destination passes", k.Name)
			continue
		}
		for _, err := range errs {
			if !strings.HasPrefix(err.Error(), "DEST_X_") {
				t.Errorf("%s: %v does not name its variable", k.Name, err)
			}
		}
	}
}

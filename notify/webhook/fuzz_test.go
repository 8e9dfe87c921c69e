package webhook_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/webhook"
)

// Whatever strings an event carries, the default body and a template
// body are valid JSON, and the name arrives as it was.
func FuzzWebhookBodyIsValidJSON(f *testing.F) {
	var got []byte
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = io.ReadAll(r.Body)
	}))
	defer srv.Close()
	plain, err := webhook.New(webhook.Config{URL: srv.URL}, srv.Client())
	if err != nil {
		f.Fatal(err)
	}
	templated, err := webhook.New(webhook.Config{URL: srv.URL, Template: `{"text": "{{.summary}}", "who": "{{.name}}", "code": {{.exit_code}}, "card": "{{.card}}", "first": "{{with .evidence}}{{range .logs}}{{.text}}{{end}}{{end}}"}`}, srv.Client())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(`web "1"`, "\\", "</script>")
	f.Add("\x00\xff\u2028", `{{.}}`, `","x":"`)
	f.Fuzz(func(t *testing.T, name, image, label string) {
		n := notify.New("CRASHED", "", event.Event{Type: "container", Action: "die", Name: name, Image: image, ExitCode: 3,
			Labels: map[string]string{"team": label}, Attributes: map[string]string{"exitCode": "3"},
			Evidence: &event.Evidence{Logs: []event.LogLine{{Stream: "stderr", Text: label}}}}, []string{"team"})
		for _, w := range []*webhook.Notifier{plain, templated} {
			if _, err := w.Notify(context.Background(), n); err != nil {
				t.Fatalf("notify: %v", err)
			}
			var body map[string]any
			if err := json.Unmarshal(got, &body); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, got)
			}
			if w == templated && !validUTF8Equal(body["who"], name) {
				t.Errorf("name %q arrived as %q", name, body["who"])
			}
		}
	})
}

// validUTF8Equal compares after JSON's own repair of invalid UTF-8.
func validUTF8Equal(got any, want string) bool {
	repaired, _ := json.Marshal(want)
	var w string
	_ = json.Unmarshal(repaired, &w)
	return got == w
}

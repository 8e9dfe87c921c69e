package webhook_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/webhook"
)

// BenchmarkBody is one webhook post to a local sink, with the default
// body and with a body template (rendering included).
func BenchmarkBody(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = io.Copy(io.Discard, r.Body) }))
	defer srv.Close()
	n := notify.New("CRASHED", "", event.Event{Type: "container", Action: "die", Name: "web-1", Image: "shop/web:1", ExitCode: 3,
		Labels: map[string]string{"com.docker.compose.project": "shop"}, Attributes: map[string]string{"exitCode": "3"}}, []string{"com.docker.compose.project"})
	for name, tmpl := range map[string]string{"default": "", "template": `{"text": "{{.summary}}", "who": "{{.name}}", "code": {{.exit_code}}}`} {
		w, err := webhook.New(webhook.Config{URL: srv.URL, Template: tmpl}, srv.Client())
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := w.Notify(context.Background(), n); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package actions

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/internal/grants"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/slackstub"
)

// idleDocker answers like a daemon with no containers.
type idleDocker struct{ Docker }

func (idleDocker) ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error) {
	return client.ContainerListResult{}, nil
}

// BenchmarkSlashCommandAck is the cost of answering a slash command over
// HTTP: size limit, signature check, replay check, parse, authorize the
// caller, queue the work, acknowledge.
func BenchmarkSlashCommandAck(b *testing.B) {
	const secret = "bench-secret"
	svc := NewService(OneHost(idleDocker{}), grants.Policy{Users: []string{"U1"}, Channels: []string{"C1"}}, tempStore(b), slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.New())
	svc.PerMinute = 1 << 30
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = svc.Run(ctx) }()
	mux := http.NewServeMux()
	NewHTTPHandler(svc, secret).Register(mux)
	ts := fmt.Sprint(time.Now().Unix())
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := url.Values{"command": {"/docker"}, "text": {"start web"}, "user_id": {"U1"}, "channel_id": {"C1"},
			"response_url": {""}, "trigger_id": {fmt.Sprint(i)}}.Encode()
		req := httptest.NewRequest(http.MethodPost, "/slack/commands", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", slackstub.Sign(secret, ts, []byte(body)))
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, req)
		if rec.Code != 200 {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
}

package events

import (
	"context"
	"testing"
	"time"

	mobyevents "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// versionDocker tells a version in /info and speaks an API version.
type versionDocker struct{ fakeDocker }

func (v *versionDocker) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	return client.SystemInfoResult{Info: system.Info{ID: "daemon-1", ServerVersion: "20.10.24"}}, nil
}

func (v *versionDocker) ClientVersion() string { return "1.41" }

// Status tells the stream's state, the daemon's and the API's versions,
// and the last live event with its lag.
func TestStatus(t *testing.T) {
	d := &versionDocker{fakeDocker{messages: make(chan mobyevents.Message)}}
	src := NewSource("h", d, Options{Log: quiet(), Metrics: metrics.New()})
	if st := src.Status(); st.Open || st.Connected || !st.LastEvent.IsZero() || st.APIVersion != "1.41" {
		t.Fatalf("before Run: %+v", st)
	}
	out := run(t, src, 10)
	at := time.Now().Add(-time.Second)
	d.messages <- msg("die", "c1", at.UnixNano(), map[string]string{"exitCode": "1"})
	until(t, out, func(ev event.Event) bool { return ev.Action == "die" })
	st := src.Status()
	if !st.Open || !st.Connected || st.Version != "20.10.24" || !st.LastEvent.Equal(time.Unix(0, at.UnixNano())) || st.Lag < time.Second {
		t.Errorf("streaming: %+v", st)
	}
}

package events

import (
	"context"
	"io"
	"log/slog"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/internal/metrics"
)

// fakeDocker streams what the test sends; other calls answer empty.
type fakeDocker struct {
	Docker
	messages chan events.Message
}

func (f *fakeDocker) ContainerList(context.Context, client.ContainerListOptions) (client.ContainerListResult, error) {
	return client.ContainerListResult{}, nil
}

func (f *fakeDocker) Events(context.Context, client.EventsListOptions) client.EventsResult {
	return client.EventsResult{Messages: f.messages, Err: make(chan error)}
}

// A full queue never blocks the reader: the loss is counted and reported
// once there is room again.
func TestSourceReportsOverflow(t *testing.T) {
	f := &fakeDocker{messages: make(chan events.Message)}
	m := metrics.New()
	src := NewSource("h", f, slog.New(slog.NewTextHandler(io.Discard, nil)), m)
	out := make(chan Event, 2)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = src.Run(ctx, out); close(done) }()
	defer func() { cancel(); <-done }()

	for i := range 10 {
		select {
		case f.messages <- events.Message{Type: "container", Action: "die", Actor: events.Actor{ID: "c"}, TimeNano: int64(i + 1)}:
		case <-time.After(time.Second):
			t.Fatalf("reader blocked at message %d", i)
		}
	}
	// What fitted and what the report counts make all ten.
	passed, dropped := 0, 0
	for {
		select {
		case ev := <-out:
			if ev.Type != SelfType {
				passed++
				continue
			}
			if ev.Action != "events_dropped" {
				t.Fatalf("unexpected %+v", ev)
			}
			n, _ := strconv.Atoi(ev.Attributes["count"])
			dropped += n
		case <-time.After(1500 * time.Millisecond):
			if dropped == 0 || passed+dropped != 10 {
				t.Errorf("%d passed and %d reported dropped; want ten in all, some dropped", passed, dropped)
			}
			return
		}
	}
}

package events

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
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
	out := make(chan event.Event, 2)
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
			if ev.Type != event.SelfType {
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

// oomDocker says every container was OOM-killed.
type oomDocker struct{ fakeDocker }

func (oomDocker) ContainerInspect(context.Context, string, client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	var res client.ContainerInspectResult
	res.Container.State = &container.State{OOMKilled: true, ExitCode: 137}
	return res, nil
}

// The daemon may send the oom event after the die, or not at all. An
// unexplained SIGKILL death waits a moment for it; past that, the source
// asks the daemon, stands in for the event once and drops a late original.
func TestSourceReportsAnOOMKillOnceWhateverTheOrder(t *testing.T) {
	for _, tc := range []struct {
		name    string
		oomLate time.Duration
	}{{"oom just after the die", 0}, {"oom long after the die", 1500 * time.Millisecond}} {
		t.Run(tc.name, func(t *testing.T) {
			f := &oomDocker{fakeDocker{messages: make(chan events.Message)}}
			src := NewSource("h", f, slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.New())
			out := make(chan event.Event, 10)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { _ = src.Run(ctx, out); close(done) }()
			defer func() { cancel(); <-done }()
			f.messages <- events.Message{Type: "container", Action: "die", TimeNano: 1, Actor: events.Actor{ID: "c1", Attributes: map[string]string{"name": "db", "exitCode": "137"}}}
			time.Sleep(tc.oomLate)
			f.messages <- events.Message{Type: "container", Action: "oom", TimeNano: 2, Actor: events.Actor{ID: "c1", Attributes: map[string]string{"name": "db"}}}
			var got []string
			for len(got) < 2 {
				select {
				case ev := <-out:
					got = append(got, fmt.Sprintf("%s/%v", ev.Action, ev.OOMKilled))
				case <-time.After(3 * time.Second):
					t.Fatalf("got %v", got)
				}
			}
			select {
			case ev := <-out:
				t.Errorf("a second oom came through: %+v", ev)
			case <-time.After(300 * time.Millisecond):
			}
			if strings.Join(got, " ") != "oom/false die/true" {
				t.Errorf("events = %v, want one oom, then the die marked OOMKilled", got)
			}
		})
	}
}

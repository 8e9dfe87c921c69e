package events

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	mobyevents "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	dto "github.com/prometheus/client_model/go"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

func TestCleanLine(t *testing.T) {
	for in, want := range map[string]string{
		"\x1b[31mERROR\x1b[0m: boom":          "ERROR: boom",
		"\x1b]0;title\x07plain":               "plain",
		"a\tb\rc\x00d":                        "a bcd",
		"DB_PASSWORD=hunter2 connecting":      "DB_PASSWORD=[redacted] connecting",
		"bad utf8 \xff end":                   "bad utf8 ? end",
		strings.Repeat("x", 400):              strings.Repeat("x", 299) + "…",
		"  trailing   ":                       "  trailing",
		"<!channel> <@U123> stays text here ": "<!channel> <@U123> stays text here",
	} {
		if got := CleanLine(in); got != want {
			t.Errorf("CleanLine(%q) = %q, want %q", in, got, want)
		}
	}
}

// multiplexed frames lines the way the daemon does for a container without a TTY.
func multiplexed(lines ...[2]string) []byte {
	var buf bytes.Buffer
	for _, l := range lines {
		stream := stdcopy.Stdout
		if l[0] == "stderr" {
			stream = stdcopy.Stderr
		}
		header := [8]byte{byte(stream)}
		binary.BigEndian.PutUint32(header[4:], uint32(len(l[1])))
		buf.Write(header[:])
		buf.WriteString(l[1])
	}
	return buf.Bytes()
}

func TestSplitLogsKeepsOrderAndStreams(t *testing.T) {
	data := multiplexed([2]string{"stdout", "starting\npart"}, [2]string{"stderr", "fatal: no config\n"}, [2]string{"stdout", "ial line\n"})
	lines, err := splitLogs(bytes.NewReader(data), false)
	if err != nil {
		t.Fatal(err)
	}
	want := []event.LogLine{{Stream: "stdout", Text: "starting"}, {Stream: "stderr", Text: "fatal: no config"}, {Stream: "stdout", Text: "partial line"}}
	if len(lines) != len(want) {
		t.Fatalf("lines = %+v, want %+v", lines, want)
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d = %+v, want %+v", i, lines[i], want[i])
		}
	}
}

func TestBoundLinesKeepsTheLastWithinTheBudget(t *testing.T) {
	var lines []event.LogLine
	for range 100 {
		lines = append(lines, event.LogLine{Stream: "stdout", Text: strings.Repeat("y", 200)})
	}
	got, note := boundLines(lines, 50)
	if len(got) != maxEvidenceLogs/200 || note == "" {
		t.Errorf("kept %d lines, note %q; want %d and a note", len(got), note, maxEvidenceLogs/200)
	}
	if got, note := boundLines(lines[:3], 20); len(got) != 3 || note != "" {
		t.Errorf("short logs: kept %d, note %q", len(got), note)
	}
}

// logsDocker answers inspect with a fixed container and logs with fixed
// output; a container named in slow gets its logs only when its context ends.
type logsDocker struct {
	fakeDocker
	ctr  container.InspectResponse
	logs []byte
	slow string
}

func (d *logsDocker) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	return client.ContainerInspectResult{Container: d.ctr}, nil
}

func (d *logsDocker) ContainerLogs(ctx context.Context, id string, _ client.ContainerLogsOptions) (client.ContainerLogsResult, error) {
	if id == d.slow {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return io.NopCloser(bytes.NewReader(d.logs)), nil
}

func evidenceSource(t *testing.T, d *logsDocker) (*Source, chan event.Item) {
	src := NewSource("h", d, Options{Log: quiet(), Metrics: metrics.New(),
		Interest: FakeInterest{Match: func(event.Event) bool { return true }}, Evidence: EvidenceOptions{LogLines: 20, LogsTimeout: time.Second}})
	return src, run(t, src, 64)
}

// A death comes with its facts: the last lines (streams marked), restart
// count, how long it ran, the image digest. Another container's events are
// not held up by a slow logs read, and the slow one still comes, without
// its lines but saying why.
func TestSourceGathersEvidenceBesideTheReader(t *testing.T) {
	d := &logsDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)},
		logs: multiplexed([2]string{"stdout", "listening on :8080\n"}, [2]string{"stderr", "panic: token=abc123 refused\n"}),
		slow: "slow"}
	d.ctr.State = &container.State{ExitCode: 3, StartedAt: "2026-11-29T10:00:00Z", FinishedAt: "2026-11-29T10:02:30Z"}
	d.ctr.RestartCount, d.ctr.Image = 4, "sha256:abc"
	_, out := evidenceSource(t, d)
	d.messages <- msg("die", "slow", 1, map[string]string{"exitCode": "1"})
	d.messages <- msg("die", "c1", 2, map[string]string{"exitCode": "3"})
	got := until(t, out, func(ev event.Event) bool { return ev.ActorID == "c1" })
	if len(got) != 1 {
		t.Fatalf("a slow logs read held up another container: %+v", got)
	}
	e := got[0].Evidence
	if e == nil || len(e.Logs) != 2 || e.Logs[1] != (event.LogLine{Stream: "stderr", Text: "panic: token=[redacted] refused"}) {
		t.Fatalf("evidence = %+v", e)
	}
	if e.RestartCount != 4 || e.ImageID != "sha256:abc" || e.Ran() != 150*time.Second {
		t.Errorf("facts = %+v (ran %s)", e, e.Ran())
	}
	// Before it, the cursor may come, moved up to it while it is held.
	rest := until(t, out, func(ev event.Event) bool { return ev.ActorID == "slow" })
	slow := rest[len(rest)-1]
	if slow.Evidence == nil || len(slow.Evidence.Logs) != 0 || !strings.Contains(slow.Evidence.LogsNote, "could not be read") {
		t.Errorf("slow container's evidence = %+v", slow.Evidence)
	}
}

// whalewatch.logs=false keeps a container's output off its card; an
// unhealthy container's card has its probe output.
func TestSourceEvidenceHonoursLogsLabelAndCarriesProbes(t *testing.T) {
	d := &logsDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, logs: multiplexed([2]string{"stdout", "secret stuff\n"})}
	d.ctr.State = &container.State{Running: true, Health: &container.Health{Status: "unhealthy", Log: []*container.HealthcheckResult{
		{ExitCode: 1, Output: "curl: (7) Failed to connect to localhost port 80\n"}}}}
	_, out := evidenceSource(t, d)
	d.messages <- msg("health_status: unhealthy", "c1", 1, map[string]string{"whalewatch.logs": "false"})
	got := until(t, out, func(event.Event) bool { return true })[0]
	e := got.Evidence
	if e == nil || len(e.Logs) != 0 || !strings.Contains(e.LogsNote, "whalewatch.logs=false") {
		t.Fatalf("evidence = %+v", e)
	}
	if len(e.Health) != 1 || e.Health[0].Output != "curl: (7) Failed to connect to localhost port 80" {
		t.Errorf("probes = %+v", e.Health)
	}
}

// A private key printed over several lines leaves none of its body on the
// card, even with the other stream's lines between its lines, or with its
// BEGIN line before the tail; the lines around it stay.
func TestSplitLogsHidesPrivateKeys(t *testing.T) {
	body := []string{"MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF0qNr1ADBs8rwDgcU/kpQ7ojH4jY", "zq9DMBMTaNbTHj3Ww7F5L2w4qQpLkfxYQ2GCUsvDkEvb5Q=="}
	for _, tc := range []struct {
		desc string
		data []byte
		tty  bool
		want []event.LogLine
	}{
		{"interleaved", multiplexed(
			[2]string{"stdout", "loading\n-----BEGIN RSA PRIVATE KEY-----\n" + body[0] + "\n"},
			[2]string{"stderr", "warn: slow disk\n"},
			[2]string{"stdout", body[1] + "\n-----END RSA PRIVATE KEY-----\nready\n"}), false,
			[]event.LogLine{{Stream: "stdout", Text: "loading"}, {Stream: "stdout", Text: "[redacted private key]"},
				{Stream: "stderr", Text: "warn: slow disk"}, {Stream: "stdout", Text: "ready"}}},
		{"BEGIN before the tail", []byte(body[0] + "\r\n" + body[1] + "\r\n-----END PRIVATE KEY-----\r\nexit\r\n"), true,
			[]event.LogLine{{Stream: "stdout", Text: "[redacted private key]"}, {Stream: "stdout", Text: "exit"}}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			lines, err := splitLogs(bytes.NewReader(tc.data), tc.tty)
			if err != nil {
				t.Fatal(err)
			}
			if len(lines) != len(tc.want) {
				t.Fatalf("lines = %+v, want %+v", lines, tc.want)
			}
			for i := range tc.want {
				if lines[i] != tc.want[i] {
					t.Errorf("line %d = %+v, want %+v", i, lines[i], tc.want[i])
				}
			}
		})
	}
	probes := healthProbes([]*container.HealthcheckResult{{ExitCode: 1, Output: "-----BEGIN EC PRIVATE KEY-----\n" + body[0] + "\n-----END EC PRIVATE KEY-----\nunhealthy"}})
	if len(probes) != 1 || probes[0].Output != "[redacted private key]\nunhealthy" {
		t.Errorf("probe output %+v", probes)
	}
}

// Deaths coming faster than their evidence can be read do not grow the
// holds with the stream: past maxHeld events held, the oldest death that
// waits only for its evidence goes on without it, saying why, and what
// waited behind it follows in order.
func TestAStormOfHeldEventsShedsEvidenceNotEvents(t *testing.T) {
	d := &logsDocker{fakeDocker: fakeDocker{messages: make(chan mobyevents.Message)}, slow: "slow"}
	d.ctr.State = &container.State{ExitCode: 1}
	src, out := evidenceSource(t, d)
	d.messages <- msg("die", "slow", 1, map[string]string{"exitCode": "1"})
	for i := range maxHeld {
		d.messages <- msg("start", "slow", int64(2+i), nil)
	}
	d.messages <- msg("die", "c2", int64(2+maxHeld), map[string]string{"exitCode": "1"}) // deaths are never shed, starts may be
	got := until(t, out, func(ev event.Event) bool { return ev.ActorID == "c2" })
	var evs []event.Event
	for _, ev := range got {
		if ev.ActorID == "slow" {
			evs = append(evs, ev)
		}
	}
	if len(evs) == 0 || evs[0].Action != "die" {
		t.Fatalf("got %d events of slow; want the death first", len(evs))
	}
	if e := evs[0].Evidence; e == nil || e.Error != storm.Error || e.LogsNote != storm.LogsNote {
		t.Fatalf("the death's evidence = %+v; want the storm's note", e)
	}
	for i := 1; i < len(evs); i++ {
		if evs[i].TimeNano <= evs[i-1].TimeNano {
			t.Fatalf("start at %d came after %d: out of order", evs[i].TimeNano, evs[i-1].TimeNano)
		}
	}
	var skipped dto.Metric
	_ = src.m.EvidenceSkipped.WithLabelValues("h").Write(&skipped)
	if n := skipped.GetCounter().GetValue(); n != 1 {
		t.Errorf("whalewatch_evidence_skipped_total = %v, want 1", n)
	}
}

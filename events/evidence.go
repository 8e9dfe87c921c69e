package events

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/redact"
)

// LogsLabel set to "false" on a container keeps its output off its cards.
const LogsLabel = "whalewatch.logs"

// Bounds of the log evidence: a line, all lines, what is read from the daemon.
const (
	maxEvidenceLine   = 300
	maxEvidenceLogs   = 4 << 10
	maxLogsRead       = 1 << 20
	maxHealthProbes   = 3
	maxHealthOutput   = 500
	evidenceLogsUntil = time.Second // a death's lines may be stamped just after its event
)

// EvidenceOptions say how much of the container's output comes with a
// crash card's facts.
type EvidenceOptions struct {
	// LogLines is how many of the last lines of output to include; 0: none.
	LogLines int
	// LogsTimeout bounds reading the output (inspect has InspectTimeout);
	// 0: 5 s.
	LogsTimeout time.Duration
}

// judge asks the rules about a death or an unhealthy report, once: the
// verdict goes on with the event, and a watched container's event that
// some rule matches gets a crash card's evidence. Other events are not
// judged here (the core judges them).
func (s *Source) judge(ev event.Event) (v event.Verdict, evidence bool) {
	if ev.Type != event.ContainerType || (ev.Action != "die" && !(ev.Action == "health_status" && ev.Status == "unhealthy")) {
		return v, false
	}
	ev.Engine = s.Engine() // as the core will see it
	v = s.opts.Interest.Judge(ev)
	return v, len(v.Rules) > 0 && s.opts.Interest.Watches(ev.Labels)
}

// gatherEvidence makes a card's facts from an inspect and, unless turned
// off, the container's last lines of output up to ev's time.
func (s *Source) gatherEvidence(ctx context.Context, ev event.Event, ctr container.InspectResponse, inspectErr error) *event.Evidence {
	e := &event.Evidence{}
	if inspectErr != nil {
		e.Error = inspectErr.Error()
	}
	if st := ctr.State; st != nil {
		e.OOMKilled = st.OOMKilled
		e.StartedAt, _ = time.Parse(time.RFC3339Nano, st.StartedAt)
		e.FinishedAt, _ = time.Parse(time.RFC3339Nano, st.FinishedAt)
		if ev.Action != "die" {
			e.FinishedAt = time.Time{} // still running: its last end was an earlier run
		}
		if st.Health != nil {
			e.Health = healthProbes(st.Health.Log)
		}
	}
	e.RestartCount, e.ImageID = ctr.RestartCount, ctr.Image
	switch {
	case s.opts.Evidence.LogLines <= 0:
	case ev.Labels[LogsLabel] == "false":
		e.LogsNote = "off for this container (" + LogsLabel + "=false)"
	case inspectErr != nil:
		e.LogsNote = "not read: the container could not be inspected"
	default:
		tty := ctr.Config != nil && ctr.Config.Tty
		e.Logs, e.LogsNote = s.lastLines(ctx, ev, tty)
	}
	return e
}

// lastLines reads the container's last LogLines lines of output written
// up to ev (and a second after), cleaned and bounded.
func (s *Source) lastLines(ctx context.Context, ev event.Event, tty bool) ([]event.LogLine, string) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.Evidence.LogsTimeout)
	defer cancel()
	until := ev.Time.Add(evidenceLogsUntil)
	r, err := s.docker.ContainerLogs(ctx, ev.ActorID, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(s.opts.Evidence.LogLines),
		Until: fmt.Sprintf("%d.%09d", until.Unix(), until.Nanosecond()),
	})
	if err != nil {
		return nil, "could not be read: " + err.Error()
	}
	defer r.Close()
	lines, err := splitLogs(io.LimitReader(r, maxLogsRead), tty)
	lines, note := boundLines(lines, s.opts.Evidence.LogLines)
	if err != nil && ctx.Err() != nil {
		note = strings.TrimPrefix(note+"; ", "; ") + fmt.Sprintf("reading stopped after %s", s.opts.Evidence.LogsTimeout)
	}
	return lines, note
}

// splitLogs turns a logs stream into lines marked with their stream, in
// the order written (a TTY container has one stream: stdout).
func splitLogs(r io.Reader, tty bool) ([]event.LogLine, error) {
	var lines []event.LogLine
	stdout, stderr := &lineWriter{stream: "stdout", lines: &lines}, &lineWriter{stream: "stderr", lines: &lines}
	var err error
	if tty {
		_, err = io.Copy(stdout, r)
	} else {
		_, err = stdcopy.StdCopy(stdout, stderr, r)
	}
	stdout.flush()
	stderr.flush()
	return redactLines(lines), err
}

// redactLines masks credentials in each stream's lines taken together (a
// private key spans lines, and the other stream's lines may come between
// them), leaves out the hidden ones and bounds each line.
func redactLines(lines []event.LogLine) []event.LogLine {
	shownAt := make([]bool, len(lines))
	for _, stream := range []string{"stdout", "stderr"} {
		var at []int
		var texts []string
		for i, l := range lines {
			if l.Stream == stream {
				at, texts = append(at, i), append(texts, l.Text)
			}
		}
		out, shown := redact.Lines(texts)
		for k, i := range at {
			lines[i].Text, shownAt[i] = boundLine(out[k]), shown[k]
		}
	}
	kept := lines[:0]
	for i, l := range lines {
		if shownAt[i] {
			kept = append(kept, l)
		}
	}
	return kept
}

// lineWriter cuts one stream into lines appended to a shared list.
type lineWriter struct {
	stream  string
	partial []byte
	lines   *[]event.LogLine
}

func (w *lineWriter) Write(p []byte) (int, error) {
	w.partial = append(w.partial, p...)
	for {
		i := bytes.IndexByte(w.partial, '\n')
		if i < 0 {
			break
		}
		w.add(w.partial[:i])
		w.partial = w.partial[i+1:]
	}
	if len(w.partial) > maxLogsRead {
		w.flush() // a line without end: keep what fits
	}
	return len(p), nil
}

func (w *lineWriter) flush() {
	if len(w.partial) > 0 {
		w.add(w.partial)
		w.partial = nil
	}
}

func (w *lineWriter) add(b []byte) {
	*w.lines = append(*w.lines, event.LogLine{Stream: w.stream, Text: sanitize(string(b))})
}

// ansi matches terminal escape sequences (colours, cursor moves, titles).
var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(\x07|\x1b\\)?|\x1b[@-Z\\-_]`)

// CleanLine makes one line of a container's output fit to show: escape
// sequences and control characters out, valid UTF-8, credentials masked,
// at most maxEvidenceLine characters. Several lines of output go through
// redactLines instead, which sees a private key across its lines.
func CleanLine(s string) string {
	return boundLine(redact.Secrets(sanitize(s)))
}

// sanitize takes escape sequences, control characters, invalid UTF-8 and
// trailing blanks out of a line.
func sanitize(s string) string {
	s = ansi.ReplaceAllString(strings.ToValidUTF8(s, "?"), "")
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\t':
			return ' '
		case unicode.IsControl(r) || r == '\u2028' || r == '\u2029':
			return -1
		}
		return r
	}, s)
	return strings.TrimRight(s, " ")
}

// boundLine cuts a line to maxEvidenceLine characters (after masking, so
// that no secret is cut past recognition).
func boundLine(s string) string {
	if r := []rune(s); len(r) > maxEvidenceLine {
		s = string(r[:maxEvidenceLine-1]) + "…"
	}
	return s
}

// boundLines keeps the last n lines within maxEvidenceLogs bytes and
// says when it cut.
func boundLines(lines []event.LogLine, n int) ([]event.LogLine, string) {
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	total, first := 0, len(lines)
	for first > 0 && total+len(lines[first-1].Text) <= maxEvidenceLogs {
		first--
		total += len(lines[first].Text)
	}
	if first > 0 {
		return lines[first:], fmt.Sprintf("cut to the last %d lines (%d KiB)", len(lines)-first, maxEvidenceLogs>>10)
	}
	return lines, ""
}

// healthProbes keeps the last probes of a healthcheck, their output cleaned.
func healthProbes(log []*container.HealthcheckResult) []event.HealthProbe {
	if len(log) > maxHealthProbes {
		log = log[len(log)-maxHealthProbes:]
	}
	var probes []event.HealthProbe
	for _, p := range log {
		if p == nil {
			continue
		}
		var raw []string
		for line := range strings.SplitSeq(strings.TrimSpace(p.Output), "\n") {
			raw = append(raw, sanitize(line))
		}
		masked, shown := redact.Lines(raw)
		var out []string
		for i, line := range masked {
			if shown[i] {
				out = append(out, boundLine(line))
			}
		}
		text := strings.Join(out, "\n")
		if len(text) > maxHealthOutput {
			text = strings.ToValidUTF8(text[:maxHealthOutput], "") + "…"
		}
		probes = append(probes, event.HealthProbe{ExitCode: p.ExitCode, Output: text, End: p.End})
	}
	return probes
}

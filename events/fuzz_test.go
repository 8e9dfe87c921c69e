package events

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"regexp"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/moby/moby/api/types/container"

	"github.com/whalewatch/whalewatch/event"
)

// Whatever a daemon (or a capture file) sends, decoding never panics and
// every event comes out well-formed: an exit code of -1 or more, a Type,
// and a Labels map only on container events.
func FuzzReadAndReplay(f *testing.F) {
	if capture, err := os.ReadFile("../testdata/docker-20.10-events.jsonl"); err == nil {
		f.Add(capture[:min(len(capture), 4096)])
	}
	f.Add([]byte(`{"Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{"exitCode":"-7","name":"x"}},"timeNano":1}`))
	f.Add([]byte(`{"Type":"container","Action":"health_status: unhealthy","Actor":{"ID":"c1"},"time":1}` + "\n" + `{"Type":"container","Action":"oom"}`))
	// Podman's: a real capture, and its shapes (top-level HealthStatus,
	// containerExitCode, cleanups that stand for a stop).
	if capture, err := os.ReadFile(podmanCapture); err == nil {
		f.Add(capture[:min(len(capture), 4096)])
	}
	f.Add([]byte(`{"Type":"container","Action":"health_status","HealthStatus":"unhealthy","Actor":{"ID":"c1","Attributes":{"containerExitCode":"0","podId":""}},"timeNano":1}` + "\n" +
		`{"Type":"container","Action":"died","Actor":{"ID":"c1","Attributes":{"containerExitCode":"137"}},"timeNano":2}` + "\n" +
		`{"Type":"container","Action":"cleanup","Actor":{"ID":"c1"},"timeNano":3}` + "\n" + `{"Type":"container","Action":"cleanup","Actor":{"ID":"c1"},"timeNano":3}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := ReadJSONL(bytes.NewReader(data))
		if err != nil {
			return
		}
		replayed := Replay("h", msgs)
		if pm, err := readPodmanJSONL(bytes.NewReader(data)); err == nil {
			replayed = append(replayed, Replay("h", normaliseAll(pm))...)
		}
		for _, ev := range replayed {
			if ev.ExitCode < -1 && ev.Attributes["exitCode"] == "" {
				t.Errorf("exit code %d without an attribute", ev.ExitCode)
			}
			if ev.Labels != nil && ev.Type != event.ContainerType {
				t.Errorf("labels on a %q event", ev.Type)
			}
			for k := range ev.Labels {
				if _, daemonOwn := nativeActions[k]; daemonOwn || k == "name" || k == "image" {
					t.Errorf("daemon attribute %q taken for a label", k)
				}
			}
		}
	})
}

// keyMarker is a private key's first or last line, never shown.
var keyMarker = regexp.MustCompile(`-----(BEGIN|END) [A-Z0-9 ]*PRIVATE KEY-----`)

// Whatever a container writes, its evidence lines are valid UTF-8 without
// escape sequences or control characters, each within its bound and all
// within theirs. (The frames around the output are the daemon's, which is
// trusted; the output inside them is the container's.)
func FuzzLogsEvidence(f *testing.F) {
	f.Add([]byte("hello\n\x1b[31mfail\n"), false, uint8(3))
	f.Add([]byte("password=x\r\n\x1b]0;t\x07ok\xff\n"), true, uint8(0))
	f.Add([]byte("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA0Z3VS5JJcds3xfn\n-----END RSA PRIVATE KEY-----\nok\n"), false, uint8(7))
	f.Fuzz(func(t *testing.T, output []byte, tty bool, cut uint8) {
		data := output
		if !tty {
			// Framed as the daemon does, in chunks of cut+1 bytes, the
			// streams taking turns.
			var chunks [][2]string
			for i := 0; i < len(output); i += int(cut) + 1 {
				stream := [2]string{"stdout", "stderr"}[len(chunks)%2]
				chunks = append(chunks, [2]string{stream, string(output[i:min(len(output), i+int(cut)+1)])})
			}
			data = multiplexed(chunks...)
		}
		lines, _ := splitLogs(bytes.NewReader(data), tty)
		lines, _ = boundLines(lines, 20)
		total := 0
		for _, l := range lines {
			total += len(l.Text)
			if !utf8.ValidString(l.Text) || utf8.RuneCountInString(l.Text) > maxEvidenceLine {
				t.Errorf("line %q: invalid or too long", l.Text)
			}
			if strings.ContainsFunc(l.Text, unicode.IsControl) {
				t.Errorf("line %q holds a control character", l.Text)
			}
			if keyMarker.MatchString(l.Text) {
				t.Errorf("line %q shows a private key's marker", l.Text)
			}
			if l.Stream != "stdout" && l.Stream != "stderr" {
				t.Errorf("stream %q", l.Stream)
			}
		}
		if len(lines) > 20 || total > maxEvidenceLogs {
			t.Errorf("%d lines, %d bytes: over the bounds", len(lines), total)
		}
	})
}

// Whatever a daemon sends as stats, the figures are finite and never
// negative, and a percentage exists only with a limit.
func FuzzComputeStats(f *testing.F) {
	for _, name := range []string{"docker20.10-wwcap-lim.json", "docker29-wwcap-free.json", "cgroupv2-constructed.json"} {
		if data, err := os.ReadFile("testdata/stats/" + name); err == nil {
			f.Add(data, uint64(0), uint64(0), int64(hostMemory))
		}
	}
	f.Add([]byte(`{"memory_stats":{"usage":18446744073709551615,"limit":1},"cpu_stats":{"cpu_usage":{"total_usage":5},"system_cpu_usage":1}}`), uint64(9), uint64(0), int64(-1))
	f.Fuzz(func(t *testing.T, data []byte, prevTotal, prevSystem uint64, memTotal int64) {
		var r container.StatsResponse
		if json.Unmarshal(data, &r) != nil {
			return
		}
		st := computeStats(r, &cpuSample{total: prevTotal, system: prevSystem}, memTotal)
		for _, v := range []float64{st.MemoryPercent, st.CPUPercent} {
			if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
				t.Errorf("figure %v in %+v", v, st)
			}
		}
		if st.MemoryBytes < 0 || st.MemoryLimit < 0 || st.PIDs < 0 || st.PIDsLimit < 0 {
			t.Errorf("negative: %+v", st)
		}
		if st.MemoryLimit == 0 && st.MemoryPercent != 0 {
			t.Errorf("a percentage without a limit: %+v", st)
		}
	})
}

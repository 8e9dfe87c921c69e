package events

import (
	"bytes"
	"os"
	"testing"

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
	f.Fuzz(func(t *testing.T, data []byte) {
		msgs, err := ReadJSONL(bytes.NewReader(data))
		if err != nil {
			return
		}
		for _, ev := range Replay("h", msgs) {
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

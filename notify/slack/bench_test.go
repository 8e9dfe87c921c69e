package slack_test

import (
	"testing"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify/slack"
)

// BenchmarkBlocks lays out a crash card with 20 lines of evidence.
func BenchmarkBlocks(b *testing.B) {
	n := crash("web-1")
	n.Event.Evidence = &event.Evidence{RestartCount: 3}
	for range 20 {
		n.Event.Evidence.Logs = append(n.Event.Evidence.Logs, event.LogLine{Stream: "stderr", Text: "panic: runtime error: index out of range [3] with length 3"})
	}
	b.ReportAllocs()
	for b.Loop() {
		slack.Blocks(n)
	}
}

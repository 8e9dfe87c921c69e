// Package stdout prints notifications as one readable line each.
package stdout

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/whalewatch/whalewatch/notify"
)

// Notifier writes to W (os.Stdout in production).
type Notifier struct {
	mu sync.Mutex
	W  io.Writer
}

// Notify writes one line: time, rule, summary, then the fields.
func (s *Notifier) Notify(_ context.Context, n notify.Notification) (bool, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%s [%s] %s", n.Event.Time.Format(time.RFC3339), n.Rule, oneLine(n.Summary()))
	for _, f := range n.Fields() {
		fmt.Fprintf(&b, " %s=%q", strings.ToLower(strings.ReplaceAll(f.Name, " ", "_")), f.Value)
	}
	// The card's evidence, compact: the last line of output and of the
	// last probe (the whole card goes to the other destinations).
	if e := n.Event.Evidence; e != nil && len(e.Logs) > 0 {
		last := e.Logs[len(e.Logs)-1]
		fmt.Fprintf(&b, " last_output=%q", last.Stream+": "+last.Text)
	}
	if probes := n.ProbeText(); probes != "" {
		fmt.Fprintf(&b, " probe=%q", probes[strings.LastIndex(probes, "\n")+1:])
	}
	if n.Link != "" {
		fmt.Fprintf(&b, " link=%q", n.Link)
	}
	b.WriteByte('\n')
	s.mu.Lock()
	defer s.mu.Unlock()
	_, err := io.WriteString(s.W, b.String())
	return false, err
}

// oneLine keeps untrusted text from forging extra lines.
func oneLine(s string) string {
	return strings.NewReplacer("\n", `\n`, "\r", `\r`).Replace(s)
}

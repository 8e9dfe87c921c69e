package alert

import (
	"slices"
	"strings"

	"github.com/whalewatch/whalewatch/event"
)

// route picks the destinations of an alert: the container's
// whalewatch.notify label when it names known destinations, else the
// rule's (else all).
func (c *Core) route(ruleTo []string, ev event.Event) []string {
	label := ev.Labels[NotifyLabel]
	if label == "" {
		return ruleTo
	}
	var to, unknown []string
	for name := range strings.SplitSeq(label, ",") {
		name = strings.ToLower(strings.TrimSpace(name))
		switch {
		case slices.Contains(c.cfg.Destinations, name):
			to = append(to, name)
		case name != "":
			unknown = append(unknown, name)
		}
	}
	if len(unknown) > 0 {
		c.log.Warn("whalewatch.notify names unknown destinations; they are skipped", "container", ev.Name, "unknown", unknown, "known", c.cfg.Destinations)
	}
	if len(to) == 0 {
		return ruleTo
	}
	return to
}

package notify

import (
	"time"

	"github.com/whalewatch/whalewatch/internal/state"
)

// historyRecord is what an incident's notification adds to the state
// file's incident history (the status page's), nil when it has no incident.
func (n *Notification) historyRecord() *state.Incident {
	inc := n.Incident
	if inc == nil {
		return nil
	}
	ev := n.Event
	at := ev.Time // a resolution carries the last alert's event
	if at.IsZero() || inc.ResolvedAt.After(at) {
		at = inc.ResolvedAt
	}
	if at.IsZero() {
		at = time.Now()
	}
	return &state.Incident{ID: inc.ID, Host: ev.Host, Container: NameOrID(ev), ContainerID: ev.ActorID, Rule: n.Rule,
		Status: inc.Status, Alerts: inc.Alerts, ExitCode: ev.ExitCode, Evidence: ev.Evidence,
		OpenedAt: inc.OpenedAt, ResolvedAt: inc.ResolvedAt, UpdatedAt: at}
}

package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

// Acknowledged is the status of the message that tells a pager that
// someone took an incident (the Acknowledge button in Slack). Only the
// destinations that can acknowledge (PagerDuty, Opsgenie) are sent it.
const Acknowledged = "acknowledged"

// NewAck is the message that acknowledges incident id for user at at.
// Its ID is derived from them, so a repeated click is refused by the outbox.
func NewAck(id, user string, at time.Time) Notification {
	sum := sha256.Sum256([]byte(id + "\x00" + user + "\x00" + at.UTC().Format(time.RFC3339)))
	return Notification{
		ID:       "ack_" + hex.EncodeToString(sum[:12]),
		Rule:     "ACKNOWLEDGED",
		Text:     "Acknowledged by " + user,
		Event:    event.Event{Type: event.SelfType, Action: "acknowledged", ExitCode: -1, Time: at.UTC(), TimeNano: at.UnixNano(), Attributes: map[string]string{"user": user}},
		Incident: &Incident{ID: id, Status: Acknowledged},
	}
}

// IsAck tells whether n acknowledges an incident.
func IsAck(n Notification) bool { return n.Incident != nil && n.Incident.Status == Acknowledged }

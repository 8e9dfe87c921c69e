// Package events turns a Docker daemon's /events stream into a gap-free,
// de-duplicated stream of whalewatch Events.
package events

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/api/types/events"
)

// SelfType is the Type of events whalewatch makes about itself
// (a stream gap, an unreachable daemon, dropped events).
const SelfType = "whalewatch"

// Event is one thing that happened on a Docker host, as rules see it.
type Event struct {
	Host   string // which daemon (its configured name)
	Type   string // container, image, network, volume, daemon, … or SelfType
	Action string // the base word: die, health_status, exec_start …
	Status string // the part after ": " in the raw action (e.g. "unhealthy"), or ""
	// ActorID is the container, image, network … ID.
	ActorID string
	// Attributes are the daemon's attributes as sent; for containers they
	// include every label, so they are untrusted text.
	Attributes map[string]string
	// Labels are the container's labels (container events only).
	Labels   map[string]string
	Name     string
	Image    string
	ExitCode int // -1 when the event carries none
	Scope    string
	Time     time.Time
	TimeNano int64

	// Filled in by Source from what it saw earlier on the stream.

	// Intentional: a die or stop that followed a kill/stop request for
	// the same container (docker stop, docker kill, a daemon shutdown).
	Intentional bool
	// OOMKilled: a die that followed an oom event of the same container.
	OOMKilled bool
	// Reconciled: the stream never carried this event; whalewatch found the
	// change by listing containers after a reconnect.
	Reconciled bool
}

// attributeKeys are the attributes the daemon itself sets on container
// events; every other attribute of a container event is a label.
var attributeKeys = map[string]bool{
	"name": true, "image": true, "exitCode": true, "execDuration": true,
	"signal": true, "execID": true, "oldName": true,
}

// FromMessage turns the SDK's message into an Event of the named host.
func FromMessage(host string, m events.Message) Event {
	action, status, _ := strings.Cut(string(m.Action), ": ")
	ev := Event{
		Host:       host,
		Type:       string(m.Type),
		Action:     action,
		Status:     status,
		ActorID:    m.Actor.ID,
		Attributes: m.Actor.Attributes,
		Name:       m.Actor.Attributes["name"],
		Image:      m.Actor.Attributes["image"],
		ExitCode:   -1,
		Scope:      m.Scope,
		TimeNano:   m.TimeNano,
	}
	if ev.Attributes == nil {
		ev.Attributes = map[string]string{}
	}
	if ev.TimeNano == 0 {
		ev.TimeNano = m.Time * int64(time.Second)
	}
	ev.Time = time.Unix(0, ev.TimeNano).UTC()
	if code, err := strconv.Atoi(m.Actor.Attributes["exitCode"]); err == nil {
		ev.ExitCode = code
	}
	if ev.Type == string(events.ContainerEventType) {
		ev.Labels = make(map[string]string, len(ev.Attributes))
		for k, v := range ev.Attributes {
			if !attributeKeys[k] {
				ev.Labels[k] = v
			}
		}
	}
	return ev
}

// Key identifies an event for de-duplication: the daemon replays events
// on resume, and the replay may overlap the live stream.
func (e Event) Key() string {
	return fmt.Sprintf("%d/%s/%s:%s/%s", e.TimeNano, e.Type, e.Action, e.Status, e.ActorID)
}

// ShortID is the 12-character form of the actor ID, safe on short IDs.
func (e Event) ShortID() string {
	if len(e.ActorID) > 12 {
		return e.ActorID[:12]
	}
	return e.ActorID
}

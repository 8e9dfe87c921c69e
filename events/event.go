// Package events turns a Docker daemon's /events stream into a gap-free,
// de-duplicated stream of whalewatch Events.
package events

import (
	"strconv"
	"strings"
	"time"

	mobyevents "github.com/moby/moby/api/types/events"

	"github.com/whalewatch/whalewatch/event"
)

// attributeKeys are the attributes the daemon itself sets on container
// events; every other attribute of a container event is a label.
var attributeKeys = map[string]bool{
	"name": true, "image": true, "exitCode": true, "execDuration": true,
	"signal": true, "execID": true, "oldName": true,
}

// FromMessage turns the SDK's message into an event.Event of the named host.
func FromMessage(host string, m mobyevents.Message) event.Event {
	action, status, _ := strings.Cut(string(m.Action), ": ")
	ev := event.Event{
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
	if ev.Type == string(event.ContainerType) {
		ev.Labels = make(map[string]string, len(ev.Attributes))
		for k, v := range ev.Attributes {
			if !attributeKeys[k] {
				ev.Labels[k] = v
			}
		}
	}
	return ev
}

package actions_test

import (
	"time"

	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/testdocker"
)

func eventFor(ct testdocker.Container) events.Event {
	return events.Event{Type: "container", Action: "die", Name: ct.Name, ActorID: ct.ID, ExitCode: 3, Host: "h", Time: time.Now()}
}

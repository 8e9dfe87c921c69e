package actions_test

import (
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/testdocker"
)

func eventFor(ct testdocker.Container) event.Event {
	return event.Event{Type: "container", Action: "die", Name: ct.Name, ActorID: ct.ID, ExitCode: 3, Host: "h", Time: time.Now()}
}

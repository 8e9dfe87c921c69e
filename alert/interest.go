package alert

import (
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/rules"
)

// Interest is what the rules and the core's trackers can use of events,
// asked by the event sources so that they drop at once what nothing
// downstream can use, gather a crash card's evidence only for what a rule
// matches, and judge an event once. Safe for concurrent use.
type Interest struct {
	engine *rules.Engine
	optIn  bool
}

// NewInterest is the interest of the core made with engine; optIn as in
// Config.OptIn.
func NewInterest(engine *rules.Engine, optIn bool) Interest {
	return Interest{engine: engine, optIn: optIn}
}

// Keeps says whether an event of this type and action (base word) can
// matter: the core follows it whatever the rules say (the running set,
// incidents, crash loops), or some rule may match it.
func (in Interest) Keeps(typ, action string) bool {
	return tracks(typ, action) || in.engine.MayMatch(typ, action)
}

// tracks: the core follows events of this type and action whatever the
// rules say.
func tracks(typ, action string) bool {
	if typ == event.SelfType {
		return true
	}
	return typ == event.ContainerType && (action == "start" || action == "die" || action == "destroy" || action == "health_status")
}

// Watches says whether a container with these labels is watched:
// whalewatch.enable decides, else WATCH_BY_DEFAULT.
func (in Interest) Watches(labels map[string]string) bool {
	switch labels[EnableLabel] {
	case "true":
		return true
	case "false":
		return false
	}
	return !in.optIn
}

// Judge runs the rules once on ev; a source hands the verdict on in
// event.Item.Verdict and the core does not run them again. The verdict is
// of ev as judged: a source that changes what a rule sees afterwards (an
// exit code or OOM kill settled by inspect) judges again or hands none.
func (in Interest) Judge(ev event.Event) event.Verdict { return in.engine.Judge(ev) }

// SamplesStats says whether some rule is about stats samples: only then
// are containers sampled.
func (in Interest) SamplesStats() bool { return in.engine.UsesStats() }

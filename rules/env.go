package rules

import (
	"path"
	"time"

	"github.com/expr-lang/expr"

	"github.com/whalewatch/whalewatch/event"
)

// Env is what a rule's expression sees. Every name is checked when the rule
// is compiled: a typo is a start-up error, never a rule that silently
// matches nothing. The README documents each field.
type Env struct {
	Type       string            // container, image, network, volume, daemon, whalewatch …
	Action     string            // base word: die, oom, health_status, exec_start, start …
	Status     string            // after ": " in the raw action, e.g. "unhealthy"
	Actor      Actor             // Actor.ID, Actor.Attributes
	Attributes map[string]string // the daemon's attributes (incl. all container labels)
	Labels     map[string]string // container labels only
	Name       string            // container (or other object) name
	Image      string
	ExitCode   int // -1 when the event has none
	Host       string
	Engine     string // docker or podman
	Scope      string // local or swarm
	Time       time.Time
	// Intentional: a die after a docker stop/kill of that container.
	Intentional bool
	// OOMKilled: a die after an oom event of that container.
	OOMKilled bool
	// Reconciled: found dead on reconnect; the stream never carried it.
	Reconciled bool
	// Stats is a stats sample's figures (Type "stats"; zero otherwise):
	// MemoryPercent, MemoryBytes, MemoryLimit, CPUPercent, PIDs, PIDsLimit.
	Stats event.Stats
}

// Actor mirrors the daemon's Actor.
type Actor struct {
	ID         string
	Attributes map[string]string
}

// NewEnv builds the expression environment of one event.
func NewEnv(ev event.Event) Env {
	env := Env{
		Type: ev.Type, Action: ev.Action, Status: ev.Status,
		Actor:      Actor{ID: ev.ActorID, Attributes: ev.Attributes},
		Attributes: ev.Attributes, Labels: ev.Labels,
		Name: ev.Name, Image: ev.Image, ExitCode: ev.ExitCode,
		Host: ev.Host, Engine: ev.Engine, Scope: ev.Scope, Time: ev.Time,
		Intentional: ev.Intentional, OOMKilled: ev.OOMKilled, Reconciled: ev.Reconciled,
	}
	if ev.Stats != nil {
		env.Stats = *ev.Stats
		env.Stats.Trend = nil
	}
	return env
}

// helpers are the typed functions rules may call.
func helpers() []expr.Option {
	return []expr.Option{
		// glob(s, pattern): shell-style match, e.g. glob(Name, "web-*").
		expr.Function("glob", func(p ...any) (any, error) {
			ok, err := path.Match(p[1].(string), p[0].(string))
			return ok && err == nil, nil
		}, new(func(string, string) bool)),
		// exitMeaning(code): "SIGKILL (killed, often out of memory)" …
		expr.Function("exitMeaning", func(p ...any) (any, error) {
			return event.ExitMeaning(p[0].(int)), nil
		}, new(func(int) string)),
	}
}

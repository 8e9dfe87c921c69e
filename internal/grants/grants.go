// Package grants is the pure authorization of actions on containers: who
// (team, user, group, channel) may do which verb to which container, and
// the ACTIONS_CONTAINERS grants it reads. It imports nothing of ours, so
// config checks the grants with the parser actions authorizes by, without
// pulling in Slack or Docker.
package grants

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// Verb is something a caller may do to a container.
type Verb string

// The verbs. Logs is read-only; the others change a container.
const (
	Start   Verb = "start"
	Stop    Verb = "stop"
	Restart Verb = "restart"
	Logs    Verb = "logs"
)

// Verbs of the alert's own buttons: they touch no container, so no
// container needs to allow them.
const (
	Mute Verb = "mute" // silence the container for an hour (the rights of stop)
	Ack  Verb = "ack"  // acknowledge the alert (the rights of logs)
)

// Verbs lists the verbs that act on a container.
var Verbs = []Verb{Start, Stop, Restart, Logs}

// Mutating tells whether a verb changes a container.
func (v Verb) Mutating() bool { return v != Logs && v != Ack }

// ActionsLabel on a container lists the verbs allowed on it: "start,restart".
const ActionsLabel = "whalewatch.actions"

// Caller is who asks, and where.
type Caller struct {
	TeamID, UserID, UserName, ChannelID string
	// Groups are the allowed user groups the caller is in (as last read
	// from Slack).
	Groups []string
}

// Target is the container a request resolved to.
type Target struct {
	ID, Name string
	Host     string // the Docker host it is on ("" with one host)
	Labels   map[string]string
	Running  bool
}

// VerbGlob allows a verb on containers whose name matches Glob.
type VerbGlob struct {
	Verb Verb
	Glob string
}

// Policy says who may do what where. Empty user or channel allowlists deny
// everything; an empty team allowlist does not restrict teams.
type Policy struct {
	Teams     []string // Slack team IDs
	Users     []string // may do everything the containers allow
	Groups    []string // Slack user groups whose members may do what Users may
	ReadUsers []string // may only use read-only commands (ps, logs)
	Channels  []string
	Globs     []VerbGlob // from ACTIONS_CONTAINERS
	// SelfID is whalewatch's own container ID (or a prefix of it), never acted on.
	SelfID string
}

// ParseVerbGlobs reads "start:web-*,restart:*".
func ParseVerbGlobs(items []string) ([]VerbGlob, error) {
	var out []VerbGlob
	for _, item := range items {
		verb, glob, ok := strings.Cut(strings.TrimSpace(item), ":")
		if !ok || glob == "" || !slices.Contains(Verbs, Verb(verb)) {
			return nil, fmt.Errorf("%q is not verb:glob with verb one of start, stop, restart, logs", item)
		}
		if _, err := path.Match(glob, ""); err != nil {
			return nil, fmt.Errorf("%q: bad glob: %v", item, err)
		}
		out = append(out, VerbGlob{Verb(verb), glob})
	}
	return out, nil
}

// Errors a caller may see. They say what is missing, never more.
var (
	ErrTeam    = errors.New("this Slack workspace is not allowed to act")
	ErrUser    = errors.New("you are not allowed to do that")
	ErrChannel = errors.New("actions are not allowed in this channel")
	// The container refusals are told only to callers allowed to act, so
	// they reveal nothing to a stranger.
	ErrNotAllowlisted   = errors.New("that container does not allow this (its whalewatch.actions label or ACTIONS_CONTAINERS)")
	ErrUnknownContainer = errors.New("no container has that name or ID")
	ErrAmbiguous        = errors.New("several containers match; give the full name or ID")
	ErrSelf             = errors.New("whalewatch does not act on its own container")
	ErrMuteNotCovered   = errors.New("you may mute only what you may stop: a stop glob of ACTIONS_CONTAINERS, or a container name one of them matches")
)

// AllowCaller checks team, user and channel for a verb.
func (p Policy) AllowCaller(c Caller, v Verb) error {
	if len(p.Teams) > 0 && !slices.Contains(p.Teams, c.TeamID) {
		return ErrTeam
	}
	member := slices.ContainsFunc(c.Groups, func(g string) bool { return slices.Contains(p.Groups, g) })
	if !slices.Contains(p.Users, c.UserID) && !member && (v.Mutating() || !slices.Contains(p.ReadUsers, c.UserID)) {
		return ErrUser
	}
	if !slices.Contains(p.Channels, c.ChannelID) {
		return ErrChannel
	}
	return nil
}

// Authorize checks the caller and the container for a verb.
func (p Policy) Authorize(c Caller, v Verb, t Target) error {
	if err := p.AllowCaller(c, v); err != nil {
		return err
	}
	if p.isSelf(t) {
		return ErrSelf
	}
	if !slices.Contains(p.ContainerVerbs(t), v) {
		return ErrNotAllowlisted
	}
	return nil
}

// ContainerVerbs lists the verbs a container allows, by its label and by
// the name globs. Nothing is allowed by default.
func (p Policy) ContainerVerbs(t Target) []Verb {
	if p.isSelf(t) {
		return nil
	}
	var out []Verb
	add := func(v Verb) {
		if !slices.Contains(out, v) {
			out = append(out, v)
		}
	}
	for _, s := range strings.Split(t.Labels[ActionsLabel], ",") {
		if v := Verb(strings.TrimSpace(s)); slices.Contains(Verbs, v) {
			add(v)
		}
	}
	for _, g := range p.Globs {
		if ok, _ := path.Match(g.Glob, t.Name); ok {
			add(g.Verb)
		}
	}
	slices.Sort(out)
	return out
}

func (p Policy) isSelf(t Target) bool {
	return p.SelfID != "" && len(p.SelfID) >= 12 && strings.HasPrefix(t.ID, p.SelfID)
}

// MuteCovered tells whether a mute's name glob stays within the stop
// grants of ACTIONS_CONTAINERS, so that a mute silences only containers
// its caller could stop. Covered, simply and safely: the glob is one of
// the stop globs, letter for letter, or it is a plain name (no *, ?, [)
// that a stop glob matches. A narrower glob ("web-1*" under "web-*") is
// not worked out: mute the stop glob or the names. The whalewatch.actions
// label does not count: a glob names containers not yet seen.
func (p Policy) MuteCovered(glob string) bool {
	plain := !strings.ContainsAny(glob, `*?[\`)
	for _, g := range p.Globs {
		if g.Verb != Stop {
			continue
		}
		if g.Glob == glob {
			return true
		}
		if ok, _ := path.Match(g.Glob, glob); ok && plain {
			return true
		}
	}
	return false
}

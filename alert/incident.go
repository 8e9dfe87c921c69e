package alert

import (
	"fmt"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
)

// ResolvedRule names the messages that resolve an incident.
const ResolvedRule = "RESOLVED"

// incidents keep one incident per container with a problem: its alerts
// carry the incident, and it resolves once the container has been up (and
// healthy, if it reports health) for resolveAfter, or was removed. Its
// entries are its persisted state.
type incidents struct {
	resolveAfter time.Duration

	open *entries[*incident] // host|container → its incident
}

type incident struct {
	Info notify.Incident `json:"info"`
	Last event.Event     `json:"last"` // the last alert's event (what the messages are about)
	To   []string        `json:"to,omitempty"`
	// UpSince is since when the container has been running (and healthy
	// once it reported health); zero while it is down or unhealthy.
	UpSince time.Time `json:"up_since,omitzero"`
	// Health: the container reported health in this incident, so up
	// means healthy, not only running.
	Health bool `json:"health,omitempty"`
	// Pressure names the stats rule that opened it while no other alert
	// joined: it resolves at the first sample that rule no longer matches,
	// or when the container stops.
	Pressure string `json:"pressure,omitempty"`
}

func newIncidents(resolveAfter time.Duration) *incidents {
	return &incidents{resolveAfter: resolveAfter, open: newEntries[*incident]("incident")}
}

// alert puts n (an alert about ev) into ev's container's incident, opening
// one when there is none. It returns false for events that are not about
// a container.
// A loop's first message revealed by a death that has its alert already
// (an OOM kill: its oom event's) is no new alert: counts is false.
func (s *incidents) alert(n *notify.Notification, to []string, ev event.Event, status string, counts bool) bool {
	if s.resolveAfter <= 0 || (ev.Type != event.ContainerType && ev.Type != event.StatsType) || ev.ActorID == "" {
		return false
	}
	key := loopKey(ev)
	inc, ok := s.open.get(key)
	if !ok {
		// Named after the alert that opened it: a replay after a crash
		// opens the same incident.
		inc = &incident{Info: notify.Incident{ID: "inc_" + groupID(key, n.ID)[4:], OpenedAt: ev.Time}, To: to}
		if ev.Action == "health_status" {
			inc.Health = true // running, not healthy
		}
		if ev.Type == event.StatsType {
			inc.Pressure = n.Rule
		}
	}
	if ev.Type != event.StatsType {
		inc.Pressure = "" // a death, an OOM kill: the incident is theirs now
	}
	inc.Info.Seq++
	if counts || !ok {
		inc.Info.Alerts++
	}
	if status == notify.Looping || inc.Info.Status != notify.Looping {
		inc.Info.Status = status
	}
	inc.Last = ev
	inc.Last.Evidence = nil // on the alert; the state keeps what names the container
	if st := inc.Last.Stats; st != nil {
		last := *st
		last.Trend = nil
		inc.Last.Stats = &last
	}
	s.open.set(key, inc)
	info := inc.Info
	n.Incident = &info
	return true
}

// observe follows what a container with an open incident does. Up time
// counts from when whalewatch saw the start (or healthy), not from the
// event's time: a stream that lags must not resolve an incident whose
// next death is still on its way.
func (s *incidents) observe(ev event.Event, now time.Time) {
	key := loopKey(ev)
	inc, ok := s.open.get(key)
	if !ok || ev.Type != event.ContainerType || inc.Pressure != "" {
		return // samples decide a pressure incident, not health or starts
	}
	switch {
	case ev.Action == "start" && !inc.Health:
		inc.UpSince = now
	case ev.Action == "health_status":
		inc.Health = true
		inc.UpSince = time.Time{}
		if ev.Status == "healthy" {
			inc.UpSince = now
		}
	case ev.Action == "die" || ev.Action == "start":
		inc.UpSince = time.Time{}
	default:
		return
	}
	s.open.touch(key)
}

// listed makes up for starts the source shed in a storm: a container of an
// open incident that a fresh list finds running is up from now on (unless
// it reports health, whose healthy report decides).
func (s *incidents) listed(host string, running map[string]event.Container, now time.Time) {
	for id := range running {
		key := containerKey(host, id)
		// A pressure incident is of a running container: its samples resolve it.
		if inc, ok := s.open.get(key); ok && inc.UpSince.IsZero() && !inc.Health && inc.Pressure == "" {
			inc.UpSince = now
			s.open.touch(key)
		}
	}
}

// removed resolves the incident of a destroyed container; final, when
// set, is the crash loop's last message, which then resolves it.
func (s *incidents) removed(ev event.Event, final *notify.Notification, now time.Time) []notify.Outgoing {
	key := loopKey(ev)
	inc, ok := s.open.get(key)
	if !ok {
		return nil
	}
	s.open.del(key)
	if final != nil {
		inc.resolve(now)
		info := inc.Info
		final.Incident = &info
		return nil
	}
	return []notify.Outgoing{inc.resolution("was removed", now)}
}

// tick resolves the incidents whose container has been up long enough.
// about are the resolved incidents' last events (with every label).
func (s *incidents) tick(now time.Time, looping func(key string) bool) (out []notify.Outgoing, about []event.Event) {
	for key, inc := range s.open.m {
		if inc.UpSince.IsZero() || now.Sub(inc.UpSince) < s.resolveAfter || looping(key) {
			continue
		}
		s.open.del(key)
		what := "has been running for " + s.resolveAfter.String()
		if inc.Health {
			what = "has been running and healthy for " + s.resolveAfter.String()
		}
		out = append(out, inc.resolution(what, now))
		about = append(about, inc.Last)
	}
	return out, about
}

func (inc *incident) resolve(now time.Time) {
	inc.Info.Seq++
	inc.Info.Status, inc.Info.ResolvedAt = notify.Resolved, now
}

// resolution is the message that closes the incident.
func (inc *incident) resolution(what string, now time.Time) notify.Outgoing {
	inc.resolve(now)
	alerts := "1 alert"
	if inc.Info.Alerts != 1 {
		alerts = fmt.Sprintf("%d alerts", inc.Info.Alerts)
	}
	text := fmt.Sprintf("Resolved: container %s %s (%s in %s)", notify.NameOrID(inc.Last), what, alerts,
		now.Sub(inc.Info.OpenedAt).Round(time.Second))
	n := notify.New(ResolvedRule, text, inc.Last, nil)
	n.ID = groupID(inc.Info.ID, "resolved")
	n.Event.Action, n.Event.Status, n.Event.Evidence = "resolved", "", nil
	n.Event.Time = now.UTC() // when it resolved, not when it opened
	info := inc.Info
	n.Incident = &info
	return notify.Outgoing{N: n, To: inc.To}
}

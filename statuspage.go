package main

import (
	"time"

	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/internal/statuspage"
	"github.com/whalewatch/whalewatch/notify"
)

// statusRefresh is how often the status page refreshes itself.
const statusRefresh = 3 * time.Second

// statusData is what the status page reads: the state file's incident
// history and Slack acknowledgements, the sources' streams, the
// dispatcher's queues, the mutes.
type statusData struct {
	store      *state.Store
	sources    []*events.Source
	dispatcher *notify.Dispatcher
}

func (d statusData) Incidents(since time.Time) ([]statuspage.Incident, error) {
	hist, err := d.store.History(since)
	out := make([]statuspage.Incident, len(hist))
	for i, h := range hist {
		out[i] = statuspage.Incident{ID: h.ID, Host: h.Host, Container: h.Container, ContainerID: h.ContainerID, Rule: h.Rule,
			Status: h.Status, Alerts: h.Alerts, OpenedAt: h.OpenedAt, ResolvedAt: h.ResolvedAt, UpdatedAt: h.UpdatedAt,
			ExitCode: h.ExitCode, Evidence: h.Evidence, Hours: h.Hours}
		if t, ok := d.store.Thread(h.ID); ok {
			out[i].AckedBy = t.AckedBy
		}
	}
	return out, err
}

func (d statusData) Hosts() []statuspage.Host {
	out := make([]statuspage.Host, len(d.sources))
	for i, src := range d.sources {
		s := src.Status()
		out[i] = statuspage.Host{Host: s.Host, Open: s.Open, DownSince: s.DownSince, Connected: s.Connected,
			Engine: s.Engine, Version: s.Version, APIVersion: s.APIVersion, LastEvent: s.LastEvent, Lag: s.Lag}
	}
	return out
}

func (d statusData) Destinations() []statuspage.Destination {
	status := d.dispatcher.Status()
	out := make([]statuspage.Destination, len(status))
	for i, s := range status {
		out[i] = statuspage.Destination(s)
	}
	return out
}

func (d statusData) Mutes(now time.Time) ([]statuspage.Mute, error) {
	mutes, err := d.store.Mutes(now)
	var out []statuspage.Mute
	for glob, until := range mutes {
		out = append(out, statuspage.Mute{Glob: glob, Until: until})
	}
	return out, err
}

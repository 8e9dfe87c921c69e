// Package statuspage is the read-only status page (STATUS_PAGE): open and
// recently resolved incidents, the hosts' streams, the destinations'
// queues, mutes and a chart of the last day, served as HTML rendered on
// the server and as JSON under /api/v1/ from one View. It reads through
// Data and acts on nothing.
package statuspage

import (
	"cmp"
	"slices"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

// Data is what the page reads; main joins it to the state file, the
// event sources and the dispatcher.
type Data interface {
	// Incidents are the open ones and those changed since since.
	Incidents(since time.Time) ([]Incident, error)
	Hosts() []Host
	Destinations() []Destination
	Mutes(now time.Time) ([]Mute, error)
}

// Incident is one incident of the history.
type Incident struct {
	ID          string    `json:"id"`
	Host        string    `json:"host"`
	Container   string    `json:"container"`
	ContainerID string    `json:"container_id,omitempty"`
	Rule        string    `json:"rule"`
	Status      string    `json:"status"` // firing, looping or resolved
	Alerts      int       `json:"alerts"`
	OpenedAt    time.Time `json:"opened_at"`
	ResolvedAt  time.Time `json:"resolved_at,omitzero"`
	UpdatedAt   time.Time `json:"updated_at"`
	AckedBy     string    `json:"acked_by,omitempty"` // the Slack user who acknowledged it
	// The card: the last alert's exit code (-1: none) and evidence.
	ExitCode    int             `json:"exit_code"`
	ExitMeaning string          `json:"exit_meaning,omitempty"` // filled by the page
	Evidence    *event.Evidence `json:"evidence,omitempty"`
	// Hours counts its alerts per hour (unix seconds of the hour's start).
	Hours map[int64]int `json:"-"`
}

// Host is one daemon's event stream.
type Host struct {
	Host       string        `json:"host"`
	Open       bool          `json:"open"`
	DownSince  time.Time     `json:"down_since,omitzero"` // zero while open, or before the first try
	Connected  bool          `json:"connected"`
	Engine     string        `json:"engine,omitempty"` // docker, podman … when known
	Version    string        `json:"version,omitempty"`
	APIVersion string        `json:"api_version,omitempty"`
	LastEvent  time.Time     `json:"last_event,omitzero"`
	Lag        time.Duration `json:"lag_ns"`
}

// Destination is one destination's queue.
type Destination struct {
	Name         string    `json:"name"`
	Queued       int       `json:"queued"`
	LastSent     time.Time `json:"last_sent,omitzero"`
	LastFailed   time.Time `json:"last_failed,omitzero"`
	LastError    string    `json:"last_error,omitempty"`
	FailingSince time.Time `json:"failing_since,omitzero"`
}

// Mute silences the containers whose name matches Glob until Until.
type Mute struct {
	Glob  string    `json:"glob"`
	Until time.Time `json:"until"`
}

// View is everything the page shows, as of Now: the API's answers are
// parts of it.
type View struct {
	Now      time.Time     `json:"now"`
	Version  string        `json:"version"`
	Started  time.Time     `json:"started"`
	Open     []Incident    `json:"open"`     // newest first
	Resolved []Incident    `json:"resolved"` // in the last 24 h, newest first
	Hosts    []Host        `json:"hosts"`
	Dests    []Destination `json:"destinations"`
	Mutes    []Mute        `json:"mutes"`
	Chart    Chart         `json:"-"`
	// Errors: what could not be read (shown, never hidden).
	Errors []string `json:"errors,omitempty"`
}

// IncidentList is a list of incidents with the view's time, for the template.
type IncidentList struct {
	Now       time.Time
	Incidents []Incident
}

// List pairs incidents with the view's time.
func (v View) List(incs []Incident) IncidentList { return IncidentList{v.Now, incs} }

// window is how far back the page looks: resolved incidents, the chart.
const window = 24 * time.Hour

// view reads everything once.
func view(d Data, version string, started, now time.Time) View {
	v := View{Now: now, Version: version, Started: started, Hosts: d.Hosts(), Dests: d.Destinations(),
		Open: []Incident{}, Resolved: []Incident{}}
	incs, err := d.Incidents(now.Add(-window))
	if err != nil {
		v.Errors = append(v.Errors, "incident history: "+err.Error())
	}
	for _, inc := range incs {
		inc.ExitMeaning = ""
		if inc.ExitCode >= 0 {
			inc.ExitMeaning = event.ExitMeaning(inc.ExitCode)
		}
		if inc.ResolvedAt.IsZero() {
			v.Open = append(v.Open, inc)
		} else if now.Sub(inc.ResolvedAt) <= window {
			v.Resolved = append(v.Resolved, inc)
		}
	}
	slices.SortStableFunc(v.Open, func(a, b Incident) int { return cmp.Or(b.OpenedAt.Compare(a.OpenedAt), cmp.Compare(a.ID, b.ID)) })
	slices.SortStableFunc(v.Resolved, func(a, b Incident) int { return cmp.Or(b.ResolvedAt.Compare(a.ResolvedAt), cmp.Compare(a.ID, b.ID)) })
	if v.Mutes, err = d.Mutes(now); err != nil {
		v.Errors = append(v.Errors, "mutes: "+err.Error())
	}
	if v.Mutes == nil {
		v.Mutes = []Mute{}
	}
	slices.SortFunc(v.Mutes, func(a, b Mute) int { return cmp.Compare(a.Glob, b.Glob) })
	v.Chart = chart(incs, v.Hosts, now)
	return v
}

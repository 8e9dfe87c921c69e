// Package event is the leaf of whalewatch: the Event every package speaks,
// its constants and exit-code meanings. It imports nothing of ours and no
// Docker code, so rules and the alert core stay free of both.
package event

import (
	"strconv"
	"time"
)

// SelfType is the Type of events whalewatch makes about itself
// (a stream gap, an unreachable daemon, dropped events).
const SelfType = "whalewatch"

// RunningAgain is set (to "true") on a reconciled death of a container
// that runs again: the death is of an earlier run.
const RunningAgain = "whalewatch.running"

// EndedBefore is set (to a timeNano) on a reconciled death when the start
// that followed it is known (the replay's, or its state's StartedAt): two
// looks that name the death differently (its state's end, or just before
// that start once a later end overwrote the state) name that start alike.
const EndedBefore = "whalewatch.before"

// ContainerType is the Type of container events.
const ContainerType = "container"

// StatsType is the Type of a container's resource sample (the stats
// sampler's, not the daemon's /events): rules see it, the cursor never does.
const StatsType = "stats"

// Event is one thing that happened on a Docker host, as rules see it.
// It is persisted (outbox entries, group state) under these JSON names.
type Event struct {
	Host string `json:"host"` // which daemon (its configured name, for people)
	// Engine is the daemon's engine: "docker" or "podman" (set by the
	// event source; Podman's events are reshaped as Docker's).
	Engine string `json:"engine,omitempty"`
	// HostID is the daemon's stable ID (from /info): what the state is
	// keyed by, so a renamed host or a slow /info never loses its cursor.
	HostID string `json:"host_id,omitempty"`
	Type   string `json:"type"`             // container, image, network, volume, daemon, … or SelfType
	Action string `json:"action"`           // the base word: die, health_status, exec_start …
	Status string `json:"status,omitempty"` // the part after ": " in the raw action (e.g. "unhealthy"), or ""
	// ActorID is the container, image, network … ID.
	ActorID string `json:"actor_id"`
	// Attributes are the daemon's attributes as sent; for containers they
	// include every label, so they are untrusted text.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Labels are the container's labels (container events only).
	Labels   map[string]string `json:"labels,omitempty"`
	Name     string            `json:"name,omitempty"`
	Image    string            `json:"image,omitempty"`
	ExitCode int               `json:"exit_code"` // -1 when the event carries none
	Scope    string            `json:"scope,omitempty"`
	Time     time.Time         `json:"time"`
	TimeNano int64             `json:"time_nano"`

	// Filled in by the event source from what it saw earlier on the stream.

	// Intentional: a die or stop that followed a kill/stop request for
	// the same container (docker stop, docker kill, a daemon shutdown).
	Intentional bool `json:"intentional,omitempty"`
	// OOMKilled: a die that followed an oom event of the same container.
	OOMKilled bool `json:"oom_killed,omitempty"`
	// Reconciled: the stream never carried this event; whalewatch found the
	// change by listing containers after a reconnect.
	Reconciled bool `json:"reconciled,omitempty"`
	// Verified lists attributes whose value came from inspecting the
	// container because a label of the same name shadowed the daemon's.
	Verified []string `json:"verified,omitempty"`
	// Shadowed lists the daemon attributes that a label of this container
	// shadows, and Restarts its RestartCount when known (on a start, so the
	// running set remembers them across restarts; on a die, the count its
	// next start has if its restart policy's, for the checkpoint alone).
	Shadowed []string `json:"shadowed,omitempty"`
	Restarts *int     `json:"restarts,omitempty"`
	// Evidence is what the daemon could tell about a death or an
	// unhealthy container when it happened (nil when not gathered).
	Evidence *Evidence `json:"evidence,omitempty"`
	// Stats is the sample of a StatsType event (and of the alert a
	// pressure rule made of it, with the trend of its FOR window).
	Stats *Stats `json:"stats,omitempty"`
}

// Stats is one resource sample of a running container, computed as
// docker stats does. Limits are 0 when the container has none.
type Stats struct {
	MemoryBytes   int64   `json:"memory_bytes"` // working set: usage less inactive file cache
	MemoryLimit   int64   `json:"memory_limit"`
	MemoryPercent float64 `json:"memory_percent"` // of MemoryLimit; 0 without one
	CPUPercent    float64 `json:"cpu_percent"`    // 100 is one CPU; 0 on a container's first sample
	PIDs          int64   `json:"pids"`
	PIDsLimit     int64   `json:"pids_limit"`
	// Trend: earlier samples of the FOR window, oldest first (alerts only).
	Trend []StatsPoint `json:"trend,omitempty"`
}

// StatsPoint is one earlier sample in an alert's trend.
type StatsPoint struct {
	Time          time.Time `json:"time"`
	MemoryPercent float64   `json:"memory_percent"`
	CPUPercent    float64   `json:"cpu_percent"`
	PIDs          int64     `json:"pids"`
}

// Evidence is the crash card's facts: gathered by the event source with
// inspect and logs right after the event, bounded and cleaned there.
type Evidence struct {
	Logs []LogLine `json:"logs,omitempty"` // the last lines of output, oldest first
	// LogsNote says why Logs is empty or short, for people ("off for this
	// container", "could not be read: …", "cut to the last 4 KiB").
	LogsNote     string        `json:"logs_note,omitempty"`
	Health       []HealthProbe `json:"health,omitempty"` // the last healthcheck probes, oldest first
	OOMKilled    bool          `json:"oom_killed,omitempty"`
	RestartCount int           `json:"restart_count"`
	StartedAt    time.Time     `json:"started_at,omitzero"`
	FinishedAt   time.Time     `json:"finished_at,omitzero"`
	ImageID      string        `json:"image_id,omitempty"` // the image's content digest (sha256:…)
	// Error says why inspect failed; the card then has the stream's facts only.
	Error string `json:"error,omitempty"`
}

// LogLine is one line of a container's output.
type LogLine struct {
	Stream string `json:"stream"` // stdout or stderr
	Text   string `json:"text"`
}

// HealthProbe is one run of a container's healthcheck.
type HealthProbe struct {
	ExitCode int       `json:"exit_code"`
	Output   string    `json:"output"`
	End      time.Time `json:"end,omitzero"`
}

// Ran is how long the container ran before this death, 0 when unknown.
func (e *Evidence) Ran() time.Duration {
	if e == nil || e.StartedAt.IsZero() || e.FinishedAt.Before(e.StartedAt) {
		return 0
	}
	return e.FinishedAt.Sub(e.StartedAt)
}

// Key identifies an event for de-duplication: the daemon replays events
// on resume, and the replay may overlap the live stream. (Not built with
// fmt: it is made twice for every event read.)
func (e Event) Key() string {
	var nano [20]byte
	return string(strconv.AppendInt(nano[:0], e.TimeNano, 10)) + "/" + e.Type + "/" + e.Action + ":" + e.Status + "/" + e.ActorID
}

// HostKey names the event's daemon in the state: its ID when known, else
// its name (state written before IDs were kept).
func (e Event) HostKey() string {
	if e.HostID != "" {
		return e.HostID
	}
	return e.Host
}

// ShortID is the 12-character form of the actor ID, safe on short IDs.
func (e Event) ShortID() string {
	if len(e.ActorID) > 12 {
		return e.ActorID[:12]
	}
	return e.ActorID
}

// Container is what whalewatch remembers of a running container, to report
// it if it dies unseen.
type Container struct {
	Name   string            `json:"name"`
	Image  string            `json:"image"`
	Labels map[string]string `json:"labels,omitempty"`
	// Shadowed: daemon attributes its labels shadow (kept across restarts,
	// so a replayed death's label-made exit code is never believed).
	Shadowed []string `json:"shadowed,omitempty"`
	// Restarts is its RestartCount when known: after a gap, a count that
	// grew tells of deaths the daemon no longer has events of.
	Restarts *int `json:"restarts,omitempty"`
}

// Resume is where a host's stream continues after a restart, as the
// alert core's checkpoint keeps it.
type Resume struct {
	Cursor int64 // the highest timeNano handled
	// AtCursor are the keys of the events handled at Cursor, which the
	// daemon replays (its since is inclusive).
	AtCursor []string
	Running  map[string]Container // what ran there at Cursor
	// Open are the containers (IDs) with an open incident or crash loop,
	// running or not: after a gap, those the daemon no longer has were
	// removed meanwhile, and their incidents resolve.
	Open []string
	// Ahead are the keys of events after Cursor that were handled already:
	// they passed ahead of an earlier event still held for settling (which
	// keeps the cursor behind it). The replay brings them again; they are
	// dropped as seen.
	Ahead []string
	// Stopped are the containers (IDs) that ended under the stream and had
	// not started again at Cursor, with the RestartCount their next start
	// has if it is their restart policy's (0 after an end asked for).
	Stopped map[string]int
}

// Item is what an event source hands the alert core, in stream order: an
// event, or (Listed not nil) the containers a fresh list found running.
// Event.Host and Event.HostID name the daemon in both cases.
type Item struct {
	Event  Event
	Listed map[string]Container
	// Cursor, when not 0, moves the host's cursor there, AtCursor naming
	// the events at it: the stream went on with events no rule needs (or
	// opened), or the daemon's clock stepped back (a cursor ahead of its
	// clock would resume nothing). Everything before it has been handed on.
	Cursor   int64
	AtCursor []string
	// Ahead: an earlier event (of another container) is still held for
	// settling, so this one must not move the cursor past it (a kill would
	// lose it); it is remembered as handled ahead of the cursor instead.
	Ahead bool
	// Verdict is the rules' judgement of Event when the source already
	// asked for it (to decide on a crash card's evidence): the core reuses
	// it rather than running the rules again.
	Verdict Verdict
}

// Verdict is what the rules said of one event, judged once.
type Verdict struct {
	// Judged: the rules ran. Rules are the indexes (in the engine's order)
	// of those that matched; Errors what the others failed with.
	Judged bool
	Rules  []int
	Errors []error
}

// KnownTypes and KnownActions are the event types and actions Docker
// documents (and whalewatch's own); metrics label anything else "other",
// since a daemon's strings must not grow the number of series.
var (
	KnownTypes = set("container", "image", "plugin", "volume", "network", "daemon", "service", "node",
		"secret", "config", "builder", SelfType, StatsType)
	KnownActions = set("attach", "commit", "copy", "create", "destroy", "detach", "die", "exec_create",
		"exec_detach", "exec_die", "exec_start", "export", "health_status", "kill", "oom", "pause", "rename",
		"resize", "restart", "start", "stop", "top", "unpause", "update", "prune", "delete", "import", "load",
		"pull", "push", "save", "tag", "untag", "enable", "disable", "install", "remove", "mount", "unmount",
		"connect", "disconnect", "reload", "daemon_unreachable", "stream_restored", "events_dropped",
		"notifications_dropped", "delivery_failed", "stream_gap", "clock_stepped_back", "sample")
)

func set(items ...string) map[string]bool {
	m := make(map[string]bool, len(items))
	for _, s := range items {
		m[s] = true
	}
	return m
}

// Offer is what an alert offers to act on: its situation and its
// container. The core records it on the notification without any I/O; the
// Slack bot asks for the buttons (single-use tokens kept in the state
// file) when it posts the card. It lives here, not in notify, because
// actions (which mints the buttons) must not import notify.
type Offer struct {
	// Situation is SituationDied, SituationUnhealthy or SituationCrashLoop;
	// "" offers only what touches no container (mute, acknowledge).
	Situation   string `json:"situation,omitempty"`
	Host        string `json:"host,omitempty"` // the daemon's name: the buttons act there
	ContainerID string `json:"container_id"`
	Name        string `json:"name,omitempty"`
	// Labels are the container's whalewatch.* labels, which decide what
	// may be done to it; its other labels may hold secrets.
	Labels map[string]string `json:"labels,omitempty"`
}

// Situations an alert may offer buttons for.
const (
	SituationDied      = "died"
	SituationUnhealthy = "unhealthy"
	SituationCrashLoop = "crashloop"
)

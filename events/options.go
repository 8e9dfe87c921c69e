package events

import (
	"log/slog"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// Interest is what the alert side makes of events, asked by the source
// without calling back up: which events can matter, which containers are
// watched, the rules' judgement of an event, whether stats are sampled.
// It must be safe for concurrent use (inspects and samples run beside the
// reader).
type Interest interface {
	// Keeps says whether events of a type and action (base word) can
	// matter downstream; the others are dropped as soon as they are read.
	// What the source itself tracks (container start, kill, oom, die,
	// destroy) is kept whatever it says.
	Keeps(typ, action string) bool
	// Watches says whether a container with these labels is watched.
	Watches(labels map[string]string) bool
	// Judge runs the rules on ev once; the verdict goes on with the event
	// (event.Item.Verdict) so the core does not run them again.
	Judge(ev event.Event) event.Verdict
	// SamplesStats says whether some rule is about Type == "stats".
	SamplesStats() bool
}

// everything is the Interest of a nil Options.Interest: every event kept,
// every container watched, no rule to judge by, no stats.
type everything struct{}

func (everything) Keeps(string, string) bool       { return true }
func (everything) Watches(map[string]string) bool  { return true }
func (everything) Judge(event.Event) event.Verdict { return event.Verdict{} }
func (everything) SamplesStats() bool              { return false }

// Options are a Source's settings, fixed when NewSource builds it. A zero
// field takes the default named beside it.
type Options struct {
	Log     *slog.Logger     // nil: slog.Default()
	Metrics *metrics.Metrics // nil: a registry of its own (metrics.New)

	// Interest: what matters downstream. nil keeps everything, watches
	// every container, judges nothing (so gathers no evidence) and
	// samples no stats.
	Interest Interest

	// RetryMin and RetryMax bound the reconnect backoff (500 ms, 30 s).
	RetryMin, RetryMax time.Duration
	// HealthyAfter: a stream that stayed up this long resets the backoff
	// (1 min).
	HealthyAfter time.Duration
	// UnreachableAfter: an outage this long is reported while it lasts
	// (30 s).
	UnreachableAfter time.Duration
	// GapNoticeAfter: an outage at least this long is reported on
	// reconnect (5 s; negative: every outage).
	GapNoticeAfter time.Duration
	// IntentWindow: a die this soon after a kill of the same container
	// counts as intentional (and as OOM after an oom event) (15 s).
	IntentWindow time.Duration
	// SwarmEvents says whether this stream passes Swarm-scope events
	// (SwarmLeader, the default; SwarmAll, SwarmOff).
	SwarmEvents string
	// LeaderCheckEvery: how often a manager's leadership is checked (10 s).
	LeaderCheckEvery time.Duration
	// AuditEvery: how often the live stream is checked against the
	// daemon's replay of what it sent since the last check (10 s;
	// negative: never). A subscriber whose buffer stays full for 100 ms
	// loses events without a word; the audit finds them (and hands them
	// on), and reconciles when the daemon no longer has them either.
	AuditEvery time.Duration
	// OOMWait is how long a SIGKILL death nobody asked for waits for its
	// oom event, which the daemon may send after the die, before
	// whalewatch asks the daemon instead (1 s).
	OOMWait time.Duration
	// InspectTimeout bounds each inspect that settles an event (an OOM
	// check, a label-shadowed exit code, a reconciled death), and each
	// list, replay and /info (10 s). Inspects run beside the stream
	// reader, so this fits a busy host, not the daemon's patience with
	// slow readers.
	InspectTimeout time.Duration

	// Evidence: how much of a container's output comes with a crash
	// card's facts (which events get them, Interest decides).
	Evidence EvidenceOptions
	// Stats: how the daemon's containers are sampled beside the stream
	// while Interest.SamplesStats and the client can (StatsDocker).
	Stats StatsOptions
}

// StatsOptions say how often and how widely containers are sampled.
type StatsOptions struct {
	Interval    time.Duration // between rounds (0: never)
	Concurrency int           // samples in flight at once (0: 1)
}

// withDefaults fills the zero fields.
func (o Options) withDefaults() Options {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.Metrics == nil {
		o.Metrics = metrics.New()
	}
	if o.Interest == nil {
		o.Interest = everything{}
	}
	def(&o.RetryMin, 500*time.Millisecond)
	def(&o.RetryMax, 30*time.Second)
	def(&o.HealthyAfter, time.Minute)
	def(&o.UnreachableAfter, 30*time.Second)
	def(&o.GapNoticeAfter, 5*time.Second)
	def(&o.IntentWindow, defaultIntentWindow)
	def(&o.LeaderCheckEvery, 10*time.Second)
	def(&o.AuditEvery, 10*time.Second)
	def(&o.OOMWait, time.Second)
	def(&o.InspectTimeout, 10*time.Second)
	def(&o.Evidence.LogsTimeout, 5*time.Second)
	if o.SwarmEvents == "" {
		o.SwarmEvents = SwarmLeader
	}
	o.Stats.Concurrency = max(o.Stats.Concurrency, 1)
	return o
}

// Package metrics holds whalewatch's Prometheus metrics. One Metrics value
// is made in main and handed to every part that counts something.
package metrics

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the counters and gauges whalewatch exposes on /metrics.
type Metrics struct {
	Registry *prometheus.Registry

	EventsReceived   *prometheus.CounterVec // host, type, action
	EventsDuplicate  *prometheus.CounterVec // host
	EventsMissed     *prometheus.CounterVec // host
	EventsDropped    *prometheus.CounterVec // host
	EventsSkipped    *prometheus.CounterVec // host, reason (swarm_not_leader)
	StreamReconnects *prometheus.CounterVec // host
	StreamGaps       *prometheus.CounterVec // host
	StreamConnected  *prometheus.GaugeVec   // host
	EventLag         prometheus.Histogram

	RuleMatches   *prometheus.CounterVec // rule
	RuleErrors    *prometheus.CounterVec // rule
	MatchesHeld   *prometheus.CounterVec // reason (muted, crashloop, grouped)
	Notifications *prometheus.CounterVec // destination, outcome (sent, failed, retried, dropped)
	QueueDepth    *prometheus.GaugeVec   // destination
	// NotificationsDuplicate: notifications refused by the outbox because
	// their id was already queued or delivered (replayed after a crash).
	NotificationsDuplicate prometheus.Counter
	// InspectsFailed: inspects that could not settle an event (OOM check,
	// a label-shadowed attribute, a reconciled death), by purpose.
	InspectsFailed *prometheus.CounterVec
	// EvidenceSkipped: deaths passed on without their crash card's facts
	// because more waited than could be inspected (a storm), by host.
	EvidenceSkipped *prometheus.CounterVec
	ActionRequests  *prometheus.CounterVec // verb, outcome
	// StateWritable is 1 while the state file takes writes, 0 while
	// commits wait in memory (a full disk, an I/O error, a read-only fs).
	StateWritable      prometheus.Gauge
	StateWriteFailures prometheus.Counter
	// StatePending: notifications kept in memory only, waiting for the disk.
	StatePending prometheus.Gauge
	// OutboxUnreadable: outbox entries that could not be read (a damaged
	// page or entry), skipped, by destination.
	OutboxUnreadable *prometheus.CounterVec
	// StatsSamples: container stats samples by host and result (ok, error,
	// shed: the event queue was half full); StatsRounds: how long sampling
	// every container of a host took.
	StatsSamples *prometheus.CounterVec
	StatsRounds  *prometheus.HistogramVec
}

// New makes the metrics on a registry of their own (no global state).
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		EventsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_events_received_total", Help: "Docker events read from the stream.",
		}, []string{"host", "type", "action"}),
		EventsDuplicate: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_events_duplicate_total", Help: "Replayed events dropped as already seen.",
		}, []string{"host"}),
		EventsMissed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_events_missed_total", Help: "Events the daemon dropped for whalewatch's stream (a reader slow for 100 ms), found by the audit in its replay and handed on late.",
		}, []string{"host"}),
		EventsSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_events_skipped_total", Help: "Events passed over on purpose (no_rule: no rule and no tracker can use it; swarm_not_leader: another manager's whalewatch reports Swarm events; shed: a routine event let go while the event queue was nearly full, made up for by a fresh container list).",
		}, []string{"host", "reason"}),
		EventsDropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_events_dropped_total", Help: "Deaths, OOM kills and unhealthy reports lost because the event queue and its backlog were full (announced).",
		}, []string{"host"}),
		StreamReconnects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_stream_reconnects_total", Help: "Times the event stream was lost and reopened.",
		}, []string{"host"}),
		StreamGaps: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_stream_gaps_total", Help: "Resumes whose replay no longer reached back to the cursor (the daemon keeps its last 256 events, none across its restart, or its clock stepped back): reconciled from the container list and inspect.",
		}, []string{"host"}),
		StreamConnected: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "whalewatch_stream_connected", Help: "1 while the event stream of the host is open.",
		}, []string{"host"}),
		EventLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "whalewatch_event_lag_seconds",
			Help:    "Time from the event's timestamp to its rule evaluation.",
			Buckets: []float64{.001, .005, .01, .05, .1, .5, 1, 5, 30},
		}),
		RuleMatches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_rule_matches_total", Help: "Events a rule matched.",
		}, []string{"rule"}),
		RuleErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_rule_errors_total", Help: "Rule evaluations or templates that failed at run time.",
		}, []string{"rule"}),
		MatchesHeld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_matches_held_total", Help: "Matches not sent on their own: muted, counted in a crash-loop message, or gathered into a group or cooldown.",
		}, []string{"reason"}),
		Notifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_notifications_total", Help: "Notifications by destination and outcome (sent, failed, retried, dropped).",
		}, []string{"destination", "outcome"}),
		QueueDepth: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "whalewatch_queue_depth", Help: "Notifications waiting for a destination.",
		}, []string{"destination"}),
		NotificationsDuplicate: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "whalewatch_notifications_duplicate_total", Help: "Notifications not queued again: their id was already queued or delivered.",
		}),
		InspectsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_inspects_failed_total", Help: "Container inspects that failed or timed out, by purpose (oom, shadowed, reconcile).",
		}, []string{"purpose"}),
		EvidenceSkipped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_evidence_skipped_total", Help: "Deaths reported without their crash card's inspect and logs: more came at once than could be read.",
		}, []string{"host"}),
		ActionRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_action_requests_total", Help: "Slack action requests by verb and outcome.",
		}, []string{"verb", "outcome"}),
		StateWritable: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "whalewatch_state_writable", Help: "1 while the state file (STATE_DIR) takes writes; 0 while notifications and the checkpoint are kept in memory only.",
		}),
		StateWriteFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "whalewatch_state_write_failures_total", Help: "Writes of the state file that failed (full disk, I/O error, read-only file system).",
		}),
		StatePending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "whalewatch_state_pending", Help: "Notifications kept in memory only while the state file cannot be written.",
		}),
		OutboxUnreadable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_outbox_unreadable_total", Help: "Outbox entries that could not be read (a damaged page or entry) and were skipped (announced).",
		}, []string{"destination"}),
		StatsSamples: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "whalewatch_stats_samples_total", Help: "Container stats samples taken for the rules of Type \"stats\" (ok), failed (error), or let go while the event queue was half full (shed).",
		}, []string{"host", "result"}),
		StatsRounds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "whalewatch_stats_round_seconds", Help: "How long one round of stats samples of every running, watched container of a host took.",
			Buckets: []float64{0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30},
		}, []string{"host"}),
	}
	m.StateWritable.Set(1)
	m.Registry.MustRegister(m.StateWritable, m.StateWriteFailures, m.StatePending, m.OutboxUnreadable,
		m.EventsReceived, m.EventsDuplicate, m.EventsMissed, m.EventsDropped, m.EventsSkipped, m.StreamReconnects, m.StreamGaps,
		m.StreamConnected, m.EventLag, m.RuleMatches, m.RuleErrors, m.MatchesHeld, m.Notifications, m.QueueDepth,
		m.NotificationsDuplicate, m.InspectsFailed, m.EvidenceSkipped, m.ActionRequests, m.StatsSamples, m.StatsRounds)
	return m
}

// Bounded is v when known holds it, else "other": label values from
// outside (a daemon's event names, a user's words) must not grow the
// number of series.
func Bounded(v string, known map[string]bool) string {
	if known[v] {
		return v
	}
	return "other"
}

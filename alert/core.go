// Package alert is the path from an event to queued notifications: mutes,
// rule matching, crash loops, grouping and cooldowns, and the checkpoint
// of where each daemon's stream may resume. Time is passed in and output
// goes to an Outbox in transactions that carry the checkpoint, so the core
// has no Docker, no HTTP and no clock of its own: the fault simulator runs
// it with a fake clock and kills it at any instant.
package alert

import (
	"log/slog"
	"text/template"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

// Labels a container can carry to steer its alerts.
const (
	// MuteLabel=true silences it.
	MuteLabel = "whalewatch.mute"
	// EnableLabel=true|false watches it or not, whatever WatchByDefault says.
	EnableLabel = "whalewatch.enable"
	// NotifyLabel names the destinations of its alerts (comma-separated).
	NotifyLabel = "whalewatch.notify"
	// OwnerLabel is the Slack user or user-group ID mentioned on its cards.
	OwnerLabel = "whalewatch.owner"
)

// Outbox takes the notifications and the checkpoint in one transaction
// (notify.Dispatcher over the state file).
type Outbox interface {
	Commit(out []notify.Outgoing, snap state.Snapshot) error
}

// Mutes are the name-glob mutes set with /docker mute.
type Mutes interface {
	Mutes(now time.Time) (map[string]time.Time, error)
	MuteGeneration() int64
}

// Config is what the core needs besides its outbox.
type Config struct {
	Rules       *rules.Engine
	ShownLabels []string // labels that may appear in messages
	// CrashLoopDeaths deaths within CrashLoopWindow make a crash loop; one
	// ends after CrashLoopQuiet without a death. Deaths < 1 turns it off.
	CrashLoopDeaths                 int
	CrashLoopWindow, CrashLoopQuiet time.Duration
	// OptIn: only containers labelled whalewatch.enable=true are watched
	// (WATCH_BY_DEFAULT=false).
	OptIn bool
	// Destinations are the names whalewatch.notify may choose from.
	Destinations []string
	// ResolveAfter: an incident resolves once its container has been up
	// this long; 0 turns incidents off.
	ResolveAfter time.Duration
	// Link, when set, renders each alert's link (LINK_TEMPLATE).
	Link *template.Template
}

// Core is used by one goroutine.
type Core struct {
	cfg        Config
	ruleNotify map[string][]string // rule → its destinations
	interest   Interest
	outbox     Outbox
	mutes      Mutes
	log        *slog.Logger
	m          *metrics.Metrics

	groups    *grouper
	loops     *crashLoops
	incidents *incidents
	spells    map[string]*spell // host|container|rule → a stats rule's FOR (pressure.go)

	// Hosts are keyed by event.HostKey (the daemon's ID).
	cursors map[string]int64                      // host → highest timeNano handled
	running map[string]map[string]event.Container // host → containers running at the cursor
	// atCursor: per host, the keys of the events handled at the cursor's
	// timeNano. The daemon's since is inclusive, so it replays them after a
	// restart; the source drops them, and tells by them that its replay
	// began where this run stopped.
	atCursor *entries[[]string]
	// ahead: per host, the keys of events after the cursor handled already
	// (they passed ahead of an earlier one held for settling, which keeps
	// the cursor behind it); a resumed source drops them from its replay.
	ahead *aheadKeys
	// oomed: containers (host|id) with an oom handled since their last
	// start. The daemon sends one kill's oom event up to 7 times; the source
	// drops repeats within its run, this across a restart (its replay).
	oomed *entries[bool]
	// reconciled: reconciled deaths (host|key) handled, until when they are
	// remembered (see repeatedReconciled).
	reconciled *entries[time.Time]
	// stopped: the RestartCount its next start will have (if its policy's)
	// of each container (host|id) that ended under the stream and has not
	// started since: a gap is measured against it, as against the running
	// set's.
	stopped *entries[int]
	// endedBefore: per container (host|id), the starts (timeNano) that
	// followed its last reconciled deaths (event.EndedBefore), up to 8.
	endedBefore *entries[[]int64]
	// runningChanges: per host, containers started (value) or stopped
	// (nil) since the last commit.
	runningChanges map[string]map[string]*event.Container
	cursorDirty    bool
	// cursorFirst: a host got its first cursor, which commits at once: until
	// it does, a restart has nothing to resume from and starts afresh,
	// losing what happened meanwhile.
	cursorFirst bool
	legacyState bool              // a one-piece state was loaded: delete it at the next commit
	out         []notify.Outgoing // not yet committed

	muteList map[string]time.Time
	muteGen  int64
}

// New makes a core that starts empty; Restore loads a checkpoint.
func New(cfg Config, outbox Outbox, mutes Mutes, log *slog.Logger, m *metrics.Metrics) *Core {
	options := map[string]ruleOptions{}
	ruleNotify := map[string][]string{}
	for _, r := range cfg.Rules.Rules() {
		options[r.Name] = ruleOptions{groupWindow: r.GroupWindow, cooldown: r.Cooldown}
		ruleNotify[r.Name] = r.Notify
	}
	return &Core{
		cfg: cfg, outbox: outbox, mutes: mutes, log: log, m: m, ruleNotify: ruleNotify, interest: NewInterest(cfg.Rules, cfg.OptIn),
		groups:         newGrouper(options),
		loops:          newCrashLoops(cfg.CrashLoopDeaths, cfg.CrashLoopWindow, cfg.CrashLoopQuiet),
		incidents:      newIncidents(cfg.ResolveAfter),
		spells:         map[string]*spell{},
		cursors:        map[string]int64{},
		atCursor:       newEntries[[]string]("atcursor"),
		ahead:          newAheadKeys(),
		oomed:          newEntries[bool]("oomed"),
		reconciled:     newEntries[time.Time]("reconciled"),
		stopped:        newEntries[int]("stopped"),
		endedBefore:    newEntries[[]int64]("endedbefore"),
		running:        map[string]map[string]event.Container{},
		runningChanges: map[string]map[string]*event.Container{},
	}
}

// state is every part of the core's own state that the checkpoint keeps.
func (c *Core) state() []persisted {
	return []persisted{c.groups.groups, c.groups.cooldowns, c.groups.suppressed, c.loops.recent, c.loops.loops, c.incidents.open, c.atCursor, c.ahead, c.oomed, c.reconciled, c.stopped, c.endedBefore}
}

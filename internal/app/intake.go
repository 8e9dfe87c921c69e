package app

import (
	"context"
	"errors"
	"log/slog"
	"text/template"

	"golang.org/x/sync/errgroup"

	"github.com/whalewatch/whalewatch/alert"
	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

// LinkTemplate compiles LINK_TEMPLATE (nil when not set).
func LinkTemplate(cfg *config.Config) (*template.Template, error) {
	if cfg.LinkTemplate == "" {
		return nil, nil
	}
	return rules.ParseTemplate("LINK_TEMPLATE", cfg.LinkTemplate)
}

// NewCore makes the alert core, resumes it from the state file and makes
// each source resume where the core's checkpoint says.
func NewCore(cfg *config.Config, engine *rules.Engine, link *template.Template, dispatcher *notify.Dispatcher, store *state.Store,
	sources []*events.Source, offer func(event.Event, bool) []notify.Action, log *slog.Logger, m *metrics.Metrics) (*alert.Core, error) {
	core := alert.New(alert.Config{
		Rules: engine, ShownLabels: cfg.LabelsShown, Offer: offer,
		CrashLoopDeaths: cfg.CrashLoopDeaths, CrashLoopWindow: cfg.CrashLoopWindow, CrashLoopQuiet: cfg.CrashLoopQuiet,
		OptIn: !cfg.WatchByDefault, Destinations: dispatcher.Names(), ResolveAfter: cfg.ResolveAfter, Link: link,
	}, dispatcher, store, log, m)
	for _, src := range sources {
		src.Evidence = events.EvidenceOptions{Wants: wantsEvidence(engine, !cfg.WatchByDefault),
			LogLines: cfg.EvidenceLogLines, LogsTimeout: cfg.EvidenceTimeout}
		src.Keep = func(typ, action string) bool { return alert.Tracks(typ, action) || engine.MayMatch(typ, action) }
		if sd, ok := src.Docker.(events.StatsDocker); ok && SamplesStats(cfg, engine) {
			src.Stats = &events.Sampler{Source: src, Stats: sd, Interval: cfg.StatsInterval, Concurrency: cfg.StatsConcurrency,
				Watched: func(labels map[string]string) bool { return alert.Watched(labels, !cfg.WatchByDefault) }, Matches: engine.Wanted}
		}
	}
	snap, err := store.LoadSnapshot()
	if err == nil {
		err = core.Restore(snap)
	}
	if err != nil {
		return nil, err
	}
	resumes := core.Resumes()
	for _, src := range sources {
		src.Restore(resumes)
	}
	return core, nil
}

// SamplesStats: containers are sampled while some rule is about stats
// samples and STATS_INTERVAL does not turn it off.
func SamplesStats(cfg *config.Config, engine *rules.Engine) bool {
	return cfg.StatsInterval > 0 && engine.UsesStats()
}

// wantsEvidence: a watched container's event that some rule matches
// gets a crash card's facts.
func wantsEvidence(engine *rules.Engine, optIn bool) func(event.Event) bool {
	return func(ev event.Event) bool {
		return alert.Watched(ev.Labels, optIn) && engine.Wanted(ev)
	}
}

// RunIntake runs the event sources, the alert core and the extra
// services until ctx ends; then the dispatcher, which outlives intake,
// delivers what was queued before the stop.
func RunIntake(ctx context.Context, cfg *config.Config, core *alert.Core, sources []*events.Source, dispatcher *notify.Dispatcher, extra ...func(context.Context) error) error {
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDispatch()
	dispatcher.DrainTimeout = cfg.ShutdownTimeout
	dispatchDone := make(chan error, 1)
	go func() { dispatchDone <- dispatcher.Run(dispatchCtx) }()

	g, gctx := errgroup.WithContext(ctx)
	queue := make(chan event.Item, cfg.EventQueueSize)
	for _, src := range sources {
		g.Go(func() error { return src.Run(gctx, queue) })
	}
	g.Go(func() error {
		core.Run(gctx, queue)
		return nil
	})
	for _, run := range extra {
		g.Go(func() error { return run(gctx) })
	}
	err := g.Wait()
	stopDispatch()
	<-dispatchDone
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

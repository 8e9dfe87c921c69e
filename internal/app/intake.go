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

// NewCore makes the alert core, resumes it from the state file and makes
// each source resume where the core's checkpoint says (the sources are
// made before the state file is read, so Restore hands that on).
func NewCore(cfg *config.Config, engine *rules.Engine, link *template.Template, dispatcher *notify.Dispatcher, store *state.Store,
	sources []*events.Source, log *slog.Logger, m *metrics.Metrics) (*alert.Core, error) {
	core := alert.New(alert.Config{
		Rules: engine, ShownLabels: cfg.Alert.LabelsShown,
		CrashLoopDeaths: cfg.Alert.CrashLoopDeaths, CrashLoopWindow: cfg.Alert.CrashLoopWindow, CrashLoopQuiet: cfg.Alert.CrashLoopQuiet,
		OptIn: !cfg.Alert.WatchByDefault, Destinations: dispatcher.Names(), ResolveAfter: cfg.Alert.ResolveAfter, Link: link,
	}, dispatcher, store, log, m)
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
	return cfg.Stats.Interval > 0 && engine.UsesStats()
}

// SourceOptions are every source's settings: the configuration's and
// what the rules and labels make of events (alert.Interest).
func SourceOptions(cfg *config.Config, engine *rules.Engine, log *slog.Logger, m *metrics.Metrics) events.Options {
	return events.Options{Log: log, Metrics: m, SwarmEvents: cfg.Docker.SwarmEvents,
		Interest: alert.NewInterest(engine, !cfg.Alert.WatchByDefault),
		Evidence: events.EvidenceOptions{LogLines: cfg.Evidence.LogLines, LogsTimeout: cfg.Evidence.Timeout},
		Stats:    events.StatsOptions{Interval: cfg.Stats.Interval, Concurrency: cfg.Stats.Concurrency}}
}

// RunIntake runs the event sources, the alert core and the extra
// services until ctx ends; then the dispatcher, which outlives intake,
// delivers what was queued before the stop.
func RunIntake(ctx context.Context, cfg *config.Config, core *alert.Core, sources []*events.Source, dispatcher *notify.Dispatcher, extra ...func(context.Context) error) error {
	dispatchCtx, stopDispatch := context.WithCancel(context.WithoutCancel(ctx))
	defer stopDispatch()
	dispatcher.DrainTimeout = cfg.Process.ShutdownTimeout
	dispatchDone := make(chan error, 1)
	go func() { dispatchDone <- dispatcher.Run(dispatchCtx) }()

	g, gctx := errgroup.WithContext(ctx)
	queue := make(chan event.Item, cfg.Docker.EventQueueSize)
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

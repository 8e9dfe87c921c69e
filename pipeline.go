package main

import (
	"context"
	"log/slog"
	"path"
	"time"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/config"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

// MuteLabel on a container silences it: whalewatch.mute=true.
const MuteLabel = "whalewatch.mute"

// pipeline turns events into queued notifications: mutes, crash loops,
// rules, grouping, then the dispatcher's durable outbox. It also saves
// each daemon's checkpoint once what came before it is safely queued.
type pipeline struct {
	engine      *rules.Engine
	dispatcher  *notify.Dispatcher
	grouper     *notify.Grouper
	loops       *notify.CrashLoops
	offer       offerFunc
	shownLabels []string
	store       *state.Store
	sources     []*events.Source
	log         *slog.Logger
	m           *metrics.Metrics

	processed map[string]int64 // host → highest timeNano handled
	mutes     map[string]time.Time
	muteGen   int64 // of the store's mutes last read
}

func newPipeline(cfg *config.Config, engine *rules.Engine, d *notify.Dispatcher, store *state.Store,
	sources []*events.Source, offer offerFunc, log *slog.Logger, m *metrics.Metrics) *pipeline {
	return &pipeline{
		engine: engine, dispatcher: d, offer: offer, shownLabels: cfg.LabelsShown, store: store, sources: sources, log: log, m: m,
		grouper:   notify.NewGrouper(cfg.RuleOptions),
		loops:     notify.NewCrashLoops(cfg.CrashLoopDeaths, cfg.CrashLoopWindow, cfg.CrashLoopQuiet),
		processed: map[string]int64{},
	}
}

// restore makes each source resume from its saved checkpoint.
func (p *pipeline) restore() {
	for _, src := range p.sources {
		cp, ok, err := p.store.LoadCheckpoint(src.Host)
		if err != nil {
			p.log.Error("cannot read the saved checkpoint; starting live", "host", src.Host, "err", err)
			continue
		}
		if ok {
			p.log.Info("resuming the event stream", "host", src.Host, "since", time.Unix(0, cp.Cursor).UTC(), "known_running", len(cp.Running))
			src.Restore(cp)
		}
	}
}

// run handles events until ctx ends and the queue is empty, then sends
// what groups still hold and saves the checkpoints.
func (p *pipeline) run(ctx context.Context, queue <-chan event.Event) {
	p.refreshMutes(time.Now())
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	for {
		select {
		case ev := <-queue:
			p.handle(ev, time.Now())
		case now := <-ticker.C:
			p.tick(now)
		case <-ctx.Done():
			for {
				select {
				case ev := <-queue:
					p.handle(ev, time.Now())
				default:
					p.send(p.grouper.Tick(time.Now().Add(24 * time.Hour))) // close every group now
					p.checkpoint()
					return
				}
			}
		}
	}
}

func (p *pipeline) handle(ev event.Event, now time.Time) {
	p.m.EventLag.Observe(now.Sub(ev.Time).Seconds())
	defer p.markProcessed(ev)
	matches, errs := p.engine.Match(ev)
	for _, err := range errs {
		p.log.Error("rule failed on an event", "rule", err.Rule, "err", err.Err, "type", ev.Type, "action", ev.Action)
		p.m.RuleErrors.WithLabelValues(err.Rule).Inc()
	}
	if p.muted(ev, now) {
		p.m.MatchesHeld.WithLabelValues("muted").Add(float64(len(matches)))
		return
	}
	inLoop, loopNotes := p.loops.Observe(ev, now)
	for _, n := range loopNotes {
		if p.offer != nil {
			n.Actions = p.offer(ev, true)
		}
		p.dispatcher.Send(n, nil)
	}
	for _, match := range matches {
		p.m.RuleMatches.WithLabelValues(match.Rule.Name).Inc()
		if inLoop {
			p.m.MatchesHeld.WithLabelValues("crashloop").Inc() // counted in the loop's message
			continue
		}
		n := notify.New(match.Rule.Name, match.Text, ev, p.shownLabels)
		if p.offer != nil {
			n.Actions = p.offer(ev, false)
		}
		out := p.grouper.Add(notify.Outgoing{N: n, To: match.Rule.Notify}, now)
		if len(out) == 0 {
			p.m.MatchesHeld.WithLabelValues("grouped").Inc()
		}
		p.send(out)
	}
}

func (p *pipeline) send(out []notify.Outgoing) {
	for _, o := range out {
		p.dispatcher.Send(o.N, o.To)
	}
}

func (p *pipeline) tick(now time.Time) {
	p.send(p.grouper.Tick(now))
	for _, n := range p.loops.Tick(now) {
		p.dispatcher.Send(n, nil)
	}
	p.refreshMutes(now)
	p.checkpoint()
}

func (p *pipeline) markProcessed(ev event.Event) {
	if ev.Type != event.SelfType && !ev.Reconciled && ev.TimeNano > p.processed[ev.Host] {
		p.processed[ev.Host] = ev.TimeNano
	}
}

// checkpoint saves where each stream may resume: after what is handled,
// but not past an event a group still holds unsent.
func (p *pipeline) checkpoint() {
	for _, src := range p.sources {
		cursor := p.processed[src.Host]
		if held := p.grouper.OldestPending(src.Host); held > 0 && held-1 < cursor {
			cursor = held - 1
		}
		if cursor == 0 {
			continue
		}
		if err := p.store.SaveCheckpoint(src.Host, state.Checkpoint{Cursor: cursor, Running: src.Running()}); err != nil {
			p.log.Error("cannot save the checkpoint", "host", src.Host, "err", err)
		}
	}
}

func (p *pipeline) refreshMutes(now time.Time) {
	mutes, err := p.store.Mutes(now)
	if err != nil {
		p.log.Error("cannot read mutes", "err", err)
		return
	}
	p.mutes = mutes
}

// muted: the container's label says so, or a mute (/docker mute) covers its name.
func (p *pipeline) muted(ev event.Event, now time.Time) bool {
	if ev.Labels[MuteLabel] == "true" {
		return true
	}
	if gen := p.store.MuteGeneration(); gen != p.muteGen {
		p.muteGen = gen
		p.refreshMutes(now) // a mute just set applies to the very next event
	}
	for glob, until := range p.mutes {
		if ok, _ := path.Match(glob, ev.Name); ok && now.Before(until) {
			return true
		}
	}
	return false
}

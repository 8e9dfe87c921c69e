package events

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
)

// StatsDocker is the part of the Docker client the stats sampler adds to
// its source's.
type StatsDocker interface {
	ContainerStats(ctx context.Context, id string, options client.ContainerStatsOptions) (client.ContainerStatsResult, error)
}

// sampler takes a one-shot stats sample of each running, watched container
// of its source's daemon every Options.Stats.Interval and hands each on as
// a StatsType event, with the rules' verdict. It runs beside the event
// reader, never on it; samples never move the cursor (they are not from
// /events), and when the queue is half full they are let go (counted),
// since the next round brings fresh ones. A container's first sample some
// rule matches, and one every evidenceEvery while it keeps matching,
// carries the card's evidence (inspect facts, last lines of output).
type sampler struct {
	src    *Source // the daemon's: its client, name, timeouts, options
	docker StatsDocker

	memTotal int64 // the host's memory: a container "limited" to it has no limit
	shedding bool  // the last round shed samples (logged once a spell)
	prev     map[string]cpuSample
	// evidenceAt: when a container's matching spell last got evidence.
	evidenceAt map[string]time.Time
}

// evidenceEvery: how often a container that keeps matching gets fresh
// evidence, so the card's output is recent when its rule's FOR ends.
const evidenceEvery = time.Minute

// cpuSample is what a CPU percentage is the change since.
type cpuSample struct{ total, system uint64 }

// Run samples until ctx ends.
func (s *sampler) Run(ctx context.Context, out chan<- event.Item) error {
	s.prev, s.evidenceAt = map[string]cpuSample{}, map[string]time.Time{}
	ticker := time.NewTicker(s.src.opts.Stats.Interval) // a slow round skips ticks, never piles them up
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-ticker.C:
		}
		if err := s.round(ctx, out); err != nil && ctx.Err() == nil {
			s.src.log.Warn("cannot sample container stats this round", "err", err)
		}
	}
}

// sampled is one container's sample, made by a worker.
type sampled struct {
	ev      event.Event
	verdict event.Verdict // the rules' judgement of it
	cpu     cpuSample
	err     error
}

// round samples every running, watched container once.
func (s *sampler) round(ctx context.Context, out chan<- event.Item) error {
	src := s.src
	// Samples carry the host ID the stream settled on (Podman's /info
	// makes up a new one per request): none before it is identified.
	hostID := src.identity.Load()
	if hostID == nil || src.downSince.Load() != 0 {
		return nil // nor while the stream is down: its reconnect says so
	}
	if s.memTotal == 0 {
		info, err := src.info(ctx)
		if err != nil {
			return err
		}
		s.memTotal = info.Info.MemTotal
	}
	start := time.Now()
	listCtx, cancel := context.WithTimeout(ctx, src.opts.InspectTimeout)
	list, err := src.docker.ContainerList(listCtx, client.ContainerListOptions{Filters: make(client.Filters).Add("status", "running")})
	cancel()
	if err != nil {
		return fmt.Errorf("list running containers: %w", err)
	}
	var ctrs []container.Summary
	for _, c := range list.Items {
		if src.opts.Interest.Watches(c.Labels) {
			ctrs = append(ctrs, c)
		}
	}
	results := make([]sampled, len(ctrs))
	sem := make(chan struct{}, src.opts.Stats.Concurrency)
	var wg sync.WaitGroup
	for i, c := range ctrs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			results[i] = s.sample(ctx, *hostID, c)
		})
	}
	wg.Wait()
	src.m.StatsRounds.WithLabelValues(src.Host).Observe(time.Since(start).Seconds())

	s.handOn(ctx, out, ctrs, results)
	return nil
}

// handOn hands a round's samples on while the queue is less than half
// full (the rest is the stream's), and forgets what is no longer running.
func (s *sampler) handOn(ctx context.Context, out chan<- event.Item, ctrs []container.Summary, results []sampled) {
	src := s.src
	running := make(map[string]bool, len(ctrs))
	shed := 0
	for i, r := range results {
		id := ctrs[i].ID
		running[id] = true
		if r.err != nil {
			src.m.StatsSamples.WithLabelValues(src.Host, "error").Inc()
			if ctx.Err() == nil {
				src.log.Debug("cannot sample a container's stats", "container", id, "err", r.err)
			}
			continue
		}
		s.prev[id] = r.cpu
		if len(r.verdict.Rules) == 0 {
			delete(s.evidenceAt, id) // the spell is over
		}
		if len(out) < cap(out)/2 { // the rest is the stream's
			select {
			case out <- event.Item{Event: r.ev, Verdict: r.verdict}:
				src.m.StatsSamples.WithLabelValues(src.Host, "ok").Inc()
				if r.ev.Evidence != nil {
					s.evidenceAt[id] = time.Now()
				}
				continue
			default:
			}
		}
		src.m.StatsSamples.WithLabelValues(src.Host, "shed").Inc()
		shed++
	}
	if shed > 0 && !s.shedding {
		src.log.Warn("stats samples shed: the event queue is busy (whalewatch_stats_samples_total{result=\"shed\"})", "shed", shed, "of", len(ctrs))
	}
	s.shedding = shed > 0
	for id := range s.prev {
		if !running[id] {
			delete(s.prev, id)
			delete(s.evidenceAt, id)
		}
	}
}

// sample reads one container's stats and makes its event. It only reads
// the sampler's maps (round writes them once every worker is done).
func (s *sampler) sample(ctx context.Context, hostID string, c container.Summary) sampled {
	src := s.src
	ctx, cancel := context.WithTimeout(ctx, src.opts.InspectTimeout)
	defer cancel()
	res, err := s.docker.ContainerStats(ctx, c.ID, client.ContainerStatsOptions{})
	if err != nil {
		return sampled{err: err}
	}
	defer res.Body.Close()
	var r container.StatsResponse
	if err := json.NewDecoder(io.LimitReader(res.Body, maxStatsRead)).Decode(&r); err != nil {
		return sampled{err: fmt.Errorf("read the stats: %w", err)}
	}
	var prev *cpuSample
	if p, ok := s.prev[c.ID]; ok {
		prev = &p
	}
	st := computeStats(r, prev, s.memTotal)
	when := r.Read
	if when.IsZero() || when.Year() < 2000 { // a daemon that could not read the cgroup
		when = time.Now()
	}
	info := infoFromSummary(c, nil, nil)
	image := c.Image
	if src.isPodman() {
		image = dockerImageName(image) // as the stream's events name it
	}
	ev := event.Event{Host: src.Host, HostID: hostID, Engine: src.Engine(), Type: event.StatsType, Action: "sample", ActorID: c.ID,
		Attributes: map[string]string{"name": info.Name, "image": image}, Labels: c.Labels, Name: info.Name, Image: image,
		ExitCode: -1, Time: when.UTC(), TimeNano: when.UnixNano(), Stats: &st}
	v := src.opts.Interest.Judge(ev)
	if at, ok := s.evidenceAt[c.ID]; len(v.Rules) > 0 && (!ok || time.Since(at) >= evidenceEvery) {
		insp, err := src.docker.ContainerInspect(ctx, c.ID, client.ContainerInspectOptions{})
		ev.Evidence = src.gatherEvidence(ctx, ev, insp.Container, err)
	}
	return sampled{ev: ev, verdict: v, cpu: cpuSample{total: r.CPUStats.CPUUsage.TotalUsage, system: r.CPUStats.SystemUsage}}
}

// maxStatsRead bounds one stats answer (about 3 KB; more with many networks).
const maxStatsRead = 1 << 20

// noLimit: a limit at least this high is none (cgroup "max").
const noLimit = math.MaxInt64 / 2

// computeStats makes a sample's figures as docker stats does (docker/cli's
// calculateMemUsageUnixNoCache and calculateCPUPercentUnix): the working
// set is usage less the inactive file cache (total_inactive_file on cgroup
// v1, inactive_file on v2), a share of the limit; the CPU is the container's
// share of the host's CPU time since the previous sample (the daemon's
// precpu when it sent one, else prev; none: 0) times the online CPUs, so
// 100 is one CPU. A memory limit at or above the host's memory (memTotal,
// as Docker reports a container without one) counts as none.
func computeStats(r container.StatsResponse, prev *cpuSample, memTotal int64) event.Stats {
	mem := r.MemoryStats
	used := mem.Usage
	if v, v1 := mem.Stats["total_inactive_file"]; v1 && v < used {
		used -= v
	} else if v := mem.Stats["inactive_file"]; v < used {
		used -= v
	}
	st := event.Stats{MemoryBytes: clampInt(used), PIDs: clampInt(r.PidsStats.Current)}
	if limit := clampInt(mem.Limit); limit > 0 && limit < noLimit && (memTotal <= 0 || limit < memTotal) {
		st.MemoryLimit = limit
		st.MemoryPercent = round2(float64(used) / float64(limit) * 100)
	}
	if limit := clampInt(r.PidsStats.Limit); limit < noLimit {
		st.PIDsLimit = limit
	}
	if r.PreCPUStats.SystemUsage != 0 {
		prev = &cpuSample{total: r.PreCPUStats.CPUUsage.TotalUsage, system: r.PreCPUStats.SystemUsage}
	}
	if prev != nil {
		cpuDelta := float64(r.CPUStats.CPUUsage.TotalUsage) - float64(prev.total)
		systemDelta := float64(r.CPUStats.SystemUsage) - float64(prev.system)
		cpus := float64(r.CPUStats.OnlineCPUs)
		if cpus == 0 {
			cpus = float64(len(r.CPUStats.CPUUsage.PercpuUsage))
		}
		if cpuDelta > 0 && systemDelta > 0 {
			st.CPUPercent = round2(cpuDelta / systemDelta * cpus * 100)
		}
	}
	return st
}

func clampInt(v uint64) int64 {
	return int64(min(v, math.MaxInt64))
}

// round2 keeps two decimals: a card shows no more, and rules compare less noise.
func round2(f float64) float64 { return math.Round(f*100) / 100 }

package events

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// Docker is the part of the Docker client that a Source uses.
type Docker interface {
	Events(ctx context.Context, options client.EventsListOptions) client.EventsResult
	ContainerList(ctx context.Context, options client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, options client.ContainerInspectOptions) (client.ContainerInspectResult, error)
	ContainerLogs(ctx context.Context, id string, options client.ContainerLogsOptions) (client.ContainerLogsResult, error)
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	NodeInspect(ctx context.Context, nodeID string, options client.NodeInspectOptions) (client.NodeInspectResult, error)
}

// Source supervises the event stream of one daemon: it reconnects with
// backoff, resumes where it stopped, drops replayed duplicates and, after a
// reconnect, reports containers that died while the stream was down. Its
// settings are fixed by NewSource.
type Source struct {
	Host   string // the daemon's name, as configured (read-only)
	docker Docker
	log    *slog.Logger
	m      *metrics.Metrics
	opts   Options

	// stats samples the daemon's containers beside the stream (stats.go)
	// for as long as Run runs; nil when no rule asks for samples.
	stats *sampler

	// resumes are the checkpoint's resume points by host key; the first
	// session takes this daemon's once /info has told its ID.
	resumes map[string]event.Resume

	// leader: this daemon is the swarm's leader (as last checked).
	leader atomic.Bool

	// downSince is when the stream was last lost (unix nanoseconds), 0
	// while it is open; read by Ready from other goroutines.
	downSince atomic.Int64

	// For Status, read from other goroutines: the daemon's version (from
	// /info at connect), the last live event's time and how late it was read.
	daemonVersion atomic.Pointer[string]
	// identity is the host ID the stream keys its state by, once
	// identified (read by the stats sampler).
	identity       atomic.Pointer[string]
	lastEvent, lag atomic.Int64

	// engine is the daemon's engine as /version told (podman.go); podman
	// reads and normalises Podman's stream.
	engine atomic.Value
	podman *podmanEvents
	// raw makes the requests of our own (decode.go, podman.go) when the
	// client can dial the daemon (nil: test fakes): one client, so the
	// replays reuse a connection (an ssh daemon's is a process).
	raw *http.Client
}

// Status is what the status page shows of a source.
type Status struct {
	Host string `json:"host"`
	Open bool   `json:"open"`
	// DownSince is when the stream was lost: zero while open, and before
	// the first connection (Connected false).
	DownSince time.Time `json:"down_since,omitzero"`
	Connected bool      `json:"connected"` // the stream was open at least once
	// Engine and Version are the daemon's (from /version and /info),
	// APIVersion the one the client speaks with it.
	Engine     string        `json:"engine,omitempty"`
	Version    string        `json:"version,omitempty"`
	APIVersion string        `json:"api_version,omitempty"`
	LastEvent  time.Time     `json:"last_event,omitzero"`
	Lag        time.Duration `json:"lag_ns"` // the last live event's read time minus its daemon time
}

// Status tells the stream's state, the daemon's version and the last live event.
func (s *Source) Status() Status {
	st := Status{Host: s.Host, Lag: time.Duration(s.lag.Load())}
	switch down := s.downSince.Load(); down {
	case 0:
		st.Open, st.Connected = true, true
	case 1:
	default:
		st.DownSince, st.Connected = time.Unix(0, down), true
	}
	if v := s.daemonVersion.Load(); v != nil {
		st.Engine, st.Version = s.Engine(), *v
	}
	if c, ok := s.docker.(versioned); ok {
		st.APIVersion = c.ClientVersion()
	}
	if ns := s.lastEvent.Load(); ns != 0 {
		st.LastEvent = time.Unix(0, ns)
	}
	return st
}

// NewSource returns a Source of the daemon docker reaches, named host,
// with opts (zero fields: their defaults). It samples stats while
// opts.Interest asks for them, opts.Stats.Interval is set and docker can
// (StatsDocker).
func NewSource(host string, docker Docker, opts Options) *Source {
	opts = opts.withDefaults()
	s := &Source{Host: host, docker: docker, log: opts.Log.With("host", host), m: opts.Metrics, opts: opts}
	if d, ok := docker.(rawDialer); ok {
		s.raw = rawClient(d.Dialer())
	}
	if sd, ok := docker.(StatsDocker); ok && opts.Stats.Interval > 0 && opts.Interest.SamplesStats() {
		s.stats = &sampler{src: s, docker: sd}
	}
	s.downSince.Store(1) // never connected: not ready
	return s
}

// Restore makes the source resume where an earlier run stopped. points
// are the checkpoint's, by host key: the first session takes its daemon's
// (by the ID /info tells, or by the host's name in a state written before
// IDs were kept). Call before Run. It is no Options field: the sources
// are made as the daemons are connected, the checkpoint is read after.
func (s *Source) Restore(points map[string]event.Resume) { s.resumes = points }

// Ready tells whether the stream is open, or was lost less than grace ago.
func (s *Source) Ready(grace time.Duration) bool {
	down := s.downSince.Load()
	return down == 0 || time.Since(time.Unix(0, down)) < grace
}

// Run streams events into out until ctx ends, with the running set of
// each fresh container list in between. It never blocks on out: when out
// is full the item is dropped, counted, logged, and reported by an
// events_dropped event as soon as there is room.
func (s *Source) Run(ctx context.Context, out chan<- event.Item) error {
	if s.stats != nil {
		var wg sync.WaitGroup
		defer wg.Wait()
		wg.Go(func() { _ = s.stats.Run(ctx, out) })
	}
	st := newStream(s, out)
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = s.opts.RetryMin, s.opts.RetryMax
	connected := s.m.StreamConnected.WithLabelValues(s.Host)
	var downSince time.Time // zero until the first outage
	unreachableReported := false
	for {
		start := time.Now()
		err := s.session(ctx, st, downSince, &unreachableReported)
		connected.Set(0)
		if st.connected {
			s.downSince.Store(time.Now().UnixNano())
		}
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(start) >= s.opts.HealthyAfter {
			bo.Reset()
		}
		if st.connected {
			downSince = time.Now()
			unreachableReported = false
			st.connected = false
			s.m.StreamReconnects.WithLabelValues(s.Host).Inc()
		} else if downSince.IsZero() {
			downSince = start
		}
		wait := bo.NextBackOff()
		s.log.Warn("docker event stream down; reconnecting", "err", err, "retry_in", wait.Round(time.Millisecond),
			"down_for", time.Since(downSince).Round(time.Second))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		if !unreachableReported && time.Since(downSince) >= s.opts.UnreachableAfter {
			unreachableReported = true
			st.emit(st.selfEvent("daemon_unreachable", map[string]string{
				"down_for": time.Since(downSince).Round(time.Second).String(),
				"error":    errorText(err),
			}))
		}
	}
}

// sourceTracks are the container actions the source itself follows
// (intent, OOM, the running set), kept whatever the Interest says.
var sourceTracks = map[string]bool{"start": true, "kill": true, "stop": true, "restart": true, "oom": true, "die": true, "destroy": true}

func (s *Source) keeps(typ, action string) bool {
	return (typ == event.ContainerType && sourceTracks[action]) || s.opts.Interest.Keeps(typ, action)
}

// info asks the daemon about itself.
func (s *Source) info(ctx context.Context) (client.SystemInfoResult, error) {
	ctx, cancel := context.WithTimeout(ctx, s.opts.InspectTimeout)
	defer cancel()
	info, err := s.docker.Info(ctx, client.InfoOptions{})
	if err != nil {
		return info, fmt.Errorf("read the daemon's info: %w", err)
	}
	return info, nil
}

// daemonClock is the daemon's time as /info tells it (false: unknown).
func daemonClock(info client.SystemInfoResult) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339Nano, info.Info.SystemTime)
	if err != nil || t.IsZero() {
		return time.Now(), false
	}
	return t, true
}

func formatSince(timeNano int64) string {
	return fmt.Sprintf("%d.%09d", timeNano/int64(time.Second), timeNano%int64(time.Second))
}

func errorText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func infoFromSummary(c container.Summary, shadowed []string, restarts *int) event.Container {
	name := c.ID
	if len(c.Names) > 0 {
		name = trimSlash(c.Names[0])
	}
	return event.Container{Name: name, Image: c.Image, Labels: c.Labels, Shadowed: shadowed, Restarts: restarts}
}

func trimSlash(s string) string {
	if len(s) > 0 && s[0] == '/' {
		return s[1:]
	}
	return s
}

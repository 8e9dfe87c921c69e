package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/internal/statuspage"
	"github.com/whalewatch/whalewatch/notify"
)

// readyGrace: /readyz stays ready through reconnects shorter than this.
const readyGrace = 30 * time.Second

// statusRefresh is how often the status page refreshes itself.
const statusRefresh = 3 * time.Second

// serveHTTP serves handler on ln until ctx ends.
func serveHTTP(ln net.Listener, handler http.Handler) func(context.Context) error {
	return func(ctx context.Context) error {
		srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
		go func() {
			<-ctx.Done()
			shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(shutdownCtx)
		}()
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("http server: %w", err)
		}
		return nil
	}
}

// registerPprof adds Go's profiling endpoints, for profiling in place
// (behind protect, as /metrics).
func registerPprof(mux *http.ServeMux, protect func(http.Handler) http.Handler) {
	mux.Handle("GET /debug/pprof/", protect(http.HandlerFunc(pprof.Index)))
	mux.Handle("GET /debug/pprof/cmdline", protect(http.HandlerFunc(pprof.Cmdline)))
	mux.Handle("GET /debug/pprof/profile", protect(http.HandlerFunc(pprof.Profile)))
	mux.Handle("GET /debug/pprof/symbol", protect(http.HandlerFunc(pprof.Symbol)))
	mux.Handle("GET /debug/pprof/trace", protect(http.HandlerFunc(pprof.Trace)))
}

// registerOps adds /healthz, /readyz and /metrics (behind protect: the
// HTTP_AUTH_TOKEN when set). Not ready: an event stream down past
// readyGrace, or a state file that cannot be written (notifications are
// then delivered from memory only).
func registerOps(mux *http.ServeMux, m *metrics.Metrics, sources []*events.Source, store *state.Store, protect func(http.Handler) http.Handler) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		for _, s := range sources {
			if !s.Ready(readyGrace) {
				http.Error(w, "event stream of "+s.Host+" is down", http.StatusServiceUnavailable)
				return
			}
		}
		// The image's HEALTHCHECK asks with ignore=state: a restart would
		// lose what only memory holds, and cures no full disk.
		if err := store.WriteError(); err != nil && r.URL.Query().Get("ignore") != "state" {
			http.Error(w, "state file "+store.Path()+" cannot be written (notifications are kept in memory only): "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", protect(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})))
}

// statusData is what the status page reads: the state file's incident
// history and Slack acknowledgements, the sources' streams, the
// dispatcher's queues, the mutes.
type statusData struct {
	store      *state.Store
	sources    []*events.Source
	dispatcher *notify.Dispatcher
}

func (d statusData) Incidents(since time.Time) ([]statuspage.Incident, error) {
	hist, err := d.store.History(since)
	out := make([]statuspage.Incident, len(hist))
	for i, h := range hist {
		out[i] = statuspage.Incident{ID: h.ID, Host: h.Host, Container: h.Container, ContainerID: h.ContainerID, Rule: h.Rule,
			Status: h.Status, Alerts: h.Alerts, OpenedAt: h.OpenedAt, ResolvedAt: h.ResolvedAt, UpdatedAt: h.UpdatedAt,
			ExitCode: h.ExitCode, Evidence: h.Evidence, Hours: h.Hours}
		if t, ok := d.store.Thread(h.ID); ok {
			out[i].AckedBy = t.AckedBy
		}
	}
	return out, err
}

func (d statusData) Hosts() []statuspage.Host {
	out := make([]statuspage.Host, len(d.sources))
	for i, src := range d.sources {
		s := src.Status()
		out[i] = statuspage.Host{Host: s.Host, Open: s.Open, DownSince: s.DownSince, Connected: s.Connected,
			Engine: s.Engine, Version: s.Version, APIVersion: s.APIVersion, LastEvent: s.LastEvent, Lag: s.Lag}
	}
	return out
}

func (d statusData) Destinations() []statuspage.Destination {
	status := d.dispatcher.Status()
	out := make([]statuspage.Destination, len(status))
	for i, s := range status {
		out[i] = statuspage.Destination(s)
	}
	return out
}

func (d statusData) Mutes(now time.Time) ([]statuspage.Mute, error) {
	mutes, err := d.store.Mutes(now)
	var out []statuspage.Mute
	for glob, until := range mutes {
		out = append(out, statuspage.Mute{Glob: glob, Until: until})
	}
	return out, err
}

package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/pprof"
	"path/filepath"
	"slices"
	"strings"
	"text/template"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/moby/moby/client"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"

	"github.com/whalewatch/whalewatch/actions"
	"github.com/whalewatch/whalewatch/alert"
	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/internal/statuspage"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/kinds"
	"github.com/whalewatch/whalewatch/notify/slack"
	"github.com/whalewatch/whalewatch/rules"
)

// readyGrace: /readyz stays ready through reconnects shorter than this.
const readyGrace = 30 * time.Second

// watch is the bot's main job. It returns an exit code.
func watch(ctx context.Context, environ []string, stdoutW, stderr io.Writer) int {
	started := time.Now()
	cfg, err := config.Load(environ)
	if err != nil {
		printConfigError(stderr, err)
		return exitBadConfig
	}
	log := newLogger(stderr, cfg.Process.LogFormat, cfg.Process.LogLevel)
	m := metrics.New()
	store, err := state.Open(cfg.Process.StateDir)
	if err != nil {
		printStartError(stderr, "cannot use the state file", err)
		return exitBadConfig
	}
	defer store.Close()
	if err := store.UpgradeOutbox(notify.UpgradeFormat1); err != nil {
		printStartError(stderr, "cannot use the state file", fmt.Errorf("STATE_DIR: %w", err))
		return exitBadConfig
	}
	if r := store.Recovered; r != nil {
		log.Error("the state file was damaged: it was moved aside and whalewatch starts with a fresh one; "+
			"lost: the notifications it still had to deliver, the event cursors (the streams start live and reconcile), "+
			"open groups, crash loops and incidents, Slack threads, buttons and mutes",
			"file", r.Path, "moved_to", r.MovedTo, "reason", r.Reason)
	}
	if !store.Durable() {
		log.Warn("STATE_DIR is not set: queued notifications and the event cursor do not survive a restart")
	}
	if store.Upgraded {
		log.Warn("the state file was written by an older whalewatch: its queued notifications are kept, its event cursors dropped (the streams start live)")
	}
	engine, err := rules.Compile(cfg.Rules.Specs) // checked by config.Load
	if err != nil {
		printConfigError(stderr, err)
		return exitBadConfig
	}
	d, err := connectDaemons(ctx, cfg, sourceOptions(cfg, engine, log, m))
	if err != nil {
		printStartError(stderr, "cannot set up the Docker connection", err)
		return exitBadConfig
	}
	defer d.close()
	// The actions service mints the Slack bot's buttons as it posts.
	var svc *actions.Service
	var buttons slack.Buttons
	if cfg.ActionsEnabled() {
		svc = newActions(cfg, log, m, d, store)
		buttons = svc
	}
	dispatcher, resenders, err := newDispatcher(cfg, log, m, store, stdoutW, buttons)
	if err != nil {
		printConfigError(stderr, err)
		return exitBadConfig
	}
	if r := store.Recovered; r != nil {
		dispatcher.Announce("state_file_damaged", map[string]string{"file": r.Path, "moved_to": r.MovedTo, "reason": r.Reason,
			"lost": "undelivered notifications, event cursors, open groups and incidents, Slack threads, buttons, mutes"})
	}

	log.Info("whalewatch starting", "version", version(), "rules", len(engine.Rules()),
		"destinations", dispatcher.Names(), "hosts", len(d.sources), "actions", cfg.ActionsEnabled())

	extra := resenders
	if cfg.Heartbeat.URL != "" {
		extra = append(extra, newHeartbeat(cfg, log, store, d.sources, dispatcher).Run)
	}
	mux := http.NewServeMux()
	status := &statuspage.Server{Data: statusData{store, d.sources, dispatcher}, Version: version(), Started: started,
		Token: cfg.HTTP.AuthToken, Refresh: statusRefresh, Log: log}
	registerOps(mux, m, d.sources, store, status.Protect)
	if cfg.HTTP.StatusPage {
		status.Register(mux)
	}
	if cfg.HTTP.Pprof {
		registerPprof(mux, status.Protect)
		log.Warn("profiling endpoints are on at /debug/pprof/ (PPROF=true; behind HTTP_AUTH_TOKEN when set): keep HTTP_ADDR private")
	}
	if svc != nil {
		svc.Acknowledged = forwardAcks(cfg, log, store, dispatcher)
		extra = append(extra, svc.Run)
		if cfg.Slack.SigningSecret != "" {
			actions.NewHTTPHandler(svc, cfg.Slack.SigningSecret).Register(mux)
		}
		if cfg.Slack.AppToken != "" {
			extra = append(extra, func(ctx context.Context) error { return svc.RunSocketMode(ctx, svc.Slack) })
		}
	}
	if cfg.HTTP.Addr != "off" {
		ln, err := net.Listen("tcp", cfg.HTTP.Addr)
		if err != nil {
			log.Error("cannot listen (HTTP_ADDR)", "addr", cfg.HTTP.Addr, "err", err)
			return exitFailure
		}
		log.Info("serving HTTP", "addr", ln.Addr().String(), "slack_endpoints", cfg.Slack.SigningSecret != "",
			"status_page", cfg.HTTP.StatusPage, "auth_token", cfg.HTTP.AuthToken != "")
		extra = append(extra, serveHTTP(ln, mux))
	}
	core, err := newCore(cfg, engine, dispatcher, store, d.sources, log, m)
	if err != nil {
		log.Error("cannot resume from the state file (STATE_DIR)", "err", err)
		return exitFailure
	}
	if err := runIntake(ctx, cfg, core, d.sources, dispatcher, extra...); err != nil {
		log.Error("whalewatch stopped", "err", err)
		return exitFailure
	}
	log.Info("whalewatch stopped")
	return exitOK
}

// newCore makes the alert core, resumes it from the state file and makes
// each source resume where the core's checkpoint says (the sources are
// made before the state file is read, so Restore hands that on).
func newCore(cfg *config.Config, engine *rules.Engine, dispatcher *notify.Dispatcher, store *state.Store,
	sources []*events.Source, log *slog.Logger, m *metrics.Metrics) (*alert.Core, error) {
	var link *template.Template
	if cfg.Alert.LinkTemplate != "" {
		var err error
		if link, err = rules.ParseTemplate("LINK_TEMPLATE", cfg.Alert.LinkTemplate); err != nil { // checked by config.Load
			return nil, err
		}
	}
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

// samplesStats: containers are sampled while some rule is about stats
// samples and STATS_INTERVAL does not turn it off.
func samplesStats(cfg *config.Config, engine *rules.Engine) bool {
	return cfg.Stats.Interval > 0 && engine.UsesStats()
}

// sourceOptions are every source's settings: the configuration's and
// what the rules and labels make of events.
func sourceOptions(cfg *config.Config, engine *rules.Engine, log *slog.Logger, m *metrics.Metrics) events.Options {
	return events.Options{Log: log, Metrics: m, SwarmEvents: cfg.Docker.SwarmEvents,
		Interest: alert.NewInterest(engine, !cfg.Alert.WatchByDefault),
		Evidence: events.EvidenceOptions{LogLines: cfg.Evidence.LogLines, LogsTimeout: cfg.Evidence.Timeout},
		Stats:    events.StatsOptions{Interval: cfg.Stats.Interval, Concurrency: cfg.Stats.Concurrency}}
}

// runIntake runs the event sources, the alert core and the extra
// services until ctx ends; then the dispatcher, which outlives intake,
// delivers what was queued before the stop.
func runIntake(ctx context.Context, cfg *config.Config, core *alert.Core, sources []*events.Source, dispatcher *notify.Dispatcher, extra ...func(context.Context) error) error {
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

// newDispatcher makes the dispatcher of the configured destinations, and
// the loops some of them run beside it (Alertmanager's re-sends).
func newDispatcher(cfg *config.Config, log *slog.Logger, m *metrics.Metrics, store *state.Store, stdoutW io.Writer, buttons slack.Buttons) (*notify.Dispatcher, []func(context.Context) error, error) {
	shared := kinds.Shared{HTTP: &http.Client{Timeout: cfg.Delivery.Timeout}, Timeout: cfg.Delivery.Timeout, SlackAPIURL: cfg.Slack.APIURL,
		Workspace: slack.NewWorkspace(cfg.Slack.RatePerSecond), Store: store, Log: log, Severity: notify.SeverityOf(cfg.Severity), Stdout: stdoutW, Buttons: buttons}
	var dests []notify.Destination
	var loops []func(context.Context) error
	for _, d := range cfg.Delivery.Destinations {
		dest, loop, err := kinds.Build(kinds.Spec{Destination: d, Shared: shared})
		if err != nil {
			return nil, nil, err
		}
		dests = append(dests, dest)
		if loop != nil {
			loops = append(loops, loop)
		}
	}
	d := notify.NewDispatcher(log, m, store, cfg.Delivery.QueueSize, dests...)
	d.RetryFor = cfg.Delivery.RetryFor
	return d, loops, nil
}

// daemons are the watched Docker daemons: a client and a source each.
type daemons struct {
	sources []*events.Source
	clients []*client.Client
}

func (d *daemons) close() {
	for _, c := range d.clients {
		_ = c.Close()
	}
}

// connectDaemons makes one client and event source per configured daemon.
func connectDaemons(ctx context.Context, cfg *config.Config, opts events.Options) (*daemons, error) {
	log := opts.Log
	type target struct {
		name string
		opts []client.Opt
	}
	var targets []target
	if len(cfg.Docker.Hosts) == 0 {
		opts, err := defaultDaemon(cfg, log)
		if err != nil {
			return nil, err
		}
		targets = append(targets, target{name: cfg.Docker.HostName, opts: opts})
	}
	for _, name := range slices.Sorted(maps.Keys(cfg.Docker.Hosts)) {
		opts := []client.Opt{client.WithHost(cfg.Docker.Hosts[name])}
		if strings.HasPrefix(cfg.Docker.Hosts[name], "ssh://") {
			dial, err := events.SSHDialer(cfg.Docker.Hosts[name], cfg.Docker.SSHConfig)
			if err != nil {
				return nil, fmt.Errorf("docker host %s: %w", name, err)
			}
			// The dialer reaches the daemon; the URL only names it in requests.
			opts = []client.Opt{client.WithHost("http://" + name + ".docker.invalid"), client.WithDialContext(dial)}
		} else if dir := cfg.Docker.CertPaths[name]; dir != "" {
			// Always verified: the daemon's certificate against ca.pem only.
			opts = append(opts, client.WithTLSClientConfig(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")))
		} else if strings.HasPrefix(cfg.Docker.Hosts[name], "tcp://") {
			log.Warn("this daemon is reached over TCP without TLS: anyone on the path can act as root on it; set DOCKER_<NAME>_CERT_PATH", "host", name)
		}
		targets = append(targets, target{name: name, opts: opts})
	}
	d := &daemons{}
	for _, t := range targets {
		c, err := client.New(t.opts...)
		if err != nil {
			d.close()
			return nil, fmt.Errorf("docker host %s: %w", t.name, err)
		}
		d.clients = append(d.clients, c)
		name := t.name
		if name == "" {
			if name, err = daemonName(ctx, c, log); err != nil {
				d.close()
				return nil, err
			}
		}
		src := events.NewSource(name, c, opts)
		d.sources = append(d.sources, src)
	}
	return d, nil
}

// defaultDaemon is how the one daemon of DOCKER_HOST is reached: ssh://
// as a DOCKER_HOSTS entry is (the Docker client cannot dial it), else as
// the Docker client's variables say, with the TLS files config.Load found
// (DOCKER_CERT_PATH, or ~/.docker with DOCKER_TLS_VERIFY) always verified.
func defaultDaemon(cfg *config.Config, log *slog.Logger) ([]client.Opt, error) {
	if strings.HasPrefix(cfg.Docker.Host, "ssh://") {
		dial, err := events.SSHDialer(cfg.Docker.Host, cfg.Docker.SSHConfig)
		if err != nil {
			return nil, fmt.Errorf("DOCKER_HOST: %w", err)
		}
		// The dialer reaches the daemon; the URL only names it in requests.
		return []client.Opt{client.WithHost("http://docker.invalid"), client.WithDialContext(dial)}, nil
	}
	opts := []client.Opt{client.FromEnv}
	if dir := cfg.Docker.CertPath; dir != "" {
		opts = append(opts, client.WithTLSClientConfig(filepath.Join(dir, "ca.pem"), filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")))
	} else if strings.HasPrefix(cfg.Docker.Host, "tcp://") {
		log.Warn("the daemon is reached over TCP without TLS: anyone on the path can act as root on it; set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH", "docker_host", cfg.Docker.Host)
	}
	return opts, nil
}

// daemonName asks the daemon for its host name, which names it in
// messages. It waits and asks again for as long as it takes: a guess (this
// machine's name) would name every message differently from the last run's.
func daemonName(ctx context.Context, c *client.Client, log *slog.Logger) (string, error) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = 500*time.Millisecond, 30*time.Second
	for {
		callCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
		info, err := c.Info(callCtx, client.InfoOptions{})
		cancel()
		if err == nil && info.Info.Name != "" {
			return info.Info.Name, nil
		}
		if err == nil {
			err = errors.New("the daemon told no name")
		}
		wait := bo.NextBackOff()
		log.Warn("waiting for the daemon's /info to name the host (set HOST_NAME to skip this)", "err", err, "retry_in", wait.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("the daemon's name (HOST_NAME not set): %w", err)
		case <-time.After(wait):
		}
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

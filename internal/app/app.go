// Package app is whalewatch's wiring: it builds the bot from a checked
// configuration (state file, destinations, daemons, rules, alert core,
// Slack actions, heartbeat, HTTP endpoints) and runs it until its context
// ends, so that tests can run the whole bot in-process.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/whalewatch/whalewatch/actions"
	"github.com/whalewatch/whalewatch/alert"
	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/internal/statuspage"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/slack"
)

// Options are what the bot takes from its process.
type Options struct {
	Stdout  io.Writer    // where the stdout destination prints
	Log     *slog.Logger // logs; never notifications
	Version string       // logged at the start and shown on the status page
	Started time.Time    // the process's start, shown on the status page
}

// Kind says whose a failure of New is, when it is not the configuration's.
type Kind int

const (
	KindState  Kind = iota + 1 // the state file cannot be used
	KindDocker                 // a Docker client cannot be set up
	KindListen                 // HTTP_ADDR cannot be listened on
	KindResume                 // the state file's checkpoint cannot be resumed from
)

// Error is a failure of New that is not the configuration's (those are
// returned as they are).
type Error struct {
	Kind Kind
	Err  error
}

func (e *Error) Error() string { return e.Err.Error() }
func (e *Error) Unwrap() error { return e.Err }

// App is the bot, built and not yet run.
type App struct {
	cfg        *config.Config
	log        *slog.Logger
	store      *state.Store
	daemons    *Daemons
	dispatcher *notify.Dispatcher
	core       *alert.Core
	services   []func(context.Context) error // run beside the intake: re-sends, heartbeat, actions, HTTP
	ln         net.Listener                  // HTTP_ADDR's, served by Run (closed by Close if Run never ran)
}

// New builds the bot from cfg. ctx bounds only the setup (waiting for a
// daemon to tell its name). On error everything opened is closed again.
func New(ctx context.Context, cfg *config.Config, opts Options) (_ *App, err error) {
	log := opts.Log
	// Compiled once, by config.Load, which checked them.
	engine, link := cfg.Rules.Engine, cfg.Alert.Link
	m := metrics.New()
	a := &App{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			_ = a.Close()
		}
	}()
	if a.store, err = state.Open(cfg.Process.StateDir); err != nil {
		return nil, &Error{KindState, err}
	}
	if err := a.store.UpgradeOutbox(notify.UpgradeFormat1); err != nil {
		return nil, &Error{KindState, fmt.Errorf("STATE_DIR: %w", err)}
	}
	a.logStateFile()
	if a.daemons, err = ConnectDaemons(ctx, cfg, SourceOptions(cfg, engine, log, m)); err != nil {
		return nil, &Error{KindDocker, err}
	}
	sources := a.daemons.Sources()
	// The actions service makes the Slack cards' buttons as they are posted.
	var svc *actions.Service
	var buttons slack.Buttons
	if cfg.ActionsEnabled() {
		svc = newActions(cfg, log, m, a.daemons, a.store)
		buttons = svc
	}
	dispatcher, resenders, err := newDispatcher(cfg, log, m, a.store, opts.Stdout, buttons)
	if err != nil {
		return nil, err
	}
	a.dispatcher = dispatcher
	if r := a.store.Recovered; r != nil {
		dispatcher.Announce("state_file_damaged", map[string]string{"file": r.Path, "moved_to": r.MovedTo, "reason": r.Reason,
			"lost": "undelivered notifications, event cursors, open groups and incidents, Slack threads, buttons, mutes"})
	}
	log.Info("whalewatch starting", "version", opts.Version, "rules", len(engine.Rules()),
		"destinations", dispatcher.Names(), "hosts", len(sources), "actions", cfg.ActionsEnabled())

	a.services = resenders
	if cfg.Heartbeat.URL != "" {
		a.services = append(a.services, newHeartbeat(cfg, log, a.store, sources, dispatcher).Run)
	}
	mux := http.NewServeMux()
	status := &statuspage.Server{Data: statusData{a.store, sources, dispatcher}, Version: opts.Version, Started: opts.Started,
		Token: cfg.HTTP.AuthToken, Refresh: statusRefresh, Log: log}
	registerOps(mux, m, sources, a.store, status.Protect)
	if cfg.HTTP.StatusPage {
		status.Register(mux)
	}
	if cfg.HTTP.Pprof {
		registerPprof(mux, status.Protect)
		log.Warn("profiling endpoints are on at /debug/pprof/ (PPROF=true; behind HTTP_AUTH_TOKEN when set): keep HTTP_ADDR private")
	}
	if svc != nil {
		a.addActions(svc, mux)
	}
	if cfg.HTTP.Addr != "off" {
		if a.ln, err = net.Listen("tcp", cfg.HTTP.Addr); err != nil {
			return nil, &Error{KindListen, err}
		}
		log.Info("serving HTTP", "addr", a.ln.Addr().String(), "slack_endpoints", cfg.Slack.SigningSecret != "",
			"status_page", cfg.HTTP.StatusPage, "auth_token", cfg.HTTP.AuthToken != "")
		a.services = append(a.services, serveHTTP(a.ln, mux))
	}
	if a.core, err = NewCore(cfg, engine, link, dispatcher, a.store, sources, log, m); err != nil {
		return nil, &Error{KindResume, err}
	}
	return a, nil
}

// logStateFile says what the state file could not keep.
func (a *App) logStateFile() {
	if r := a.store.Recovered; r != nil {
		a.log.Error("the state file was damaged: it was moved aside and whalewatch starts with a fresh one; "+
			"lost: the notifications it still had to deliver, the event cursors (the streams start live and reconcile), "+
			"open groups, crash loops and incidents, Slack threads, buttons and mutes",
			"file", r.Path, "moved_to", r.MovedTo, "reason", r.Reason)
	}
	if !a.store.Durable() {
		a.log.Warn("STATE_DIR is not set: queued notifications and the event cursor do not survive a restart")
	}
	if a.store.Upgraded {
		a.log.Warn("the state file was written by an older whalewatch: its queued notifications are kept, its event cursors dropped (the streams start live)")
	}
}

// Run watches and notifies until ctx ends, then delivers what was queued
// (for up to SHUTDOWN_TIMEOUT). Run once.
func (a *App) Run(ctx context.Context) error {
	return RunIntake(ctx, a.cfg, a.core, a.daemons.Sources(), a.dispatcher, a.services...)
}

// Close closes the listener, the Docker clients and the state file.
func (a *App) Close() error {
	if a.ln != nil {
		_ = a.ln.Close() // already closed when Run served it
	}
	if a.daemons != nil {
		a.daemons.Close()
	}
	if a.store != nil {
		return a.store.Close()
	}
	return nil
}

package main

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"time"

	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/internal/app"
)

// watch is the bot's main job. It returns an exit code.
func watch(ctx context.Context, environ []string, stdoutW, stderr io.Writer) int {
	started := time.Now()
	cfg, err := config.Load(environ)
	if err != nil {
		printConfigError(stderr, err)
		return exitBadConfig
	}
	log := newLogger(stderr, cfg.Process.LogFormat, cfg.Process.LogLevel)
	a, err := app.New(ctx, cfg, app.Options{Stdout: stdoutW, Log: log, Version: version(), Started: started})
	if err != nil {
		return printNewError(stderr, log, cfg, err)
	}
	defer a.Close()
	if limit, soft := memoryDefaults(os.LookupEnv, os.ReadFile); soft > 0 {
		log.Info("heap soft limit set from the container's memory limit", "container_limit", sizeMiB(limit), "GOMEMLIMIT", sizeMiB(soft))
	}
	if err := a.Run(ctx); err != nil {
		log.Error("whalewatch stopped", "err", err)
		return exitFailure
	}
	log.Info("whalewatch stopped")
	return exitOK
}

// printNewError says why the bot could not be built, in the words of whose
// failure it is, and returns the exit code for it.
func printNewError(stderr io.Writer, log *slog.Logger, cfg *config.Config, err error) int {
	var e *app.Error
	if !errors.As(err, &e) {
		printConfigError(stderr, err)
		return exitBadConfig
	}
	switch e.Kind {
	case app.KindListen:
		log.Error("cannot listen (HTTP_ADDR)", "addr", cfg.HTTP.Addr, "err", e.Err)
		return exitFailure
	case app.KindResume:
		log.Error("cannot resume from the state file (STATE_DIR)", "err", e.Err)
		return exitFailure
	case app.KindState:
		printStartError(stderr, "cannot use the state file", e.Err)
	default:
		printStartError(stderr, "cannot set up the Docker connection", e.Err)
	}
	return exitBadConfig
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/app"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/stdout"
	"github.com/whalewatch/whalewatch/rules"
)

// testRule shows which events a rule matches and the message it would
// send, from a JSONL capture (docker events --format '{{json .}}') or from
// the live stream for a while.
func testRule(ctx context.Context, args, environ []string, stdoutW, stderr io.Writer) int {
	fs := flag.NewFlagSet("test-rule", flag.ContinueOnError)
	fs.SetOutput(stderr)
	eventsFile := fs.String("events", "", "JSONL file of Docker events")
	live := fs.Bool("live", false, "watch the live stream instead of a file")
	watchFor := fs.Duration("for", 10*time.Second, "how long to watch with --live")
	tmpl := fs.String("template", "", "message template (as RULE_<NAME>_TEMPLATE)")
	expr, err := parseWithPositional(fs, args)
	if err != nil || expr == "" || (*eventsFile == "") == !*live {
		fmt.Fprintln(stderr, "usage: whalewatch test-rule '<expr>' (--events FILE | --live [--for 10s]) [--template T]")
		return exitBadConfig
	}
	cfg, err := config.Load(environ)
	if err != nil {
		printConfigError(stderr, err)
		return exitBadConfig
	}
	engine, err := rules.Compile([]rules.Spec{{Name: "TEST", When: expr, Template: *tmpl, Enabled: true}})
	if err != nil {
		printConfigError(stderr, err)
		return exitBadConfig
	}
	if *live {
		return testRuleLive(ctx, cfg, engine, *watchFor, stdoutW, stderr)
	}
	f, err := os.Open(*eventsFile)
	if err != nil {
		fmt.Fprintf(stderr, "test-rule: %v\n", err)
		return exitBadConfig
	}
	defer f.Close()
	msgs, err := events.ReadJSONL(f)
	if err != nil {
		fmt.Fprintf(stderr, "test-rule: %s: %v\n", *eventsFile, err)
		return exitBadConfig
	}
	printer := &stdout.Notifier{W: stdoutW}
	matched := 0
	host := cfg.Docker.HostName
	if host == "" {
		host = filepath.Base(*eventsFile)
	}
	evs := events.Replay(host, msgs)
	for _, ev := range evs {
		matches, errs := engine.Match(ev)
		for _, e := range errs {
			fmt.Fprintf(stderr, "test-rule: %v\n", e)
		}
		for _, m := range matches {
			matched++
			_, _ = printer.Notify(ctx, notify.New(m.Rule.Name, m.Text, ev, cfg.Alert.LabelsShown))
		}
	}
	fmt.Fprintf(stderr, "%d of %d events matched\n", matched, len(evs))
	return exitOK
}

// parseWithPositional accepts the expression before or after the flags.
func parseWithPositional(fs *flag.FlagSet, args []string) (string, error) {
	if err := fs.Parse(args); err != nil {
		return "", err
	}
	if fs.NArg() == 0 {
		return "", nil
	}
	expr := fs.Arg(0)
	if err := fs.Parse(fs.Args()[1:]); err != nil {
		return "", err
	}
	if fs.NArg() > 0 {
		return "", fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return expr, nil
}

func testRuleLive(ctx context.Context, cfg *config.Config, engine *rules.Engine, watchFor time.Duration, stdoutW, stderr io.Writer) int {
	ctx, cancel := context.WithTimeout(ctx, watchFor)
	defer cancel()
	log := newLogger(stderr, cfg.Process.LogFormat, "warn")
	m := metrics.New()
	d, err := app.ConnectDaemons(ctx, cfg, app.SourceOptions(cfg, engine, log, m))
	if err != nil {
		printStartError(stderr, "cannot set up the Docker connection", err)
		return exitBadConfig
	}
	defer d.Close()
	store, err := state.Open("") // for this run only
	if err != nil {
		fmt.Fprintf(stderr, "test-rule: %v\n", err)
		return exitFailure
	}
	defer store.Close()
	dispatcher := notify.NewDispatcher(log, m, store, 1000, notify.Destination{Name: "stdout", Notifier: &stdout.Notifier{W: stdoutW}})
	cfg.Alert.CrashLoopDeaths = 0 // show every match (the rule has no group window)
	core, err := app.NewCore(cfg, engine, cfg.Alert.Link, dispatcher, store, d.Sources(), log, m)
	if err != nil {
		fmt.Fprintf(stderr, "test-rule: %v\n", err)
		return exitFailure
	}
	fmt.Fprintf(stderr, "watching the live stream for %s…\n", watchFor)
	if err := app.RunIntake(ctx, cfg, core, d.Sources(), dispatcher); err != nil {
		fmt.Fprintf(stderr, "test-rule: %v\n", err)
		return exitFailure
	}
	return exitOK
}

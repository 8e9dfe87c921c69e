// Command whalewatch watches Docker daemons and tells people what matters:
// it matches the daemons' events with expr rules and posts to Slack,
// webhooks or stdout.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

const usage = `whalewatch watches Docker events and notifies Slack, webhooks or stdout.

Usage:
  whalewatch [run]      watch the daemon(s) and notify (configured by environment variables)
  whalewatch validate   check the configuration and every rule, print the plan, exit 0 or 2
  whalewatch test-rule '<expr>' [--events FILE | --live [--for 10s]] [--template T]
                        show which events a rule matches and the message it would send
  whalewatch healthcheck
                        exit 0 when the running whalewatch's event streams are up (HEALTHCHECK)
  whalewatch version    print the version
  whalewatch help       this text

Configuration: see config.example.env and the README.
`

// Exit codes.
const (
	exitOK        = 0
	exitFailure   = 1
	exitBadConfig = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

func run(args, environ []string, stdout, stderr io.Writer) int {
	cmd := "run"
	if len(args) > 0 {
		cmd = args[0]
	}
	switch cmd {
	case "run":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return watch(ctx, environ, stdout, stderr)
	case "validate":
		return validate(environ, stdout, stderr)
	case "test-rule":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		return testRule(ctx, args[1:], environ, stdout, stderr)
	case "healthcheck":
		return healthcheck(environ, stdout, stderr)
	case "version":
		fmt.Fprintln(stdout, "whalewatch", version())
		return exitOK
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	default:
		fmt.Fprintf(stderr, "whalewatch: unknown command %q\n\n%s", cmd, usage)
		return exitBadConfig
	}
}

// newLogger writes logs to stderr; stdout belongs to notifications.
func newLogger(w io.Writer, format, level string) *slog.Logger {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(strings.ToUpper(level))) // checked by config
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// printConfigError prints every configuration problem on its own line.
func printConfigError(w io.Writer, err error) {
	fmt.Fprintln(w, "whalewatch: configuration is not valid:")
	for _, e := range flatten(err) {
		fmt.Fprintf(w, "  - %s\n", strings.ReplaceAll(e.Error(), "\n", "\n    "))
	}
}

// printStartError prints a problem that is not the configuration's (the
// state file, the Docker connection) under what could not be done.
func printStartError(w io.Writer, what string, err error) {
	fmt.Fprintf(w, "whalewatch: %s:\n", what)
	for _, e := range flatten(err) {
		fmt.Fprintf(w, "  - %s\n", strings.ReplaceAll(e.Error(), "\n", "\n    "))
	}
}

// flatten unwraps joined errors into a list.
func flatten(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		var out []error
		for _, e := range j.Unwrap() {
			out = append(out, flatten(e)...)
		}
		return out
	}
	return []error{err}
}

package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/whalewatch/whalewatch/config"
)

// healthcheck asks the running whalewatch's /readyz (on HTTP_ADDR) whether
// its event streams are up: the image's HEALTHCHECK, no shell or curl needed.
// A state file that cannot be written does not make it unhealthy (an
// orchestrator's restart would lose what only memory holds): /readyz,
// the metrics and the notices say that.
func healthcheck(environ []string, stdout, stderr io.Writer) int {
	addr, err := config.HTTPAddrOnly(environ)
	if err != nil {
		printConfigError(stderr, err)
		return exitBadConfig
	}
	if addr == "off" {
		fmt.Fprintln(stderr, "healthcheck: HTTP_ADDR is off; nothing to ask")
		return exitFailure
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: HTTP_ADDR: %v\n", err)
		return exitBadConfig
	}
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/readyz?ignore=state", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Fprintf(stderr, "healthcheck: %v\n", err)
		return exitFailure
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintf(stderr, "healthcheck: not ready: %s", body)
		return exitFailure
	}
	fmt.Fprintf(stdout, "%s", body)
	return exitOK
}

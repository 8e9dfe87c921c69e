package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"strconv"
)

// HTTP is what listens on HTTP_ADDR.
type HTTP struct {
	// Addr is where /healthz, /readyz and /metrics listen; "off" turns them off.
	Addr string `env:"HTTP_ADDR" envDefault:"127.0.0.1:9180"`
	// Pprof serves Go's profiling endpoints at /debug/pprof/ on HTTP_ADDR.
	Pprof bool `env:"PPROF" envDefault:"false"`
	// StatusPage serves the read-only status page at / on HTTP_ADDR, and
	// its JSON at /api/v1/.
	StatusPage bool `env:"STATUS_PAGE" envDefault:"false"`
	// AuthToken guards the status page, its API and /metrics (a secret);
	// the page on a non-loopback HTTP_ADDR requires it.
	AuthToken     string `env:"HTTP_AUTH_TOKEN"`
	AuthTokenFile string `env:"HTTP_AUTH_TOKEN_FILE,file"`
}

// HTTPAddrOnly reads HTTP_ADDR alone: the healthcheck needs nothing else,
// and must not fail on a setting (or a secret file) it has no use for.
func HTTPAddrOnly(environ []string) (string, error) {
	var ops struct {
		Addr string `env:"HTTP_ADDR" envDefault:"127.0.0.1:9180"`
	}
	if err := errors.Join(parseEnv(&ops, toMap(environ), "")...); err != nil {
		return "", err
	}
	return ops.Addr, nil
}

func (c *Config) checkHTTP() []error {
	if err := checkListenAddr(c.HTTP.Addr); err != nil {
		return []error{fmt.Errorf("HTTP_ADDR: %w", err)}
	}
	return c.checkStatusPage()
}

// minTokenLen: HTTP_AUTH_TOKEN must not be guessable.
const minTokenLen = 16

// checkStatusPage: the page needs HTTP_ADDR, and a token unless only this
// machine can reach it.
func (c *Config) checkStatusPage() []error {
	var errs []error
	if c.HTTP.AuthToken != "" && len(c.HTTP.AuthToken) < minTokenLen {
		errs = append(errs, fmt.Errorf("HTTP_AUTH_TOKEN: is %d characters; use at least %d (e.g. openssl rand -hex 32)", len(c.HTTP.AuthToken), minTokenLen))
	}
	switch {
	case !c.HTTP.StatusPage:
	case c.HTTP.Addr == "off":
		errs = append(errs, errors.New("HTTP_ADDR: is off, but STATUS_PAGE=true serves the page on it"))
	case c.HTTP.AuthToken == "" && !Loopback(c.HTTP.Addr):
		errs = append(errs, fmt.Errorf("HTTP_AUTH_TOKEN: not set, but STATUS_PAGE=true on HTTP_ADDR %q, which other machines can reach: set HTTP_AUTH_TOKEN (or HTTP_AUTH_TOKEN_FILE), or listen on 127.0.0.1", c.HTTP.Addr))
	}
	return errs
}

// Loopback tells whether a listen address (host:port) is reachable from
// this machine only: a loopback IP or localhost (no host is every interface).
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// checkListenAddr accepts "off" or host:port with a port from 0 to 65535.
func checkListenAddr(addr string) error {
	if addr == "off" {
		return nil
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port (or off): %w", addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q: the port must be a number from 0 to 65535", addr)
	}
	if host != "" && net.ParseIP(host) == nil && (len(host) > 253 || !hostnameRE.MatchString(host)) {
		return fmt.Errorf("%q: %q is not an IP address or host name", addr, host)
	}
	return nil
}

// hostnameRE: a host name's characters; its length (at most 253) is
// checked apart, as Go compiles a {0,251} into 251 copies at start.
var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?$`)

// Package heartbeat pings a dead man's switch (healthchecks.io, Uptime
// Kuma's push monitors, Cronitor…) while whalewatch is healthy: a GET of
// the URL every interval. When whalewatch is not healthy the pings stop,
// so the service raises the alarm that whalewatch itself cannot; with
// Fail set it is also told at once (URL + "/fail", healthchecks.io's
// convention).
package heartbeat

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/whalewatch/whalewatch/internal/redact"
)

// Ticker is the clock the pinger waits on; tests pass their own.
type Ticker interface {
	C() <-chan time.Time
	Stop()
}

// Config is one heartbeat.
type Config struct {
	URL      string // a secret: its path is the check's key
	Interval time.Duration
	Fail     bool // also GET URL + "/fail" when unhealthy
	// Healthy tells whether every promise holds now (streams open, state
	// writable, no destination failing for long); it gives the reason
	// when not.
	Healthy func() (ok bool, why string)
	// NewTicker makes the ticker (default: time.NewTicker).
	NewTicker func(time.Duration) Ticker
}

// Pinger runs one heartbeat.
type Pinger struct {
	cfg    Config
	client *http.Client
	log    *slog.Logger
}

// New returns the pinger of cfg.
func New(cfg Config, client *http.Client, log *slog.Logger) *Pinger {
	if cfg.NewTicker == nil {
		cfg.NewTicker = func(d time.Duration) Ticker { return realTicker{time.NewTicker(d)} }
	}
	return &Pinger{cfg: cfg, client: client, log: log}
}

type realTicker struct{ t *time.Ticker }

func (r realTicker) C() <-chan time.Time { return r.t.C }
func (r realTicker) Stop()               { r.t.Stop() }

// Decide is what one tick does: ping when healthy; when not, call /fail
// once per unhealthy spell if fail is set (a healthy tick ends the
// spell), else nothing.
func Decide(healthy, failSent, fail bool) (ping, sendFail bool) {
	switch {
	case healthy:
		return true, false
	case fail && !failSent:
		return false, true
	}
	return false, false
}

// Run pings at once and then every interval until ctx ends. Until it is
// healthy once (the streams opening at the start), it neither pings nor
// fails.
func (p *Pinger) Run(ctx context.Context) error {
	t := p.cfg.NewTicker(p.cfg.Interval)
	defer t.Stop()
	failSent := true // nothing to tell before the first healthy tick
	wasHealthy := false
	for {
		ok, why := p.cfg.Healthy()
		ping, sendFail := Decide(ok, failSent, p.cfg.Fail)
		if !ok && wasHealthy {
			p.log.Warn("heartbeat stopped: whalewatch is not healthy", "reason", why)
		} else if ok && !wasHealthy {
			p.log.Info("heartbeat pinging", "every", p.cfg.Interval)
		}
		wasHealthy = ok
		switch {
		case ping:
			failSent = false
			p.get(ctx, p.cfg.URL)
		case sendFail:
			failSent = p.get(ctx, strings.TrimRight(p.cfg.URL, "/")+"/fail")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C():
		}
	}
}

// get calls url, bounded by the interval; it says whether it was taken.
// Errors never show the URL (its path is the check's key).
func (p *Pinger) get(parent context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(parent, min(p.cfg.Interval, 30*time.Second))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		p.log.Warn("heartbeat ping failed", "err", redact.URL(err))
		return false
	}
	req.Header.Set("User-Agent", "whalewatch")
	resp, err := p.client.Do(req)
	if err == nil {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<12))
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			err = fmt.Errorf("answered %s", resp.Status)
		}
	}
	if err != nil {
		if parent.Err() == nil {
			p.log.Warn("heartbeat ping failed", "err", redact.URL(err))
		}
		return false
	}
	return true
}

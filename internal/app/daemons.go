package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/config"
	"github.com/whalewatch/whalewatch/events"
)

// Daemons are the watched Docker daemons: a client and a source each.
type Daemons struct {
	sources []*events.Source
	clients []*client.Client
}

// Sources are the daemons' event sources, in the order they were configured.
func (d *Daemons) Sources() []*events.Source { return d.sources }

// Close closes every client.
func (d *Daemons) Close() {
	for _, c := range d.clients {
		_ = c.Close()
	}
}

// target is one daemon to connect to: its name (empty: asked of the
// daemon) and how its client reaches it.
type target struct {
	name string
	opts []client.Opt
}

// ConnectDaemons makes one client and event source per configured daemon.
func ConnectDaemons(ctx context.Context, cfg *config.Config, opts events.Options) (*Daemons, error) {
	log := opts.Log
	targets, err := daemonTargets(cfg, log)
	if err != nil {
		return nil, err
	}
	d := &Daemons{}
	for _, t := range targets {
		c, err := client.New(t.opts...)
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("docker host %s: %w", t.name, err)
		}
		d.clients = append(d.clients, c)
		name := t.name
		if name == "" {
			if name, err = daemonName(ctx, c, log); err != nil {
				d.Close()
				return nil, err
			}
		}
		d.sources = append(d.sources, events.NewSource(name, c, opts))
	}
	return d, nil
}

// daemonTargets says how each configured daemon is reached: DOCKER_HOST's
// alone, or every DOCKER_HOSTS entry in the order of their names.
func daemonTargets(cfg *config.Config, log *slog.Logger) ([]target, error) {
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
	return targets, nil
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

package config

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// Docker is the daemons watched and how they are reached.
type Docker struct {
	// Hosts names several daemons: name=url,… (e.g.
	// web1=tcp://10.0.0.5:2376). Empty: the one daemon of DOCKER_HOST or
	// the default socket.
	Hosts map[string]string `env:"DOCKER_HOSTS" envKeyValSeparator:"="`
	// CertPaths are the TLS files (ca.pem, cert.pem, key.pem) of each
	// DOCKER_HOSTS entry, from DOCKER_<NAME>_CERT_PATH, else DOCKER_CERT_PATH.
	// The daemon's certificate is always verified.
	CertPaths map[string]string `env:"-"`
	// CertPath and TLSVerify are the Docker client's own variables,
	// checked here: a cert path without verification would make the
	// client accept any certificate.
	CertPath string `env:"DOCKER_CERT_PATH"`
	// SSHConfig is the ssh configuration file for ssh:// daemons (ssh -F);
	// empty: ssh's own (~/.ssh/config).
	SSHConfig string `env:"SSH_CONFIG"`
	TLSVerify string `env:"DOCKER_TLS_VERIFY"`
	// Config is the docker CLI's configuration directory (default
	// ~/.docker): with DOCKER_TLS_VERIFY and no DOCKER_CERT_PATH, the TLS
	// files are read there, as the docker CLI does.
	Config string `env:"DOCKER_CONFIG"`
	// Host is the one daemon's address when DOCKER_HOSTS is empty (the
	// Docker client reads it; checked here).
	Host string `env:"DOCKER_HOST"`
	// SwarmEvents says which whalewatch reports Swarm-scope events:
	// leader, all or off (see events.SwarmLeader).
	SwarmEvents string `env:"SWARM_EVENTS" envDefault:"leader"`
	// HostName names the default daemon in messages (default: the daemon's
	// own host name).
	HostName string `env:"HOST_NAME"`
	// EventQueueSize bounds the events waiting in memory for the core.
	EventQueueSize int `env:"EVENT_QUEUE_SIZE" envDefault:"4096"`
}

var hostCertRE = regexp.MustCompile(`^DOCKER_(.+)_CERT_PATH$`)

// checkDocker checks the daemons' addresses and the Docker client's own
// variables.
func (c *Config) checkDocker() []error {
	var errs []error
	d := &c.Docker
	if d.HostName != "" && len(d.Hosts) > 0 {
		errs = append(errs, errors.New("HOST_NAME: set together with DOCKER_HOSTS, which names each daemon (name=url); drop HOST_NAME or name the daemon in DOCKER_HOSTS"))
	}
	if !slices.Contains([]string{"leader", "all", "off"}, d.SwarmEvents) {
		errs = append(errs, fmt.Errorf("SWARM_EVENTS: %q is not leader, all or off", d.SwarmEvents))
	}
	if d.SSHConfig != "" {
		if _, err := os.ReadFile(d.SSHConfig); err != nil {
			errs = append(errs, fmt.Errorf("SSH_CONFIG: %w", err))
		}
	}
	if err := checkDockerURL(d.Host); err != nil {
		errs = append(errs, fmt.Errorf("DOCKER_HOST: %w", err))
	}
	for name, u := range d.Hosts {
		if !nameRE.MatchString(strings.ToUpper(name)) {
			errs = append(errs, fmt.Errorf("DOCKER_HOSTS: %q is not a valid host name (letters, digits, _)", name))
		}
		if err := checkDockerURL(u); err != nil || u == "" {
			errs = append(errs, fmt.Errorf("DOCKER_HOSTS: host %s: %q is not a URL like tcp://host:2376 or unix:///path", name, u))
		}
	}
	return errs
}

// checkDockerURL accepts what the Docker client dials ("" is the default socket).
func checkDockerURL(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || !slices.Contains([]string{"unix", "tcp", "ssh", "http", "https", "npipe"}, u.Scheme) || (u.Host == "" && u.Path == "") {
		return fmt.Errorf("%q is not a daemon address like unix:///var/run/docker.sock or tcp://host:2376", raw)
	}
	if u.Scheme == "ssh" && (u.Hostname() == "" || (u.Path != "" && u.Path != "/")) {
		return fmt.Errorf("%q is not ssh://[user@]host[:port]", raw)
	}
	return nil
}

// loadCertPaths reads DOCKER_<NAME>_CERT_PATH and checks every cert dir.
// DOCKER_TLS_VERIFY without DOCKER_CERT_PATH reads the files from
// DOCKER_CONFIG or ~/.docker, as the docker CLI does (the Docker client
// library alone would talk plain TCP).
func (c *Config) loadCertPaths(vars map[string]string) []error {
	var errs []error
	if c.Docker.TLSVerify != "" && c.Docker.CertPath == "" {
		dir, from := c.Docker.Config, "DOCKER_CONFIG"
		if dir == "" {
			dir, from = filepath.Join(vars["HOME"], ".docker"), "~/.docker"
		}
		if vars["HOME"] == "" && c.Docker.Config == "" {
			errs = append(errs, errors.New("DOCKER_TLS_VERIFY: set without DOCKER_CERT_PATH, and there is no HOME for ~/.docker; set DOCKER_CERT_PATH to the directory of ca.pem, cert.pem and key.pem"))
		} else if err := checkCertDir(dir); err != nil {
			errs = append(errs, fmt.Errorf("DOCKER_TLS_VERIFY: set without DOCKER_CERT_PATH, so the TLS files are read from %s (%s) as the docker CLI does: %w; set DOCKER_CERT_PATH", dir, from, err))
		} else {
			c.Docker.CertPath = dir
		}
	} else if c.Docker.CertPath != "" {
		if c.Docker.TLSVerify == "" {
			errs = append(errs, errors.New("DOCKER_TLS_VERIFY: empty while DOCKER_CERT_PATH is set, so the daemon's certificate would not be verified; set DOCKER_TLS_VERIFY=1"))
		}
		if err := checkCertDir(c.Docker.CertPath); err != nil {
			errs = append(errs, fmt.Errorf("DOCKER_CERT_PATH: %w", err))
		}
	}
	c.Docker.CertPaths = map[string]string{}
	for name, u := range c.Docker.Hosts {
		if strings.HasPrefix(u, "tcp://") && c.Docker.CertPath != "" {
			c.Docker.CertPaths[name] = c.Docker.CertPath
		}
	}
	hosts := slices.Sorted(maps.Keys(c.Docker.Hosts))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		m := hostCertRE.FindStringSubmatch(k)
		if m == nil {
			continue
		}
		i := slices.IndexFunc(hosts, func(h string) bool { return strings.EqualFold(h, m[1]) })
		if i < 0 {
			errs = append(errs, fmt.Errorf("%s: no DOCKER_HOSTS entry is named %s", k, strings.ToLower(m[1])))
			continue
		}
		host := hosts[i]
		if err := checkCertDir(vars[k]); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
			continue
		}
		c.Docker.CertPaths[host] = vars[k]
	}
	return errs
}

// checkCertDir: the Docker client's TLS files are there and readable.
func checkCertDir(dir string) error {
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if _, err := os.ReadFile(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("%s has no readable %s (ca.pem, cert.pem and key.pem are needed): %w", dir, f, err)
		}
	}
	return nil
}

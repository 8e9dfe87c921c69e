package config

import (
	"errors"
	"time"

	"github.com/whalewatch/whalewatch/notify/kinds"
)

// Heartbeat is the dead man's switch.
type Heartbeat struct {
	// URL is pinged (GET) every Interval while whalewatch is healthy
	// (healthchecks.io, Uptime Kuma push); a secret: its path is the
	// check's key. Fail also calls URL + "/fail" when it is not.
	URL      string        `env:"HEARTBEAT_URL"`
	URLFile  string        `env:"HEARTBEAT_URL_FILE,file"`
	Interval time.Duration `env:"HEARTBEAT_INTERVAL" envDefault:"1m"`
	Fail     bool          `env:"HEARTBEAT_FAIL" envDefault:"false"`
}

func (c *Config) checkHeartbeat() []error {
	if c.Heartbeat.URL != "" {
		if err := kinds.CheckURL("HEARTBEAT_URL", c.Heartbeat.URL); err != nil {
			return []error{err}
		}
	} else if c.Heartbeat.Fail {
		return []error{errors.New("HEARTBEAT_FAIL: set without HEARTBEAT_URL")}
	}
	return nil
}

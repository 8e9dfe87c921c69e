package config

import (
	"fmt"
	"time"
)

// Stats is the sampling for the rules of Type "stats": how often each
// running, watched container is sampled (0: never), and how many samples
// are in flight per daemon.
type Stats struct {
	Interval    time.Duration `env:"STATS_INTERVAL" envDefault:"30s"`
	Concurrency int           `env:"STATS_CONCURRENCY" envDefault:"8"`
}

func (c *Config) checkStats() []error {
	if c.Stats.Interval > 0 && c.Stats.Interval < time.Second {
		return []error{fmt.Errorf("STATS_INTERVAL: %s is under 1s (0 turns sampling off)", c.Stats.Interval)}
	}
	return nil
}

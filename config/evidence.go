package config

import (
	"fmt"
	"time"
)

// Evidence is the crash card: the last lines of output of a container
// that died or is unhealthy (0: none), and how long reading them may take.
type Evidence struct {
	LogLines int           `env:"EVIDENCE_LOG_LINES" envDefault:"20"`
	Timeout  time.Duration `env:"EVIDENCE_TIMEOUT" envDefault:"5s"`
}

func (c *Config) checkEvidence() []error {
	if c.Evidence.LogLines < 0 || c.Evidence.LogLines > 200 {
		return []error{fmt.Errorf("EVIDENCE_LOG_LINES: %d is not between 0 and 200", c.Evidence.LogLines)}
	}
	return nil
}

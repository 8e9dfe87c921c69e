package config

import (
	"fmt"
	"text/template"
	"time"

	"github.com/whalewatch/whalewatch/rules"
)

// Alert is how the core judges containers and folds their alerts.
type Alert struct {
	// WatchByDefault=false watches only containers labelled whalewatch.enable=true.
	WatchByDefault bool `env:"WATCH_BY_DEFAULT" envDefault:"true"`
	// LabelsShown is the allowlist of container labels shown in messages.
	LabelsShown  []string `env:"LABELS_SHOWN" envDefault:"com.docker.compose.project,com.docker.compose.service"`
	LinkTemplate string   `env:"LINK_TEMPLATE"`
	// Link is LinkTemplate parsed by Load (nil when not set).
	Link *template.Template `env:"-"`
	// ResolveAfter: an incident resolves once its container has been up
	// (and healthy) this long.
	ResolveAfter    time.Duration `env:"RESOLVE_AFTER" envDefault:"1m"`
	CrashLoopDeaths int           `env:"CRASHLOOP_DEATHS" envDefault:"5"`
	CrashLoopWindow time.Duration `env:"CRASHLOOP_WINDOW" envDefault:"10m"`
	CrashLoopQuiet  time.Duration `env:"CRASHLOOP_QUIET" envDefault:"5m"`
}

func (c *Config) checkAlert() []error {
	if c.Alert.LinkTemplate != "" {
		link, err := rules.ParseTemplate("LINK_TEMPLATE", c.Alert.LinkTemplate)
		if err != nil {
			return []error{fmt.Errorf("LINK_TEMPLATE: %w", err)}
		}
		c.Alert.Link = link
	}
	return nil
}

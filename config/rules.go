package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/notify/kinds"
	"github.com/whalewatch/whalewatch/rules"
)

// Rules are the rules every event is matched against.
type Rules struct {
	// Default keeps the built-in rules (rules.Defaults).
	Default bool `env:"DEFAULT_RULES" envDefault:"true"`
	// Specs are the rules, and Engine them compiled by Load (once: what
	// Load checked is what runs).
	Specs  []rules.Spec  `env:"-"`
	Engine *rules.Engine `env:"-"`
	// Severity is each rule's RULE_<NAME>_SEVERITY, where set.
	Severity map[string]string `env:"-"`
}

// Severity is a rule's severity: RULE_<NAME>_SEVERITY, else
// notify.DefaultSeverity (critical for CRASHED, OOM, NODE_DOWN and crash
// loops, warning otherwise).
func (c *Config) Severity(rule string) string {
	if s, ok := c.Rules.Severity[rule]; ok {
		return s
	}
	return notify.DefaultSeverity(rule)
}

// ruleEnv is one RULE_<NAME>_* group.
type ruleEnv struct {
	When        string         `env:"WHEN"`
	Notify      []string       `env:"NOTIFY"`
	Template    string         `env:"TEMPLATE"`
	Enabled     bool           `env:"ENABLED" envDefault:"true"`
	GroupWindow *time.Duration `env:"GROUP_WINDOW"`
	Cooldown    time.Duration  `env:"COOLDOWN"`
	Severity    string         `env:"SEVERITY"`
	For         *time.Duration `env:"FOR"`
}

// defaultGroupWindow groups every rule's storms unless it says otherwise.
const defaultGroupWindow = 10 * time.Second

var ruleKeyRE = regexp.MustCompile(`^RULE_(.+)_(WHEN|NOTIFY|TEMPLATE|ENABLED|GROUP_WINDOW|COOLDOWN|SEVERITY|FOR)$`)

// loadRules reads the default rules (unless DEFAULT_RULES=false) and every
// RULE_<NAME>_*; a rule named like a default one changes or replaces it.
func (c *Config) loadRules(vars map[string]string) []error {
	var errs []error
	var specs []rules.Spec
	if c.Rules.Default {
		specs = rules.Defaults()
	}
	for i := range specs {
		specs[i].GroupWindow = defaultGroupWindow
	}
	names, nameErrs := groupNames(vars, ruleKeyRE, "RULE_", "rule setting (expected RULE_<NAME>_WHEN, _NOTIFY, _TEMPLATE, _ENABLED, _GROUP_WINDOW, _COOLDOWN, _SEVERITY or _FOR)")
	errs = append(errs, nameErrs...)
	for _, name := range names {
		prefix := "RULE_" + name + "_"
		if !nameRE.MatchString(name) {
			errs = append(errs, fmt.Errorf("%sWHEN: rule name %q: use capital letters, digits and _", prefix, name))
			continue
		}
		var re ruleEnv
		if perrs := parseEnv(&re, vars, prefix); len(perrs) > 0 {
			errs = append(errs, perrs...)
			continue
		}
		i := slices.IndexFunc(specs, func(s rules.Spec) bool { return s.Name == name })
		if i < 0 {
			specs = append(specs, rules.Spec{Name: name, GroupWindow: defaultGroupWindow})
			i = len(specs) - 1
		}
		s := &specs[i]
		if re.When != "" {
			s.When = re.When
		}
		if re.Template != "" {
			s.Template = re.Template
		}
		s.Enabled = re.Enabled
		s.Cooldown = re.Cooldown
		if re.GroupWindow != nil {
			s.GroupWindow = *re.GroupWindow
		}
		if s.GroupWindow < 0 {
			errs = append(errs, fmt.Errorf("%sGROUP_WINDOW: must not be negative", prefix))
		}
		if s.Cooldown < 0 {
			errs = append(errs, fmt.Errorf("%sCOOLDOWN: must not be negative", prefix))
		}
		if re.For != nil {
			s.For = *re.For
		}
		if s.For < 0 {
			errs = append(errs, fmt.Errorf("%sFOR: must not be negative", prefix))
		}
		if re.Severity != "" {
			if !notify.ValidSeverity(re.Severity) {
				errs = append(errs, fmt.Errorf("%sSEVERITY: %q is not one of %s", prefix, re.Severity, strings.Join(notify.Severities, ", ")))
			} else {
				if c.Rules.Severity == nil {
					c.Rules.Severity = map[string]string{}
				}
				c.Rules.Severity[name] = re.Severity
			}
		}
		for _, d := range re.Notify {
			d = strings.ToLower(strings.TrimSpace(d))
			if !slices.ContainsFunc(c.Delivery.Destinations, func(x kinds.Destination) bool { return x.Name == d }) {
				errs = append(errs, fmt.Errorf("%sNOTIFY: no destination named %q (configured: %s)", prefix, d, strings.Join(c.DestinationNames(), ", ")))
				continue
			}
			s.Notify = append(s.Notify, d)
		}
	}
	c.Rules.Specs = specs
	engine, err := rules.Compile(specs)
	if err != nil {
		errs = append(errs, err)
	}
	c.Rules.Engine = engine
	return errs
}

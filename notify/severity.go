package notify

import "slices"

// Severities an incident may have, in PagerDuty's words (Alertmanager's
// severity label and Opsgenie's priority are derived from them).
var Severities = []string{"critical", "error", "warning", "info"}

// ValidSeverity tells whether s is one of Severities.
func ValidSeverity(s string) bool { return slices.Contains(Severities, s) }

// DefaultSeverity is a rule's severity unless RULE_<NAME>_SEVERITY says
// otherwise: a container that died, was OOM-killed or crash-loops, and a
// Swarm node that is down, are critical; the rest is a warning.
func DefaultSeverity(rule string) string {
	switch rule {
	case "CRASHED", "OOM", "NODE_DOWN", "CRASHLOOP":
		return "critical"
	}
	return "warning"
}

// SeverityOf maps a rule to its severity; nil means DefaultSeverity.
type SeverityOf func(rule string) string

// Of is the severity of rule.
func (f SeverityOf) Of(rule string) string {
	if f == nil {
		return DefaultSeverity(rule)
	}
	return f(rule)
}

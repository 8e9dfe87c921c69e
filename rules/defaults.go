package rules

// Defaults are the rules whalewatch runs when nobody configured any. Each
// can be turned off (RULE_<NAME>_ENABLED=false) or replaced by a rule of
// the same name.
func Defaults() []Spec {
	return []Spec{
		{
			Name: "CRASHED", Enabled: true,
			// A non-zero exit nobody asked for; OOM deaths are reported by OOM.
			When: `Type == "container" && Action == "die" && ExitCode != 0 && !Intentional && !OOMKilled`,
		},
		{
			Name: "OOM", Enabled: true,
			When: `Type == "container" && (Action == "oom" || (Action == "die" && OOMKilled && Reconciled))`,
		},
		{
			Name: "UNHEALTHY", Enabled: true,
			When: `Type == "container" && Action == "health_status" && Status == "unhealthy"`,
		},
		{
			// whalewatch's own reports: a daemon unreachable, a stream gap,
			// events lost to a full queue.
			Name: "WHALEWATCH", Enabled: true,
			When: `Type == "whalewatch"`,
		},
	}
}

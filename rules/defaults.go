package rules

import "time"

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
			// Swarm (seen on managers): a node the managers lost.
			Name: "NODE_DOWN", Enabled: true,
			When: `Type == "node" && Action == "update" && Attributes["state.new"] == "down"`,
		},
		{
			// Swarm: a service update that failed and is being rolled back.
			Name: "SERVICE_ROLLBACK", Enabled: true,
			When: `Type == "service" && Action == "update" && Attributes["updatestate.new"] == "rollback_started"`,
		},
		{
			// The working set (as docker stats counts it) near the memory
			// limit for 2 minutes: an OOM kill is coming. Never without a limit.
			Name: "MEMORY_HIGH", Enabled: true, For: 2 * time.Minute,
			When: `Type == "stats" && Stats.MemoryPercent >= 90`,
		},
		{
			// Processes near the pids limit for 2 minutes: forks will fail.
			Name: "PIDS_HIGH", Enabled: true, For: 2 * time.Minute,
			When: `Type == "stats" && Stats.PIDsLimit > 0 && Stats.PIDs >= Stats.PIDsLimit * 0.9`,
		},
		{
			// whalewatch's own reports: a daemon unreachable, a stream gap,
			// events lost to a full queue.
			Name: "WHALEWATCH", Enabled: true,
			When: `Type == "whalewatch"`,
		},
	}
}

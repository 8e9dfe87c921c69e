package rules

import (
	"fmt"
	"testing"

	"github.com/whalewatch/whalewatch/event"
)

// BenchmarkMatch is the cost of evaluating every rule against one event.
func BenchmarkMatch(b *testing.B) {
	ev := event.Event{Type: "container", Action: "die", Name: "web-7", Image: "nginx:1", ExitCode: 3, Host: "h1",
		ActorID: "0123456789abcdef", Labels: map[string]string{"com.docker.compose.project": "shop", "team": "pay"}}
	for _, n := range []int{1, 10, 100} {
		specs := make([]Spec, n)
		for i := range specs {
			// Realistic rules: most fail on the first comparisons.
			specs[i] = Spec{Name: fmt.Sprintf("R%d", i), Enabled: true,
				When: fmt.Sprintf(`Type == "container" && Action == "die" && ExitCode != 0 && glob(Name, "web-%d*") && Labels["team"] == "pay"`, i)}
		}
		eng, err := Compile(specs)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("rules=%d/match-path", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				eng.Match(ev)
			}
		})
		noise := ev
		noise.Action = "exec_start" // what most of a busy host's events are
		b.Run(fmt.Sprintf("rules=%d/no-match", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				eng.Match(noise)
			}
		})
	}
}

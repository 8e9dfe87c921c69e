package rules

import (
	"errors"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

func TestStatsRules(t *testing.T) {
	eng, err := Compile(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	if !eng.UsesStats() {
		t.Error("the built-in rules use stats")
	}
	for _, tc := range []struct {
		st   event.Stats
		want []string
	}{
		{event.Stats{MemoryPercent: 90, MemoryLimit: 100, PIDs: 1, PIDsLimit: 100}, []string{"MEMORY_HIGH"}},
		{event.Stats{MemoryPercent: 89.99, MemoryLimit: 100, PIDs: 90, PIDsLimit: 100}, []string{"PIDS_HIGH"}},
		{event.Stats{MemoryBytes: 1 << 40, PIDs: 4000}, nil}, // no limits: nothing matches
	} {
		st := tc.st
		ms, errs := eng.Match(event.Event{Type: event.StatsType, Action: "sample", ActorID: "c", ExitCode: -1, Stats: &st})
		var got []string
		for _, m := range ms {
			got = append(got, m.Rule.Name)
		}
		if len(errs) > 0 || len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
			t.Errorf("%+v: matched %v (errors %v), want %v", tc.st, got, errs, tc.want)
		}
	}
	// The other rules see the zero Stats of other events.
	ms, errs := eng.Match(event.Event{Type: "container", Action: "die", ExitCode: 1})
	if len(errs) > 0 || len(ms) != 1 || ms[0].Rule.Name != "CRASHED" {
		t.Errorf("a crash: %v %v", ms, errs)
	}
	off, _ := Compile([]Spec{{Name: "C", Enabled: true, When: `Type == "container"`}})
	if off.UsesStats() {
		t.Error("no stats rule, yet UsesStats")
	}
}

func TestForOnlyOnStatsRules(t *testing.T) {
	_, err := Compile([]Spec{{Name: "SLOW", Enabled: true, When: `Action == "die"`, For: time.Minute}})
	var ce *CompileError
	if !errors.As(err, &ce) || ce.Variable != "RULE_SLOW_FOR" {
		t.Fatalf("FOR on a rule of deaths: %v", err)
	}
	if _, err := Compile([]Spec{{Name: "CPU", Enabled: true, When: `Type == "stats" && Stats.CPUPercent > 300`, For: time.Minute}}); err != nil {
		t.Fatal(err)
	}
}

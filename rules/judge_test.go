package rules

import (
	"testing"

	"github.com/whalewatch/whalewatch/event"
)

// A verdict judged elsewhere (the event source) gives the same matches
// and errors as Match, with each expression run once and none again.
func TestJudgeOnceThenMatches(t *testing.T) {
	eng, err := Compile([]Spec{
		{Name: "DIED", Enabled: true, When: `Action == "die" && ExitCode != 0`, Template: `{{.Name}} died`},
		{Name: "ANY", Enabled: true, When: `Labels["x"] == "y"`},
		{Name: "BROKEN", Enabled: true, When: `Action == "die" && int(Labels["n"]) > 1`},
		{Name: "OOM", Enabled: true, When: `Action == "oom"`},
	})
	if err != nil {
		t.Fatal(err)
	}
	ev := event.Event{Type: "container", Action: "die", Name: "api", ExitCode: 1, Labels: map[string]string{"x": "y", "n": "z"}}
	v := eng.Judge(ev)
	if runs := eng.Runs(); runs != 3 { // OOM's prefilter skips it
		t.Fatalf("Judge ran %d expressions, want 3", runs)
	}
	got, errs := eng.Matches(ev, v)
	if eng.Runs() != 3 {
		t.Fatalf("Matches ran expressions again: %d runs", eng.Runs())
	}
	want, wantErrs := eng.Match(ev)
	if len(got) != 2 || len(got) != len(want) || got[0].Rule != want[0].Rule || got[0].Text != "api died" || got[1].Rule.Name != "ANY" {
		t.Errorf("matches %+v, Match gives %+v", got, want)
	}
	if len(errs) != 1 || errs[0].Rule != "BROKEN" || len(wantErrs) != 1 {
		t.Errorf("errors %v, Match gives %v", errs, wantErrs)
	}
	if none := eng.Judge(event.Event{Type: "image", Action: "pull"}); !none.Judged || len(none.Rules) != 0 {
		t.Errorf("verdict of an event no rule matches: %+v", none)
	}
}

package rules

import (
	"slices"
	"strings"
	"testing"

	"github.com/expr-lang/expr"

	"github.com/whalewatch/whalewatch/event"
)

// Any event, however odd its strings, builds an environment the built-in
// rules and a template rule evaluate without panicking or failing, and the
// prefilter never hides a rule that the full evaluation says matches.
func FuzzMatchAnyEvent(f *testing.F) {
	specs := append(Defaults(), Spec{Name: "T", Enabled: true, When: `Labels["team"] == "pay" || glob(Name, "web-*")`,
		Template: `{{.Name}} {{index .Labels "team"}} {{exitMeaning .ExitCode}}`})
	engine, err := Compile(specs)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("container", "die", "", "web-1", "team", "pay", 3)
	f.Add("container", "health_status", "unhealthy", "[web", "", "", -1)
	f.Add("whalewatch", "events_dropped", "", "", "count", "5", 0)
	f.Fuzz(func(t *testing.T, typ, action, status, name, labelKey, labelValue string, exit int) {
		ev := event.Event{Type: typ, Action: action, Status: status, Name: name, ExitCode: exit,
			Labels: map[string]string{labelKey: labelValue}, Attributes: map[string]string{labelKey: labelValue}}
		matches, errs := engine.Match(ev)
		if len(errs) > 0 {
			t.Errorf("rules failed on %+v: %v", ev, errs)
		}
		for _, m := range matches {
			if m.Rule.Name == "T" && !strings.Contains(m.Text, event.ExitMeaning(exit)) {
				t.Errorf("template text %q", m.Text)
			}
		}
		for _, r := range engine.Rules() {
			full, _ := expr.Run(r.program, NewEnv(ev))
			matched := slices.ContainsFunc(matches, func(m Match) bool { return m.Rule == r })
			if full == true && !matched {
				t.Errorf("rule %s matches %s/%s but was skipped", r.Name, typ, action)
			}
		}
	})
}

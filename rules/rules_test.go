package rules

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/events"
)

func TestCompileErrorNamesRuleVariableAndColumn(t *testing.T) {
	_, err := Compile([]Spec{
		{Name: "GOOD", Enabled: true, When: `Action == "die"`},
		{Name: "TYPO", Enabled: true, When: `Type == "container" && Actoin == "die"`},
		{Name: "NOTBOOL", Enabled: true, When: `Name`},
		{Name: "OFF", Enabled: false, When: `this is not expr`},
		{Name: "EMPTY", Enabled: true},
		{Name: "BADTPL", Enabled: true, When: `true`, Template: `{{.Nope}}`},
	})
	if err == nil {
		t.Fatal("no error")
	}
	var ce *CompileError
	if !errors.As(err, &ce) || ce.Rule != "TYPO" || ce.Variable != "RULE_TYPO_WHEN" || ce.Line != 1 || ce.Column != 24 {
		t.Errorf("first error = %#v", ce)
	}
	msg := err.Error()
	for _, want := range []string{
		"rule TYPO (RULE_TYPO_WHEN): line 1, column 24: unknown name Actoin",
		"rule NOTBOOL (RULE_NOTBOOL_WHEN)", "expected bool",
		"rule EMPTY (RULE_EMPTY_WHEN): no expression",
		"rule BADTPL (RULE_BADTPL_TEMPLATE)", "Nope",
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	if strings.Contains(msg, "OFF") || strings.Contains(msg, "GOOD") {
		t.Errorf("error mentions a fine or disabled rule:\n%s", msg)
	}
}

func TestMatch(t *testing.T) {
	die := event.Event{Type: "container", Action: "die", Name: "web-1", Image: "nginx:1", ExitCode: 3, Host: "h1",
		ActorID: "abc", Labels: map[string]string{"team": "pay", "com.docker.compose.project": "shop"}}
	for _, tc := range []struct {
		when string
		ev   event.Event
		want bool
	}{
		{`Action == "die" && ExitCode == 3`, die, true},
		{`glob(Name, "web-*")`, die, true},
		{`glob(Name, "db-*")`, die, false},
		{`Labels["team"] == "pay"`, die, true},
		{`Labels["missing"] == ""`, die, true},
		{`Labels["com.docker.compose.project"] in ["shop", "cart"]`, die, true},
		{`Actor.ID == "abc" && Host == "h1"`, die, true},
		{`Image startsWith "nginx"`, die, true},
		{`exitMeaning(ExitCode) == "application error"`, die, true},
		{`ExitCode == -1`, event.Event{Type: "container", Action: "start", ExitCode: -1}, true},
		{`Status == "unhealthy"`, event.Event{Action: "health_status", Status: "unhealthy"}, true},
		{`Name matches "^web-[0-9]+$"`, die, true},
		{`Time.Year() == 1`, die, true},
	} {
		eng, err := Compile([]Spec{{Name: "R", Enabled: true, When: tc.when}})
		if err != nil {
			t.Fatalf("%s: %v", tc.when, err)
		}
		matches, errs := eng.Match(tc.ev)
		if len(errs) > 0 {
			t.Fatalf("%s: %v", tc.when, errs)
		}
		if got := len(matches) == 1; got != tc.want {
			t.Errorf("%s: matched %v, want %v", tc.when, got, tc.want)
		}
	}
}

func TestTemplate(t *testing.T) {
	eng, err := Compile([]Spec{{Name: "T", Enabled: true, When: "true",
		Template: `{{.Name}} exited {{.ExitCode}} ({{exitMeaning .ExitCode}}) on {{.Host}} team={{index .Labels "team"}}`}})
	if err != nil {
		t.Fatal(err)
	}
	m, _ := eng.Match(event.Event{Name: "api", ExitCode: 137, Host: "h", Labels: map[string]string{"team": "core"}})
	want := "api exited 137 (SIGKILL: killed, often out of memory or docker kill) on h team=core"
	if len(m) != 1 || m[0].Text != want {
		t.Errorf("text = %q", m[0].Text)
	}
}

// The default rules over a real capture: one crash, one OOM, one
// unhealthy; docker stop/kill and health-check execs are silent.
func TestDefaultsOnFixture(t *testing.T) {
	f, err := os.Open("../testdata/docker-20.10-events.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	msgs, err := events.ReadJSONL(f)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := Compile(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, ev := range events.Replay("h", msgs) {
		matches, errs := eng.Match(ev)
		if len(errs) > 0 {
			t.Fatal(errs)
		}
		for _, m := range matches {
			got = append(got, m.Rule.Name+":"+ev.Name+":"+ev.Action)
		}
	}
	want := "CRASHED:crash-1:die OOM:oom-1:oom UNHEALTHY:web-1:health_status"
	if strings.Join(got, " ") != want {
		t.Errorf("default matches:\n got %s\nwant %s", strings.Join(got, " "), want)
	}
}

// Swarm captures (a service created, scaled, updated, and an update that
// failed and rolled back; a node drained): only the rollback is news.
func TestDefaultsOnSwarmCaptures(t *testing.T) {
	eng, err := Compile(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, name := range []string{"docker-20.10-swarm-events.jsonl", "docker-20.10-swarm-rollback.jsonl"} {
		f, err := os.Open("../testdata/" + name)
		if err != nil {
			t.Fatal(err)
		}
		msgs, err := events.ReadJSONL(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events.Replay("h", msgs) {
			matches, _ := eng.Match(ev)
			for _, m := range matches {
				got = append(got, m.Rule.Name+":"+ev.Name+":"+ev.Attributes["updatestate.new"])
			}
		}
	}
	if want := "SERVICE_ROLLBACK:s2:rollback_started"; strings.Join(got, " ") != want {
		t.Errorf("matches %v, want %s", got, want)
	}
}

func TestDefaultsOnSelfAndReconciledEvents(t *testing.T) {
	eng, err := Compile(Defaults())
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ev   event.Event
		want string
	}{
		{event.Event{Type: "whalewatch", Action: "stream_restored"}, "WHALEWATCH"},
		{event.Event{Type: "container", Action: "die", ExitCode: 2, Reconciled: true}, "CRASHED"},
		{event.Event{Type: "container", Action: "die", ExitCode: 137, OOMKilled: true, Reconciled: true}, "OOM"},
		{event.Event{Type: "container", Action: "die", ExitCode: 0}, ""},
		{event.Event{Type: "container", Action: "die", ExitCode: 143, Intentional: true}, ""},
		{event.Event{Type: "container", Action: "exec_die", ExitCode: 1}, ""},
		{event.Event{Type: "container", Action: "health_status", Status: "healthy"}, ""},
		{event.Event{Type: "node", Action: "update", Attributes: map[string]string{"state.new": "down", "state.old": "ready"}}, "NODE_DOWN"},
		{event.Event{Type: "node", Action: "update", Attributes: map[string]string{"availability.new": "drain"}}, ""},
	} {
		m, _ := eng.Match(tc.ev)
		var got []string
		for _, x := range m {
			got = append(got, x.Rule.Name)
		}
		if strings.Join(got, ",") != tc.want {
			t.Errorf("%+v: matched %v, want %q", tc.ev, got, tc.want)
		}
	}
}

// What an expression says of Type and Action alone lets events skip the
// rule; anything uncertain lets them through.
func TestPrefilter(t *testing.T) {
	for _, tc := range []struct {
		when        string
		typ, action string
		mayMatch    bool
	}{
		{`Type == "container" && Action == "die" && ExitCode != 0`, "container", "die", true},
		{`Type == "container" && Action == "die" && ExitCode != 0`, "container", "exec_start", false},
		{`Type == "container" && (Action == "oom" || (Action == "die" && OOMKilled))`, "container", "oom", true},
		{`Type == "container" && (Action == "oom" || (Action == "die" && OOMKilled))`, "container", "start", false},
		{`"node" == Type and Action in ["update", "remove"]`, "node", "remove", true},
		{`"node" == Type and Action in ["update", "remove"]`, "container", "remove", false},
		{`Action == "die" || Name == "x"`, "container", "exec_start", true}, // the Name side may hold
		{`!(Action == "die")`, "container", "exec_start", true},
		{`Type == "container" && Type == "image"`, "container", "die", false},
		{`Labels["team"] == "pay"`, "anything", "at_all", true},
		// Stats samples reach only the rules that require Type == "stats".
		{`Labels["team"] == "pay"`, event.StatsType, "sample", false},
		{`Type != "image"`, event.StatsType, "sample", false},
		{`Type == "stats" && Stats.MemoryPercent > 50`, event.StatsType, "sample", true},
		{`Type in ["stats", "container"] && Stats.PIDs > 50`, event.StatsType, "sample", false},
	} {
		eng, err := Compile([]Spec{{Name: "R", Enabled: true, When: tc.when}})
		if err != nil {
			t.Fatalf("%s: %v", tc.when, err)
		}
		if got := eng.MayMatch(tc.typ, tc.action); got != tc.mayMatch {
			t.Errorf("%s on %s/%s: MayMatch %v, want %v", tc.when, tc.typ, tc.action, got, tc.mayMatch)
		}
	}
}

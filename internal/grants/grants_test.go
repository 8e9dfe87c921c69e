package grants

import (
	"errors"
	"fmt"
	"testing"
)

func TestAuthorizeTable(t *testing.T) {
	globs, err := ParseVerbGlobs([]string{"start:web-*", "restart:*", "logs:*"})
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{
		Teams: []string{"T1"}, Users: []string{"UADMIN"}, ReadUsers: []string{"UREAD"},
		Channels: []string{"COPS"}, Globs: globs, SelfID: "5e1f00000000",
	}
	web := Target{ID: "aaaa", Name: "web-1"}
	db := Target{ID: "bbbb", Name: "db", Labels: map[string]string{ActionsLabel: "stop, start"}}
	self := Target{ID: "5e1f00000000ffff", Name: "whalewatch", Labels: map[string]string{ActionsLabel: "start,stop,restart,logs"}}
	admin := Caller{TeamID: "T1", UserID: "UADMIN", ChannelID: "COPS"}
	reader := Caller{TeamID: "T1", UserID: "UREAD", ChannelID: "COPS"}

	for _, tc := range []struct {
		caller Caller
		verb   Verb
		target Target
		want   error
	}{
		{admin, Start, web, nil},
		{admin, Restart, web, nil},
		{admin, Logs, web, nil},
		{admin, Stop, web, ErrNotAllowlisted}, // no glob or label allows stop on web
		{admin, Stop, db, nil},                // the label allows it
		{admin, Start, db, nil},               // label, with spaces
		{admin, Restart, db, nil},             // glob restart:*
		{admin, Start, self, ErrSelf},         // never itself, whatever its label says
		{reader, Logs, web, nil},              // read-only user may read
		{reader, Start, web, ErrUser},         // … and nothing else
		{Caller{TeamID: "T1", UserID: "USTRANGER", ChannelID: "COPS"}, Logs, web, ErrUser},
		{Caller{TeamID: "T1", UserID: "UADMIN", ChannelID: "CRANDOM"}, Start, web, ErrChannel},
		{Caller{TeamID: "T2", UserID: "UADMIN", ChannelID: "COPS"}, Start, web, ErrTeam},
		{Caller{TeamID: "T1", UserID: "", ChannelID: "COPS"}, Start, web, ErrUser},
	} {
		got := p.Authorize(tc.caller, tc.verb, tc.target)
		if !errors.Is(got, tc.want) {
			t.Errorf("%s %s %s: got %v, want %v", tc.caller.UserID+"@"+tc.caller.ChannelID+"/"+tc.caller.TeamID, tc.verb, tc.target.Name, got, tc.want)
		}
	}
}

func TestEmptyPolicyDeniesEverything(t *testing.T) {
	var p Policy
	target := Target{ID: "x", Name: "web", Labels: map[string]string{ActionsLabel: "start,stop,restart,logs"}}
	for _, v := range Verbs {
		if err := p.Authorize(Caller{TeamID: "T", UserID: "U", ChannelID: "C"}, v, target); err == nil {
			t.Errorf("%s allowed by an empty policy", v)
		}
	}
	if got := (Policy{}).ContainerVerbs(Target{Name: "web"}); len(got) != 0 {
		t.Errorf("an unlabelled container allows %v by default", got)
	}
}

func TestParseVerbGlobs(t *testing.T) {
	for _, bad := range []string{"start", "exec:*", "start:", "rm:web", "start:[", ":web"} {
		if _, err := ParseVerbGlobs([]string{bad}); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	got, err := ParseVerbGlobs([]string{"start:web-*", " restart:* "})
	if err != nil || fmt.Sprint(got) != "[{start web-*} {restart *}]" {
		t.Errorf("got %v, %v", got, err)
	}
}

func TestMuteCovered(t *testing.T) {
	globs, err := ParseVerbGlobs([]string{"stop:web-*", "stop:db", "restart:*", "start:cache-*"})
	if err != nil {
		t.Fatal(err)
	}
	p := Policy{Globs: globs}
	for _, tc := range []struct {
		glob string
		want bool
	}{
		{"web-*", true},     // the stop glob itself
		{"web-1", true},     // a name it matches
		{"db", true},        // a stop name
		{"web-1*", false},   // narrower, but a glob: not checked beyond literal equality
		{"*", false},        // everything: only restart:* covers it
		{"we?-1", false},    // a glob that is not a stop glob
		{"cache-1", false},  // start, not stop
		{"api", false},      // no grant
		{"[w]eb-1", false},  // a class is a glob too
		{"web-[12]", false}, // likewise
		{"db-replica", false},
	} {
		if got := p.MuteCovered(tc.glob); got != tc.want {
			t.Errorf("MuteCovered(%q) = %v, want %v", tc.glob, got, tc.want)
		}
	}
	if (Policy{Globs: []VerbGlob{{Stop, "*"}}}).MuteCovered("*") != true {
		t.Error("stop:* does not cover *")
	}
	if (Policy{}).MuteCovered("web") {
		t.Error("no grants cover a mute")
	}
}

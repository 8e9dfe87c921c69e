package actions

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/whalewatch/whalewatch/internal/metrics"
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

func TestParseCommand(t *testing.T) {
	for _, tc := range []struct {
		text string
		want command
		bad  bool
	}{
		{"", command{name: "help"}, false},
		{"help", command{name: "help"}, false},
		{"start web-1", command{name: "start", target: "web-1"}, false},
		{"STOP web_1.a", command{name: "stop", target: "web_1.a"}, false},
		{"restart 0123456789ab", command{name: "restart", target: "0123456789ab"}, false},
		{"logs web", command{name: "logs", target: "web", tail: 20}, false},
		{"logs web --tail 50", command{name: "logs", target: "web", tail: 50}, false},
		{"logs web --tail 5000", command{name: "logs", target: "web", tail: 200}, false},
		{"ps", command{name: "ps"}, false},
		{"ps shop", command{name: "ps", filter: "shop"}, false},
		{"logs web --tail x", command{}, true},
		{"start", command{}, true},
		{"start web extra", command{}, true},
		{"start ../etc", command{}, true},
		{"start web;rm", command{}, true},
		{"start -f", command{}, true},
		{"exec web sh", command{}, true},
		{"rm web", command{}, true},
		{"start " + string(make([]byte, 200)), command{}, true},
	} {
		got, err := parseCommand(tc.text)
		if (err != nil) != tc.bad || (!tc.bad && got != tc.want) {
			t.Errorf("%q: got %+v, %v", tc.text, got, err)
		}
	}
}

func TestParseMute(t *testing.T) {
	for text, ok := range map[string]bool{
		"mute web-* 30m": true, "mute web 2h": true, "unmute web-*": true,
		"mute web": false, "mute web 0s": false, "mute web 9999h": false, "mute ../x 1h": false, "unmute": false,
	} {
		c, err := parseCommand(text)
		if (err == nil) != ok {
			t.Errorf("%q: %+v %v", text, c, err)
		}
	}
}

func TestRateLimitPerUser(t *testing.T) {
	svc := NewService(OneHost(idleDocker{}), Policy{Users: []string{"U1", "U2"}, Channels: []string{"C1"}}, tempStore(t), slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.New())
	svc.PerMinute = 2
	cmd := func(user string) string {
		return svc.SlashCommand(slack.SlashCommand{UserID: user, ChannelID: "C1", Text: "restart web"})
	}
	if cmd("U1") != ackWorking || cmd("U1") != ackWorking {
		t.Fatal("first two actions refused")
	}
	if got := cmd("U1"); got != "⛔ "+errRate.Error() {
		t.Errorf("third action in a minute: %q", got)
	}
	if cmd("U2") != ackWorking {
		t.Error("another user was limited too")
	}
}

// A mute glob is covered by the stop grants of ACTIONS_CONTAINERS when
// one of them is that very glob, or when it is a plain name a stop glob
// matches: a mute silences only what its caller could stop.
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

// /docker mute refuses a glob the caller's stop grants do not cover, and
// keeps no mute for it; a covered one is kept.
func TestMuteNeedsStopGrantsOverItsGlob(t *testing.T) {
	globs, _ := ParseVerbGlobs([]string{"stop:web-*"})
	svc := NewService(OneHost(idleDocker{}), Policy{Users: []string{"U1"}, Channels: []string{"C1"}, Globs: globs}, tempStore(t), quietLog(), metrics.New())
	mutes := &recordingMutes{}
	svc.Mutes = mutes
	caller := Caller{UserID: "U1", ChannelID: "C1"}
	for _, tc := range []struct {
		text string
		kept bool
	}{{"mute * 1h", false}, {"mute db 1h", false}, {"mute web-* 1h", true}, {"mute web-1 10m", true}} {
		c, err := parseCommand(tc.text)
		if err != nil {
			t.Fatal(err)
		}
		before := len(mutes.set)
		reply := svc.mute(caller, c)
		if kept := len(mutes.set) > before; kept != tc.kept {
			t.Errorf("%q: kept %v, want %v (reply %q)", tc.text, kept, tc.kept, reply)
		}
		if !tc.kept && !strings.Contains(reply, "⛔") {
			t.Errorf("%q: reply %q is no refusal", tc.text, reply)
		}
	}
}

type recordingMutes struct{ set []string }

func (m *recordingMutes) SetMute(glob string, _ time.Time) error {
	m.set = append(m.set, glob)
	return nil
}

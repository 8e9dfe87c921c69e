package actions

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/whalewatch/whalewatch/internal/grants"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

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
		{"start " + strings.Repeat("a", 128), command{name: "start", target: strings.Repeat("a", 128)}, false},
		{"start " + strings.Repeat("a", 129), command{}, true},
		{"ps " + strings.Repeat("a", 129), command{}, true},
		{"start web@" + strings.Repeat("h", 64), command{name: "start", target: "web", host: strings.Repeat("h", 64)}, false},
		{"start web@" + strings.Repeat("h", 65), command{}, true},
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
	svc := NewService(OneHost(idleDocker{}), grants.Policy{Users: []string{"U1", "U2"}, Channels: []string{"C1"}}, tempStore(t), slog.New(slog.NewTextHandler(io.Discard, nil)), metrics.New())
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
// /docker mute refuses a glob the caller's stop grants do not cover, and
// keeps no mute for it; a covered one is kept.
func TestMuteNeedsStopGrantsOverItsGlob(t *testing.T) {
	globs, _ := grants.ParseVerbGlobs([]string{"stop:web-*"})
	svc := NewService(OneHost(idleDocker{}), grants.Policy{Users: []string{"U1"}, Channels: []string{"C1"}, Globs: globs}, tempStore(t), quietLog(), metrics.New())
	mutes := &recordingMutes{}
	svc.Mutes = mutes
	caller := grants.Caller{UserID: "U1", ChannelID: "C1"}
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

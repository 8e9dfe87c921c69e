package actions

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/internal/grants"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/slackstub"
)

// Nothing the user types reaches Docker unless it is a plain name or ID
// (or, for mute, a name glob): the parser never panics, and what it
// accepts as a target has only safe characters.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{"start web", "logs web --tail 50", "ps shop", "mute web-* 30m", "restart $(id)", "stop ../web", "start web;id", "", "help"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		c, err := parseCommand(text)
		if err != nil || c.target == "" {
			return
		}
		if c.name == "mute" || c.name == "unmute" {
			if !nameGlob.valid(c.target) {
				t.Errorf("%q: glob %q accepted", text, c.target)
			}
		} else if !containerRef.valid(c.target) {
			t.Errorf("%q: target %q accepted", text, c.target)
		}
		if c.tail < 0 || c.tail > maxTail {
			t.Errorf("%q: tail %d", text, c.tail)
		}
	})
}

// Any correctly signed body on /slack/interactions (and /slack/commands)
// is answered 200 or 400, never a panic or a 5xx; a wrong signature is 401.
func FuzzSignedPayloads(f *testing.F) {
	f.Add(`payload={"type":"block_actions","actions":[{"action_id":"whalewatch_start","value":"x"}],"user":{"id":"U1"}}`, true)
	f.Add(`payload={"type":"view_submission"`, true)
	f.Add(`command=/docker&text=start+web&user_id=U1&channel_id=C1`, false)
	f.Add(`payload=%ZZ`, true)
	svc := NewService(OneHost(idleDocker{}), grants.Policy{Users: []string{"U1"}, Channels: []string{"C1"}}, tempStore(f), quietLog(), metrics.New())
	svc.PerMinute = 1 << 30
	mux := http.NewServeMux()
	NewHTTPHandler(svc, testSecret).Register(mux)
	n := 0
	f.Fuzz(func(t *testing.T, body string, interaction bool) {
		path := "/slack/commands"
		if interaction {
			path = "/slack/interactions"
		}
		n++ // every body its own, so no two are replays
		body = body + "&n=" + url.QueryEscape(fmt.Sprint(n))
		ts := fmt.Sprint(time.Now().Unix())
		for _, tc := range []struct {
			sig  string
			want []int
		}{
			{slackstub.Sign(testSecret, ts, []byte(body)), []int{200, 400}},
			{slackstub.Sign("wrong", ts, []byte(body)), []int{401}},
		} {
			if code := post(mux, path, body, ts, tc.sig); !slices.Contains(tc.want, code) {
				t.Errorf("%s %q: status %d, want %v", path, body, code, tc.want)
			}
		}
	})
}

// Forged signatures and timestamps of any shape are refused.
func FuzzVerifierRefusesForgeries(f *testing.F) {
	f.Add("v0=00", "1700000000")
	f.Add("V0=ABCDEF", "")
	f.Add("", "-1")
	svc := NewService(OneHost(idleDocker{}), grants.Policy{}, tempStore(f), quietLog(), metrics.New())
	mux := http.NewServeMux()
	NewHTTPHandler(svc, testSecret).Register(mux)
	body := "command=/docker&text=start+web&user_id=U1&channel_id=C1"
	f.Fuzz(func(t *testing.T, signature, timestamp string) {
		if signature == slackstub.Sign(testSecret, timestamp, []byte(body)) {
			return // the fuzzer forged nothing
		}
		if code := post(mux, "/slack/commands", body, timestamp, signature); code != http.StatusUnauthorized {
			t.Errorf("signature %q timestamp %q: status %d", signature, timestamp, code)
		}
	})
}

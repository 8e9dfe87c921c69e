package slack_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify/slack"
)

// Whatever a container is called, writes, or a template renders, what
// reaches Slack has no live mention or link: in the fallback text and in
// every mrkdwn text, each "<" a user wrote is escaped. The only live ones
// are an owner that is a Slack ID and the link, whole. (plain_text, the
// header, is never parsed for mentions.)
func FuzzSlackTextIsInert(f *testing.F) {
	f.Add("web-1", "<!channel> deploy failed", "shop")
	f.Add("<https://evil.example|click>", "&lt;!here&gt;", "<@U123>")
	f.Add(strings.Repeat("<", 3000), "é\x00\xff", "`")
	f.Fuzz(func(t *testing.T, name, text, project string) {
		n := crash(name)
		n.Text = text
		n.Event.Labels["com.docker.compose.project"] = project
		n.Event.Evidence = &event.Evidence{Logs: []event.LogLine{{Stream: "stderr", Text: text}, {Stream: "stdout", Text: name}},
			Health: []event.HealthProbe{{ExitCode: 1, Output: project}}}
		n.Event.Action, n.Owner, n.Link = "health_status", project, "https://logs.example/"+name
		data, err := json.Marshal(slack.Blocks(n))
		if err != nil {
			t.Fatal(err)
		}
		var blocks any
		if err := json.Unmarshal(data, &blocks); err != nil {
			t.Fatal(err)
		}
		texts := append(mrkdwn(blocks), slack.FallbackText(n))
		for _, s := range texts {
			if strings.Contains(allowed.ReplaceAllString(s, ""), "<") {
				t.Errorf("live < in %q", s)
			}
		}
	})
}

// allowed are the live forms whalewatch itself writes.
var allowed = regexp.MustCompile(`<@[UW][A-Z0-9]{2,20}>|<!subteam\^S[A-Z0-9]{2,20}>|<https?://[^|<> ]*\|Open logs>`)

// mrkdwn collects the text of every mrkdwn object.
func mrkdwn(v any) []string {
	var out []string
	switch v := v.(type) {
	case map[string]any:
		if v["type"] == "mrkdwn" {
			if s, ok := v["text"].(string); ok {
				out = append(out, s)
			}
		}
		for _, x := range v {
			out = append(out, mrkdwn(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, mrkdwn(x)...)
		}
	}
	return out
}

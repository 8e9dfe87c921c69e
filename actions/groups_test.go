package actions

import (
	"context"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/slackstub"
)

// Members of an allowed Slack user group may act; the membership comes
// from usergroups.users.list (through slack-go, against the local
// stand-in), is cached, and is read again when a caller is not found, so
// someone added to the group is allowed moments later and someone removed
// is refused.
func TestUserGroupsAllowTheirMembers(t *testing.T) {
	api := slackstub.New(t)
	api.SetGroup("S0ONCALL", "U9")
	svc := NewService(OneHost(idleDocker{}), Policy{Groups: []string{"S0ONCALL"}, Channels: []string{"C1"}}, tempStore(t), quietLog(), metrics.New())
	svc.UseGroups(slack.New("xoxb-test", slack.OptionAPIURL(api.APIURL())), time.Hour)
	svc.groups.minRefresh = 20 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = svc.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	ack := func(user string) string {
		return svc.SlashCommand(slack.SlashCommand{UserID: user, ChannelID: "C1", Text: "restart web"})
	}
	allowedSoon := func(user string, want bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for (ack(user) == ackWorking) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: allowed=%v never came", user, want)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	allowedSoon("U9", true)
	if ack("U8") != "⛔ "+ErrUser.Error() {
		t.Error("a user outside the group was allowed")
	}
	api.SetGroup("S0ONCALL", "U8") // U8 joins, U9 leaves
	allowedSoon("U8", true)
	allowedSoon("U9", false)
	for _, call := range api.Calls("usergroups.users.list") {
		if call.Form.Get("usergroup") != "S0ONCALL" || call.Token != "xoxb-test" {
			t.Errorf("call: %+v", call)
		}
	}
}

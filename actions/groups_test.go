package actions

import (
	"context"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/whalewatch/whalewatch/internal/grants"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/slackstub"
)

// Members of an allowed Slack user group may act; the membership comes
// from usergroups.users.list (through slack-go, against the local
// stand-in) and is cached; a caller not found asks for a refresh, so
// someone added to the group is allowed after it and someone removed is
// refused. The refreshes are driven here, not waited for.
func TestUserGroupsAllowTheirMembers(t *testing.T) {
	api := slackstub.New(t)
	api.SetGroup("S0ONCALL", "U9")
	svc := NewService(OneHost(idleDocker{}), grants.Policy{Groups: []string{"S0ONCALL"}, Channels: []string{"C1"}}, tempStore(t), quietLog(), metrics.New())
	svc.UseGroups(slack.New("xoxb-test", slack.OptionAPIURL(api.APIURL())), time.Hour)
	allowed := func(user string) bool {
		return svc.SlashCommand(slack.SlashCommand{UserID: user, ChannelID: "C1", Text: "restart web"}) == ackWorking
	}
	missAsksForRefresh := func() bool {
		select {
		case <-svc.groups.wake:
			return true
		default:
			return false
		}
	}
	ctx := context.Background()
	svc.groups.refresh(ctx)
	if !allowed("U9") || allowed("U8") {
		t.Fatalf("after the first read: U9 allowed %v, U8 allowed %v", allowed("U9"), allowed("U8"))
	}
	if !missAsksForRefresh() {
		t.Error("a caller not in the group did not ask for a refresh")
	}
	api.SetGroup("S0ONCALL", "U8") // U8 joins, U9 leaves
	svc.groups.refresh(ctx)
	if !allowed("U8") || allowed("U9") {
		t.Errorf("after the refresh: U8 allowed %v, U9 allowed %v", allowed("U8"), allowed("U9"))
	}
	for _, call := range api.Calls("usergroups.users.list") {
		if call.Form.Get("usergroup") != "S0ONCALL" || call.Token != "xoxb-test" {
			t.Errorf("call: %+v", call)
		}
	}
}

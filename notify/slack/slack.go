// Package slack delivers notifications to Slack, through the Web API with
// a bot token (chat.postMessage) or through an incoming webhook.
package slack

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"
	"golang.org/x/time/rate"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/redact"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/notify"
)

// Slack's limits on block text (characters).
const (
	maxHeader  = 150
	maxSection = 3000
	maxField   = 2000
	maxFields  = 10
	// escapeGrowth: escaping turns one character into at most five (&amp;),
	// so text is cut before escaping to this share of a limit.
	escapeGrowth = 5
)

// Bot posts with chat.postMessage to one channel, paced so that Slack
// never has to rate-limit it. A group's first message is posted; its
// updates edit that message in place and add the details in its thread.
type Bot struct {
	api     *slack.Client
	channel string
	pace    pacer // this channel (about one message a second) and the workspace
	threads Threads
	buttons Buttons // nil: cards carry no buttons
}

// Buttons makes the buttons of a card as it is posted (actions.Service):
// what the offer allows, each a single-use token it keeps in the state
// file (so the alert core, which only records the offer, does no I/O).
// acked leaves out Acknowledge: the message was acknowledged already.
type Buttons interface {
	Buttons(o event.Offer, acked bool) []slack.BlockElement
}

// Threads remembers which message stands for each group, across restarts
// (the state file), so an update after a restart edits the same message.
type Threads interface {
	Thread(group string) (state.Thread, bool)
	SaveThread(group string, t state.Thread) error
}

// Workspace is shared by every Bot of one token: Slack also limits a
// workspace as a whole.
type Workspace struct{ pace *rate.Limiter }

// NewWorkspace paces all posts of a workspace to perSecond (bursts of a few).
func NewWorkspace(perSecond float64) *Workspace {
	return &Workspace{pace: rate.NewLimiter(rate.Limit(perSecond), 5)}
}

// NewBot returns a notifier posting to channel. apiURL is Slack's Web API
// base URL (ends in "/"); tests point it at a local server. buttons may be
// nil (no Slack actions).
func NewBot(token, channel, apiURL string, client *http.Client, ws *Workspace, threads Threads, buttons Buttons) *Bot {
	return &Bot{
		buttons: buttons,
		api:     slack.New(token, slack.OptionAPIURL(apiURL), slack.OptionHTTPClient(client)),
		channel: channel,
		pace:    newPacer(rate.NewLimiter(1, 3), ws),
		threads: threads,
	}
}

// Notify posts n with Block Kit and a plain fallback text, or updates its
// group's message.
func (b *Bot) Notify(ctx context.Context, n notify.Notification) (bool, error) {
	keys := threadKeys(n)
	if len(keys) > 0 && !first(n) {
		if root, ok := b.threads.Thread(keys[0]); ok {
			return b.update(ctx, root, n)
		}
	}
	return b.post(ctx, n, keys, append(Blocks(n), b.actionBlock(n, false)...), state.Thread{})
}

// ActionBlockID names the block of buttons, so it can be found and removed.
const ActionBlockID = "whalewatch_actions"

// actionBlock is the block of n's buttons, made now (none without an offer).
func (b *Bot) actionBlock(n notify.Notification, acked bool) []slack.Block {
	if b.buttons == nil || n.Offer == nil {
		return nil
	}
	buttons := b.buttons.Buttons(*n.Offer, acked)
	if len(buttons) == 0 {
		return nil
	}
	return []slack.Block{slack.NewActionBlock(ActionBlockID, buttons...)}
}

// post posts n as a root message with blocks and remembers it under keys
// (carrying acked's acknowledgement, when it replaces a message that was).
func (b *Bot) post(ctx context.Context, n notify.Notification, keys []string, blocks []slack.Block, acked state.Thread) (bool, error) {
	if err := b.pace.Wait(ctx); err != nil {
		return true, err
	}
	channel, ts, err := b.api.PostMessageContext(ctx, b.channel,
		slack.MsgOptionText(FallbackText(n), false),
		slack.MsgOptionBlocks(blocks...))
	if err != nil {
		return Classify(err)
	}
	for _, key := range keys {
		t := state.Thread{Channel: channel, TS: ts, At: time.Now(), AckedBy: acked.AckedBy, AckedAt: acked.AckedAt}
		if serr := b.threads.SaveThread(key, t); serr != nil {
			// Posted all the same; later updates become new messages.
			return false, fmt.Errorf("posted, but cannot remember the message for updates: %w", serr)
		}
	}
	if logs, ok := fullLogs(n); ok {
		// The card shows the last lines; the thread has them all. Posted
		// once: a retry would post the card again.
		_ = b.pace.Wait(ctx)
		_, _, _ = b.api.PostMessageContext(ctx, channel, slack.MsgOptionTS(ts),
			slack.MsgOptionText("Last output of "+slackutilsx.EscapeMessage(notify.NameOrID(n.Event)), false), slack.MsgOptionBlocks(logs...))
	}
	return false, nil
}

// editGone: chat.update refused because the root message can no longer be
// edited — deleted (message_not_found), not editable by the bot any more
// (cant_update_message), or past the workspace's edit window
// (edit_window_closed). Slack's documented chat.update errors.
func editGone(err error) bool {
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		return false
	}
	switch se.Err {
	case "message_not_found", "cant_update_message", "edit_window_closed":
		return true
	}
	return false
}

// threadKeys name the message that later messages about the same thing
// edit: its incident's, and its group's.
func threadKeys(n notify.Notification) []string {
	var keys []string
	if n.Incident != nil {
		keys = append(keys, n.Incident.ID)
	}
	if n.Group != nil {
		keys = append(keys, n.Group.Key)
	}
	return keys
}

// first: n opens its incident, or (without one) its group.
func first(n notify.Notification) bool {
	if n.Incident != nil {
		return n.Incident.Seq == 1
	}
	return n.Group == nil || n.Group.Seq == 1
}

// update edits the root message with n and puts n into its thread: the
// whole card for an incident's news, the summary for a group's. Retrying
// repeats both, which only edits again.
func (b *Bot) update(ctx context.Context, root state.Thread, n notify.Notification) (bool, error) {
	if err := b.pace.Wait(ctx); err != nil {
		return true, err
	}
	// Acknowledged: it stays so on every later edit, without the button.
	acked := notify.ValidOwner(root.AckedBy)
	blocks := append(Blocks(n), b.actionBlock(n, acked)...)
	if acked {
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
			fmt.Sprintf("👀 Acknowledged by <@%s> at %s", root.AckedBy, root.AckedAt.UTC().Format("15:04 UTC")), false, false)))
	}
	_, _, _, err := b.api.UpdateMessageContext(ctx, root.Channel, root.TS,
		slack.MsgOptionText(FallbackText(n), false), slack.MsgOptionBlocks(blocks...))
	if editGone(err) {
		// Someone deleted the message (or Slack no longer lets it be
		// edited): n becomes the new root, and what follows goes there.
		return b.post(ctx, n, threadKeys(n), blocks, root)
	}
	if err != nil {
		return Classify(err)
	}
	if err := b.pace.Wait(ctx); err != nil {
		return true, err
	}
	reply := []slack.MsgOption{slack.MsgOptionTS(root.TS), slack.MsgOptionText(slackutilsx.EscapeMessage(truncate(n.Summary(), maxSection/escapeGrowth)), false)}
	if n.Incident != nil {
		reply = append(reply, slack.MsgOptionBlocks(Blocks(n)...)) // the buttons live on the root message
	}
	_, _, err = b.api.PostMessageContext(ctx, root.Channel, reply...)
	return Classify(err)
}

// pacer waits for every one of its limiters.
type pacer []*rate.Limiter

func newPacer(channel *rate.Limiter, ws *Workspace) pacer {
	if ws == nil {
		return pacer{channel}
	}
	return pacer{channel, ws.pace}
}

func (p pacer) Wait(ctx context.Context) error {
	for _, l := range p {
		if err := l.Wait(ctx); err != nil {
			return err
		}
	}
	return nil
}

// Webhook posts to a Slack incoming webhook URL.
type Webhook struct {
	url    string
	client *http.Client
}

// NewWebhook returns a notifier for an incoming webhook URL.
func NewWebhook(url string, client *http.Client) *Webhook {
	return &Webhook{url: url, client: client}
}

// Notify posts n to the webhook.
func (w *Webhook) Notify(ctx context.Context, n notify.Notification) (bool, error) {
	blocks := Blocks(n)
	err := slack.PostWebhookCustomHTTPContext(ctx, w.url, w.client, &slack.WebhookMessage{
		Text:   FallbackText(n),
		Blocks: &slack.Blocks{BlockSet: blocks},
	})
	return Classify(redact.URL(err))
}

// Classify turns a slack-go error into the Dispatcher's retry decision.
func Classify(err error) (bool, error) {
	if err == nil {
		return false, nil
	}
	var rl *slack.RateLimitedError
	if errors.As(err, &rl) {
		return true, &notify.RetryAfterError{After: rl.RetryAfter, Err: err}
	}
	var sc slack.StatusCodeError
	if errors.As(err, &sc) {
		return notify.RetryableStatus(sc.Code), err
	}
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		switch se.Err {
		case "ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout":
			return true, err
		}
		return false, fmt.Errorf("slack refused the message: %w", err) // e.g. channel_not_found, invalid_auth
	}
	return true, err // network trouble
}

// FallbackText is the plain text Slack shows in notifications and to
// clients that cannot show blocks. Untrusted text is escaped.
func FallbackText(n notify.Notification) string {
	return slackutilsx.EscapeMessage(truncate(n.Summary(), maxSection))
}

// Blocks lays out a notification: header, summary, fields, context (the
// Bot adds the buttons).
func Blocks(n notify.Notification) []slack.Block {
	header := slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType,
		truncate(icon(n)+" "+n.Rule+": "+title(n), maxHeader), true, false))
	var fields []*slack.TextBlockObject
	for _, f := range n.Fields() {
		if len(fields) == maxFields {
			break
		}
		fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType,
			"*"+slackutilsx.EscapeMessage(truncate(f.Name, 100))+"*\n"+slackutilsx.EscapeMessage(truncate(f.Value, maxField/escapeGrowth-100)), false, false))
	}
	summary := slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType,
		slackutilsx.EscapeMessage(truncate(n.Summary(), maxSection/escapeGrowth)), false, false), fields, nil)
	footer := slackutilsx.EscapeMessage(fmt.Sprintf("%s · %s · rule %s", n.Event.Time.Format(time.RFC3339), n.Event.Host, n.Rule))
	if notify.ValidOwner(n.Owner) {
		footer += " · owner " + mention(n.Owner)
	}
	if link := linkURL(n.Link); link != "" {
		footer += " · <" + link + "|Open logs>"
	}
	blocks := []slack.Block{header, summary}
	if probes := n.ProbeText(); probes != "" {
		blocks = append(blocks, codeSection("Healthcheck output", lastThatFits(probes)))
	}
	if logs := n.LogText(); logs != "" {
		blocks = append(blocks, codeSection("Last output", lastThatFits(logs)))
	}
	blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, footer, false, false)))
	return blocks
}

func title(n notify.Notification) string {
	ev := n.Event
	name := ev.Name
	if name == "" {
		name = ev.ShortID()
	}
	if name == "" {
		return ev.Type + " " + ev.Action
	}
	return name
}

func icon(n notify.Notification) string {
	if n.Incident != nil {
		switch n.Incident.Status {
		case notify.Resolved:
			return "✅"
		case notify.Looping:
			return "🔁"
		}
	}
	switch n.Event.Action {
	case "die", "oom":
		return "🔴"
	case "health_status":
		return "🟠"
	default:
		return "🔵"
	}
}

func truncate(s string, max int) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	r := []rune(s)
	return string(r[:max-1]) + "…"
}

// mention is the mrkdwn that notifies an owner: a user or a user group.
func mention(id string) string {
	if strings.HasPrefix(id, "S") {
		return "<!subteam^" + id + ">"
	}
	return "<@" + id + ">"
}

// linkURL makes a link safe inside <url|text>: http(s) only, and none of
// the characters that would end the link early.
func linkURL(link string) string {
	if !strings.HasPrefix(link, "https://") && !strings.HasPrefix(link, "http://") {
		return ""
	}
	return strings.NewReplacer("|", "%7C", "<", "%3C", ">", "%3E", " ", "%20", "\n", "", "\r", "").Replace(link)
}

// maxCode is the escaped text a code section may hold: Slack's section
// limit less the title and the fences.
const maxCode = maxSection - 100

func codeSection(title, text string) *slack.SectionBlock {
	return slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType,
		"*"+title+"*\n```"+text+"```", false, false), nil, nil)
}

// lastThatFits is the escaped text, or its last lines that fit a code
// section with a pointer to the thread where the rest is.
func lastThatFits(text string) string {
	escaped := slackutilsx.EscapeMessage(text)
	if len(escaped) <= maxCode {
		return escaped
	}
	lines := strings.Split(text, "\n")
	kept, size := []string{}, 0
	for i := len(lines) - 1; i >= 0; i-- {
		line := slackutilsx.EscapeMessage(lines[i])
		if size+len(line)+1 > maxCode-60 {
			break
		}
		kept = append([]string{line}, kept...)
		size += len(line) + 1
	}
	return "(earlier lines in the thread)\n" + strings.Join(kept, "\n")
}

// fullLogs are the blocks of a thread reply with all the output, when the
// card could show only its end.
func fullLogs(n notify.Notification) ([]slack.Block, bool) {
	text := n.LogText()
	if len(slackutilsx.EscapeMessage(text)) <= maxCode {
		return nil, false
	}
	var blocks []slack.Block
	var chunk []string
	size := 0
	for _, line := range strings.Split(text, "\n") {
		line = slackutilsx.EscapeMessage(line)
		if size+len(line)+1 > maxCode && len(chunk) > 0 {
			blocks = append(blocks, codeSection("Output", strings.Join(chunk, "\n")))
			chunk, size = nil, 0
		}
		chunk = append(chunk, truncate(line, maxCode))
		size += len(line) + 1
	}
	return append(blocks, codeSection("Output", strings.Join(chunk, "\n"))), true
}

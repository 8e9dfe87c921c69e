package actions

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slackutilsx"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/grants"
	"github.com/whalewatch/whalewatch/internal/redact"
)

// actionIDPrefix marks whalewatch's buttons; the rest is the verb.
const actionIDPrefix = "whalewatch_"

// Store is the state file as actions use it, so that a restart neither
// forgets a pending button nor reopens a replay window.
type Store interface {
	// PutButton keeps what a button stands for; TakeButton uses it up
	// (ok is false when unknown, used or expired).
	PutButton(token string, data []byte, expires time.Time) error
	TakeButton(token string, now time.Time) (data []byte, ok bool, err error)
	// FirstUse records key until expires; false means it was already
	// recorded: a replayed request.
	FirstUse(key string, expires, now time.Time) (bool, error)
	// AckThread records who acknowledged the alert message at channel/ts,
	// so that later edits of the message keep saying so.
	AckThread(channel, ts, user string, at time.Time) error
}

// MuteFor is how long the Mute button silences a container.
const MuteFor = time.Hour

// AckActionID is the action_id of the Acknowledge button.
const AckActionID = actionIDPrefix + string(grants.Ack)

// Buttons makes the buttons a card offers as it is posted (the Slack bot
// asks, notify/slack.Buttons): what the container allows in o's situation,
// each kept under a single-use token. acked leaves out Acknowledge. Who
// may click is checked on click.
func (s *Service) Buttons(o event.Offer, acked bool) []slack.BlockElement {
	t := grants.Target{ID: o.ContainerID, Name: o.Name, Labels: o.Labels, Host: o.Host}
	var offer []slack.BlockElement
	add := func(v grants.Verb, label, confirm string, danger bool) {
		token, err := s.putButton(pendingAction{Verb: v, Host: t.Host, ContainerID: t.ID, Name: t.Name, Expires: time.Now().Add(s.ButtonTTL)})
		if err != nil {
			s.Log.Error("cannot keep a button; the alert goes without it", "container", t.Name, "verb", v, "err", err)
			return
		}
		offer = append(offer, button(actionIDPrefix+string(v), label, token, confirm, danger))
	}
	verbs := s.Policy.ContainerVerbs(t)
	allowed := func(v grants.Verb) bool { return slices.Contains(verbs, v) }
	switch {
	case o.Situation == event.SituationDied && allowed(grants.Start):
		add(grants.Start, "Start again", "", false)
	case o.Situation == event.SituationUnhealthy && allowed(grants.Restart):
		add(grants.Restart, "Restart", "Restart "+t.Name+"?", false)
	case o.Situation == event.SituationCrashLoop:
		if allowed(grants.Stop) {
			add(grants.Stop, "Stop", "Stop "+t.Name+"? It will stay stopped until started again.", true)
		}
		if allowed(grants.Restart) {
			add(grants.Restart, "Restart", "Restart "+t.Name+"?", false)
		}
	}
	// Muting and acknowledging touch no container: every alert about one
	// offers them.
	if t.Name != "" && s.Mutes != nil {
		add(grants.Mute, "Mute 1h", "", false)
	}
	if !acked {
		add(grants.Ack, "Acknowledge", "", false)
	}
	return offer
}

// button lays out one button; confirm asks a question first ("" none).
func button(id, label, token, confirm string, danger bool) *slack.ButtonBlockElement {
	b := slack.NewButtonBlockElement(id, token, slack.NewTextBlockObject(slack.PlainTextType, label, false, false))
	if danger {
		b = b.WithStyle(slack.StyleDanger)
	} else {
		b = b.WithStyle(slack.StylePrimary)
	}
	if confirm != "" {
		b = b.WithConfirm(slack.NewConfirmationBlockObject(
			slack.NewTextBlockObject(slack.PlainTextType, "Are you sure?", false, false),
			slack.NewTextBlockObject(slack.PlainTextType, cut(confirm, 300), false, false),
			slack.NewTextBlockObject(slack.PlainTextType, label, false, false),
			slack.NewTextBlockObject(slack.PlainTextType, "Cancel", false, false)))
	}
	return b
}

// cut keeps s within Slack's limit of n characters.
func cut(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

var errButtonUsed = errors.New("this button was already used or has expired")

// Interaction answers a verified interaction payload (a button click).
// The acknowledgement is empty; the work runs in the background.
func (s *Service) Interaction(cb slack.InteractionCallback) {
	if cb.Type != slack.InteractionTypeBlockActions || len(cb.ActionCallback.BlockActions) == 0 {
		return
	}
	a := cb.ActionCallback.BlockActions[0]
	if !strings.HasPrefix(a.ActionID, actionIDPrefix) {
		return
	}
	caller := s.caller(cb.Team.ID, cb.User.ID, cb.User.Name, cb.Channel.ID)
	if !s.enqueue(func(ctx context.Context) { s.click(ctx, caller, a.Value, cb) }) {
		// Answering now would delay the acknowledgement; the button stays.
		s.audit(caller, grants.Verb(strings.TrimPrefix(a.ActionID, actionIDPrefix)), grants.Target{}, "denied", errBusy)
	}
}

func (s *Service) click(ctx context.Context, caller grants.Caller, token string, cb slack.InteractionCallback) {
	p, ok := s.takeButton(token)
	if !ok {
		s.audit(caller, grants.Verb(strings.TrimPrefix(cb.ActionCallback.BlockActions[0].ActionID, actionIDPrefix)), grants.Target{}, "denied", errButtonUsed)
		s.reply(ctx, cb.ResponseURL, "⛔ This button was already used or has expired.", false)
		return
	}
	if p.Verb == grants.Mute || p.Verb == grants.Ack {
		s.clickAboutAlert(ctx, caller, token, p, cb)
		return
	}
	t, err := s.targetByID(ctx, p.Host, p.ContainerID)
	if err == nil {
		err = s.Policy.Authorize(caller, p.Verb, t)
	}
	if err == nil && !s.allowRate(caller.UserID) {
		err = errRate
	}
	if err != nil {
		if err := s.putBackButton(token, p); err != nil { // someone allowed may still use it
			s.Log.Error("cannot keep a button for another click", "err", err)
		}
		if t.Name == "" {
			t.Name = p.Name
		}
		s.audit(caller, p.Verb, t, "denied", err)
		s.reply(ctx, cb.ResponseURL, "⛔ "+err.Error(), false)
		return
	}
	err = s.do(ctx, p.Verb, t)
	s.audit(caller, p.Verb, t, outcome(err), err)
	note := fmt.Sprintf("✅ <@%s> %s %s at %s", caller.UserID, pastTense(p.Verb), code(t.Name), time.Now().UTC().Format("15:04 UTC"))
	if err != nil {
		note = fmt.Sprintf("❌ <@%s> tried to %s %s: %s", caller.UserID, p.Verb, code(t.Name), slackutilsx.EscapeMessage(err.Error()))
	}
	s.markDone(ctx, cb, note)
}

// clickAboutAlert mutes the alert's container for MuteFor, or records who
// acknowledged the alert; neither touches the container.
func (s *Service) clickAboutAlert(ctx context.Context, caller grants.Caller, token string, p pendingAction, cb slack.InteractionCallback) {
	rights := grants.Logs
	if p.Verb == grants.Mute {
		rights = grants.Stop
	}
	t := grants.Target{ID: p.ContainerID, Name: p.Name, Host: p.Host}
	err := s.Policy.AllowCaller(caller, rights)
	if err == nil && !s.allowRate(caller.UserID) {
		err = errRate
	}
	if err != nil {
		if err := s.putBackButton(token, p); err != nil {
			s.Log.Error("cannot keep a button for another click", "err", err)
		}
		s.audit(caller, p.Verb, t, "denied", err)
		s.reply(ctx, cb.ResponseURL, "⛔ "+err.Error(), false)
		return
	}
	now := time.Now().UTC()
	var note string
	switch p.Verb {
	case grants.Mute:
		err = s.Mutes.SetMute(p.Name, now.Add(MuteFor))
		note = fmt.Sprintf("🔇 <@%s> muted %s until %s", caller.UserID, code(p.Name), now.Add(MuteFor).Format("15:04 UTC"))
	case grants.Ack:
		err = s.Store.AckThread(cb.Channel.ID, cb.Message.Timestamp, caller.UserID, now)
		note = fmt.Sprintf("👀 Acknowledged by <@%s> at %s", caller.UserID, now.Format("15:04 UTC"))
		if err == nil && s.Acknowledged != nil {
			s.Acknowledged(cb.Channel.ID, cb.Message.Timestamp, caller.UserID, now)
		}
	}
	s.audit(caller, p.Verb, t, outcome(err), err)
	if err != nil {
		s.reply(ctx, cb.ResponseURL, "❌ "+slackutilsx.EscapeMessage(err.Error()), false)
		return
	}
	s.updateAlert(ctx, cb, note, actionIDPrefix+string(p.Verb))
}

// markDone updates the alert: the buttons go, a line says who did what.
func (s *Service) markDone(ctx context.Context, cb slack.InteractionCallback, note string) {
	s.updateAlert(ctx, cb, note, "")
}

// updateAlert edits the alert: a line says who did what, and the clicked
// button goes ("" removes them all).
func (s *Service) updateAlert(ctx context.Context, cb slack.InteractionCallback, note, clicked string) {
	var blocks []slack.Block
	for _, b := range cb.Message.Blocks.BlockSet {
		ab, isActions := b.(*slack.ActionBlock)
		if !isActions {
			blocks = append(blocks, b)
			continue
		}
		if clicked == "" {
			continue
		}
		var kept []slack.BlockElement
		for _, e := range ab.Elements.ElementSet {
			if button, ok := e.(*slack.ButtonBlockElement); !ok || button.ActionID != clicked {
				kept = append(kept, e)
			}
		}
		if len(kept) > 0 {
			blocks = append(blocks, slack.NewActionBlock(ab.BlockID, kept...))
		}
	}
	blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, note, false, false)))
	if s.Slack != nil {
		_, _, _, err := s.Slack.UpdateMessageContext(ctx, cb.Channel.ID, cb.Message.Timestamp,
			slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(cb.Message.Text, false))
		if err == nil {
			return
		}
		s.Log.Warn("chat.update failed; replacing through response_url", "err", redact.URL(err))
	}
	err := slack.PostWebhookCustomHTTPContext(ctx, cb.ResponseURL, s.HTTP, &slack.WebhookMessage{
		ReplaceOriginal: true, Text: cb.Message.Text, Blocks: &slack.Blocks{BlockSet: blocks}})
	if err != nil {
		// The response_url is a secret: only its host is logged.
		s.Log.Warn("could not update the alert", "response_host", urlHost(cb.ResponseURL), "err", redact.URL(err))
	}
}

// pendingAction is what a button's token stands for.
type pendingAction struct {
	Verb        grants.Verb `json:"verb"`
	Host        string      `json:"host"` // the host of the alert: the button acts there
	ContainerID string      `json:"container_id"`
	Name        string      `json:"name"`
	Expires     time.Time   `json:"expires"`
}

// putButton keeps a under a new random token.
func (s *Service) putButton(a pendingAction) (string, error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	return token, s.putBackButton(token, a)
}

func (s *Service) putBackButton(token string, a pendingAction) error {
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	return s.Store.PutButton(token, data, a.Expires)
}

// takeButton uses a token up; ok is false when it is unknown, used or expired.
func (s *Service) takeButton(token string) (pendingAction, bool) {
	data, ok, err := s.Store.TakeButton(token, time.Now())
	if err != nil {
		s.Log.Error("cannot read a button", "err", err)
		return pendingAction{}, false
	}
	var a pendingAction
	if !ok || json.Unmarshal(data, &a) != nil {
		return pendingAction{}, false
	}
	return a, true
}

// urlHost is the host of a URL whose path and query are secret.
func urlHost(raw string) string {
	if u, err := url.Parse(raw); err == nil {
		return u.Host
	}
	return ""
}

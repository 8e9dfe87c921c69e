package actions

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/whalewatch/whalewatch/notify"
)

// actionIDPrefix marks whalewatch's buttons; the rest is the verb.
const actionIDPrefix = "whalewatch_"

// Situations an alert may offer buttons for.
const (
	SituationDied      = "died"
	SituationUnhealthy = "unhealthy"
	SituationCrashLoop = "crashloop"
)

// Offer returns the buttons an alert about t may carry: what the
// container allows, for the situation. Who may click is checked on click.
func (s *Service) Offer(t Target, situation string) []notify.Action {
	verbs := s.Policy.ContainerVerbs(t)
	var offer []notify.Action
	add := func(v Verb, label, confirm string, danger bool) {
		for _, allowed := range verbs {
			if allowed == v {
				token := s.pending.put(pendingAction{verb: v, containerID: t.ID, name: t.Name, expires: time.Now().Add(s.ButtonTTL)})
				offer = append(offer, notify.Action{ID: actionIDPrefix + string(v), Label: label, Value: token, Confirm: confirm, Danger: danger})
			}
		}
	}
	switch situation {
	case SituationDied:
		add(Start, "Start again", "", false)
	case SituationUnhealthy:
		add(Restart, "Restart", "Restart "+t.Name+"?", false)
	case SituationCrashLoop:
		add(Stop, "Stop", "Stop "+t.Name+"? It will stay stopped until started again.", true)
		add(Restart, "Restart", "Restart "+t.Name+"?", false)
	}
	return offer
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
	caller := Caller{TeamID: cb.Team.ID, UserID: cb.User.ID, UserName: cb.User.Name, ChannelID: cb.Channel.ID}
	if !s.enqueue(func(ctx context.Context) { s.click(ctx, caller, a.Value, cb) }) {
		s.reply(context.Background(), cb.ResponseURL, ackBusy, false)
	}
}

func (s *Service) click(ctx context.Context, caller Caller, token string, cb slack.InteractionCallback) {
	p, ok := s.pending.take(token, time.Now())
	if !ok {
		s.audit(ctx, caller, Verb(strings.TrimPrefix(cb.ActionCallback.BlockActions[0].ActionID, actionIDPrefix)), Target{}, "denied", errButtonUsed)
		s.reply(ctx, cb.ResponseURL, "⛔ This button was already used or has expired.", false)
		return
	}
	t, err := s.targetByID(ctx, p.containerID)
	if err == nil {
		err = s.Policy.Authorize(caller, p.verb, t)
	}
	if err == nil && !s.allowRate(caller.UserID) {
		err = errRate
	}
	if err != nil {
		s.pending.putBack(token, p) // someone allowed may still use it
		if t.Name == "" {
			t.Name = p.name
		}
		s.audit(ctx, caller, p.verb, t, "denied", err)
		s.reply(ctx, cb.ResponseURL, "⛔ "+err.Error(), false)
		return
	}
	err = s.do(ctx, p.verb, t)
	s.audit(ctx, caller, p.verb, t, outcome(err), err)
	note := fmt.Sprintf("✅ <@%s> %s %s at %s", caller.UserID, pastTense(p.verb), code(t.Name), time.Now().UTC().Format("15:04 UTC"))
	if err != nil {
		note = fmt.Sprintf("❌ <@%s> tried to %s %s: %s", caller.UserID, p.verb, code(t.Name), escape(err.Error()))
	}
	s.markDone(ctx, cb, note)
}

// markDone updates the alert: the buttons go, a line says who did what.
func (s *Service) markDone(ctx context.Context, cb slack.InteractionCallback, note string) {
	var blocks []slack.Block
	for _, b := range cb.Message.Blocks.BlockSet {
		if _, isActions := b.(*slack.ActionBlock); !isActions {
			blocks = append(blocks, b)
		}
	}
	blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, note, false, false)))
	if s.Slack != nil {
		_, _, _, err := s.Slack.UpdateMessageContext(ctx, cb.Channel.ID, cb.Message.Timestamp,
			slack.MsgOptionBlocks(blocks...), slack.MsgOptionText(cb.Message.Text, false))
		if err == nil {
			return
		}
		s.Log.Warn("chat.update failed; replacing through response_url", "err", err)
	}
	err := slack.PostWebhookCustomHTTPContext(ctx, cb.ResponseURL, s.HTTP, &slack.WebhookMessage{
		ReplaceOriginal: true, Text: cb.Message.Text, Blocks: &slack.Blocks{BlockSet: blocks}})
	if err != nil {
		s.Log.Warn("could not update the alert", "err", err)
	}
}

// pendingAction is what a button's token stands for.
type pendingAction struct {
	verb        Verb
	containerID string
	name        string
	expires     time.Time
}

// pendingStore keeps button tokens: random, single-use, expiring.
type pendingStore struct {
	mu  sync.Mutex
	m   map[string]pendingAction
	max int
}

func newPendingStore(max int) *pendingStore {
	return &pendingStore{m: map[string]pendingAction{}, max: max}
}

func (p *pendingStore) put(a pendingAction) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	token := hex.EncodeToString(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.m) >= p.max {
		p.prune(time.Now())
	}
	if len(p.m) < p.max {
		p.m[token] = a
	}
	return token // when full, the button says "expired" when clicked
}

func (p *pendingStore) take(token string, now time.Time) (pendingAction, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.m[token]
	delete(p.m, token)
	if !ok || now.After(a.expires) {
		return pendingAction{}, false
	}
	return a, true
}

func (p *pendingStore) putBack(token string, a pendingAction) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.m[token] = a
}

func (p *pendingStore) prune(now time.Time) {
	for k, a := range p.m {
		if now.After(a.expires) {
			delete(p.m, k)
		}
	}
}

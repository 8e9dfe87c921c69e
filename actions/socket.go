package actions

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/whalewatch/whalewatch/internal/seen"
)

// RunSocketMode receives slash commands and button clicks over Slack's
// Socket Mode (no public URL needed) until ctx ends. Every envelope is
// acknowledged at once; re-delivered envelopes are dropped.
func (s *Service) RunSocketMode(ctx context.Context, api *slack.Client) error {
	client := socketmode.New(api)
	envelopes := seen.New(10000, time.Hour)
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt, ok := <-client.Events:
				if !ok {
					return
				}
				s.socketEvent(client, envelopes, evt)
			}
		}
	})
	err := client.RunContext(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

func (s *Service) socketEvent(client *socketmode.Client, envelopes *seen.Set, evt socketmode.Event) {
	switch evt.Type {
	case socketmode.EventTypeSlashCommand, socketmode.EventTypeInteractive:
	case socketmode.EventTypeConnectionError, socketmode.EventTypeInvalidAuth:
		s.Log.Error("slack socket mode", "event", string(evt.Type))
		return
	default:
		return
	}
	if evt.Request == nil {
		return
	}
	if !envelopes.Add(evt.Request.EnvelopeID, time.Now()) {
		_ = client.Ack(*evt.Request) // acknowledge again, act once
		s.Log.Info("dropped a re-delivered Socket Mode envelope", "envelope", evt.Request.EnvelopeID, "retry_attempt", evt.Request.RetryAttempt)
		return
	}
	switch data := evt.Data.(type) {
	case slack.SlashCommand:
		ack := s.SlashCommand(data)
		if err := client.Ack(*evt.Request, map[string]any{"response_type": slack.ResponseTypeEphemeral, "text": ack}); err != nil {
			s.Log.Warn("socket mode ack failed", "err", err)
		}
	case slack.InteractionCallback:
		if err := client.Ack(*evt.Request); err != nil {
			s.Log.Warn("socket mode ack failed", "err", err)
		}
		s.Interaction(data)
	}
}

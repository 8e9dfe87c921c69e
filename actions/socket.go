package actions

import (
	"context"
	"sync"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"
)

// RunSocketMode receives slash commands and button clicks over Slack's
// Socket Mode (no public URL needed) until ctx ends. Every envelope is
// acknowledged at once; re-delivered envelopes are dropped.
func (s *Service) RunSocketMode(ctx context.Context, api *slack.Client) error {
	client := socketmode.New(api)
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
				s.socketEvent(client, evt)
			}
		}
	})
	err := client.RunContext(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

// envelopeWindow: how long an envelope id is remembered; Slack re-delivers
// an unacknowledged envelope within seconds.
const envelopeWindow = time.Hour

func (s *Service) socketEvent(client *socketmode.Client, evt socketmode.Event) {
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
	now := time.Now()
	first, err := s.Store.FirstUse("socket-envelope:"+evt.Request.EnvelopeID, now.Add(envelopeWindow), now)
	if err != nil {
		s.Log.Error("cannot check a Socket Mode envelope for replay; dropping it", "err", err)
		_ = client.Ack(*evt.Request)
		return
	}
	if !first {
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

package actions

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/slack-go/slack"
)

// maxBody bounds a Slack request; real ones are a few KB.
const maxBody = 64 << 10

// HTTPHandler serves /slack/commands and /slack/interactions. Every
// request is verified (signature, 5-minute window, no replay) before it is
// parsed.
type HTTPHandler struct {
	service *Service
	secret  string
}

// NewHTTPHandler returns the handler for the signing secret.
func NewHTTPHandler(s *Service, signingSecret string) *HTTPHandler {
	return &HTTPHandler{service: s, secret: signingSecret}
}

// replayWindow: Slack's signatures are good for five minutes either way
// of the request's timestamp; a seen one is remembered that long and more.
const replayWindow = 11 * time.Minute

// Register adds the endpoints to mux.
func (h *HTTPHandler) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST /slack/commands", h.commands)
	mux.HandleFunc("POST /slack/interactions", h.interactions)
}

func (h *HTTPHandler) commands(w http.ResponseWriter, r *http.Request) {
	if !h.verify(w, r) {
		return
	}
	if r.PostForm.Get("ssl_check") != "" {
		return // Slack checking the certificate
	}
	cmd, err := slack.SlashCommandParse(r)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(slack.Msg{ResponseType: slack.ResponseTypeEphemeral, Text: h.service.SlashCommand(cmd)})
}

func (h *HTTPHandler) interactions(w http.ResponseWriter, r *http.Request) {
	if !h.verify(w, r) {
		return
	}
	cb, err := slack.InteractionCallbackParse(r)
	if err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return
	}
	h.service.Interaction(cb)
	w.WriteHeader(http.StatusOK)
}

// verify reads the body within the size limit, checks the content type,
// the signature and that the signature is new. On failure it has answered
// and nothing else is done; on success r's body and form are ready.
func (h *HTTPHandler) verify(w http.ResponseWriter, r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/x-www-form-urlencoded" {
		http.Error(w, "unsupported media type", http.StatusUnsupportedMediaType)
		return false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, "request too large", http.StatusRequestEntityTooLarge)
		} else {
			http.Error(w, "bad request", http.StatusBadRequest)
		}
		return false
	}
	sv, err := slack.NewSecretsVerifier(r.Header, h.secret)
	if err == nil {
		_, _ = sv.Write(body)
		err = sv.Ensure()
	}
	if err == nil {
		err = h.firstUse(r.Header.Get("X-Slack-Signature"))
	}
	if err != nil {
		h.service.Log.Warn("rejected a Slack request", "path", r.URL.Path, "reason", err.Error())
		h.service.Metrics.ActionRequests.WithLabelValues("", "unverified").Inc()
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	if err := r.ParseForm(); err != nil {
		http.Error(w, "bad request", http.StatusBadRequest)
		return false
	}
	r.Body = io.NopCloser(bytes.NewReader(body)) // the slack-go parsers read it again
	return true
}

// firstUse refuses a signature already used. It is compared as the MAC it
// encodes, not as text: hex is read in any letter case, so "V0=AB…" and
// "v0=ab…" are the same request.
func (h *HTTPHandler) firstUse(signature string) error {
	mac, err := hex.DecodeString(strings.TrimPrefix(signature, "v0="))
	if err != nil {
		return fmt.Errorf("signature: %w", err)
	}
	now := time.Now()
	first, err := h.service.Store.FirstUse("slack-signature:"+hex.EncodeToString(mac), now.Add(replayWindow), now)
	switch {
	case err != nil:
		return fmt.Errorf("replay check: %w", err)
	case !first:
		return errors.New("replayed signature")
	}
	return nil
}

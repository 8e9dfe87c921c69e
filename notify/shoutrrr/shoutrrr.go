// Package shoutrrr delivers notifications as plain text through the
// shoutrrr library: ntfy, Discord, Teams, Telegram, Gotify, Pushover,
// Mattermost, Matrix, email and its generic targets. The library only
// sends; retries, pacing and the durable queue are the Dispatcher's.
package shoutrrr

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/nicholas-fedor/shoutrrr/pkg/types"

	"github.com/whalewatch/whalewatch/notify"
)

// Notifier sends through one shoutrrr service URL.
type Notifier struct {
	url     string
	scheme  string
	secrets []string // parts of the URL kept out of errors
	timeout time.Duration
}

// New checks a shoutrrr URL (a secret: it carries tokens) and returns its
// notifier; sends that take longer than timeout fail and are retried.
func New(rawURL string, timeout time.Duration) (*Notifier, error) {
	n := &Notifier{url: rawURL, timeout: timeout, secrets: urlSecrets(rawURL)}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme == "" {
		return nil, errors.New("not a URL like ntfy://host/topic or smtp://user:pass@host:587/?to=…")
	}
	n.scheme = u.Scheme
	if _, err := n.service(); err != nil {
		return nil, err
	}
	return n, nil
}

// service makes the library's service for the URL: a fresh one per send,
// since a send abandoned at its timeout may still be using the last one.
func (n *Notifier) service() (types.Service, error) {
	var r router.ServiceRouter
	service, err := r.Locate(n.url)
	if err != nil {
		return nil, fmt.Errorf("shoutrrr service %q: %s", n.scheme, n.hide(err))
	}
	return service, nil
}

// Check tells whether a shoutrrr URL is usable, without keeping it.
func Check(rawURL string) error {
	_, err := New(rawURL, time.Second)
	return err
}

// Notify sends the plain-text card. The service runs beside: a send that
// outlives the timeout or ctx is abandoned, and retried by the Dispatcher.
func (n *Notifier) Notify(ctx context.Context, msg notify.Notification) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, n.timeout)
	defer cancel()
	service, err := n.service()
	if err != nil {
		return false, err
	}
	params := types.Params{"title": msg.Rule + ": " + title(msg)}
	done := make(chan error, 1)
	go func() { done <- service.Send(msg.PlainText(), &params) }()
	select {
	case err := <-done:
		if err != nil {
			return true, fmt.Errorf("%s: %s", n.scheme, n.hide(err))
		}
		return false, nil
	case <-ctx.Done():
		return true, fmt.Errorf("%s: no answer within %s", n.scheme, n.timeout)
	}
}

func title(n notify.Notification) string {
	if n.Incident != nil && n.Incident.Status == notify.Resolved {
		return "resolved " + notify.NameOrID(n.Event)
	}
	return notify.NameOrID(n.Event)
}

// hide keeps the URL's secrets (user info, path, query) out of an error.
func (n *Notifier) hide(err error) string {
	s := err.Error()
	for _, secret := range n.secrets {
		s = strings.ReplaceAll(s, secret, "…")
	}
	return s
}

// urlSecrets are the parts of a service URL that may hold credentials,
// longest first so that a whole URL goes before its pieces.
func urlSecrets(raw string) []string {
	secrets := []string{raw}
	if u, err := url.Parse(raw); err == nil {
		parts := append([]string{u.User.String(), u.User.Username(), u.RawQuery, u.Path, u.EscapedPath()}, strings.Split(u.Path, "/")...)
		for _, s := range parts {
			if len(s) > 3 {
				secrets = append(secrets, s)
			}
		}
		if p, ok := u.User.Password(); ok && p != "" {
			secrets = append(secrets, p, url.QueryEscape(p))
		}
	}
	return secrets
}

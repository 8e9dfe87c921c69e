package config

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"

	"github.com/whalewatch/whalewatch/notify/kinds"
)

// Webhook is the built-in webhook destination (WEBHOOK_URL).
type Webhook struct {
	URL        string `env:"WEBHOOK_URL"`
	URLFile    string `env:"WEBHOOK_URL_FILE,file"`
	Secret     string `env:"WEBHOOK_SECRET"`
	SecretFile string `env:"WEBHOOK_SECRET_FILE,file"`
	// Headers is parsed from WEBHOOK_HEADERS (or _FILE) by Load: its
	// values (an Authorization header) are secrets.
	Headers     map[string]string `env:"-"`
	HeadersRaw  string            `env:"WEBHOOK_HEADERS"`
	HeadersFile string            `env:"WEBHOOK_HEADERS_FILE,file"`
	Template    string            `env:"WEBHOOK_TEMPLATE"`
	// Concurrency: posts in flight at once (0: the kind's default).
	Concurrency int `env:"WEBHOOK_CONCURRENCY"`
}

// builtinWebhook adds the WEBHOOK_URL destination.
func (c *Config) builtinWebhook() []error {
	var errs []error
	var err error
	w := &c.Webhook
	if w.Headers, err = parseHeaders("WEBHOOK_HEADERS", w.HeadersRaw); err != nil {
		errs = append(errs, err)
	}
	if w.URL == "" {
		if w.Secret != "" || w.HeadersRaw != "" || w.Template != "" {
			errs = append(errs, errors.New("WEBHOOK_SECRET, WEBHOOK_HEADERS or WEBHOOK_TEMPLATE set without WEBHOOK_URL"))
		}
		return errs
	}
	if w.Concurrency < 0 || w.Concurrency > maxConcurrency {
		errs = append(errs, fmt.Errorf("WEBHOOK_CONCURRENCY: %d is not between 1 and %d", w.Concurrency, maxConcurrency))
	}
	return append(errs, c.addDestination("WEBHOOK_", kinds.Destination{Name: kinds.Webhook, Kind: kinds.Webhook, URL: w.URL,
		Secret: w.Secret, Headers: w.Headers, Template: w.Template, Concurrency: w.Concurrency})...)
}

// headerNameRE is an HTTP header name (RFC 9110 token).
var headerNameRE = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")

// parseHeaders reads name=value pairs separated by commas or newlines.
// Its errors name the variable and the header, never a value: the value
// of an Authorization header is a secret, and a malformed item may be
// one whole ("Authorization: Bearer …").
func parseHeaders(variable, raw string) (map[string]string, error) {
	if strings.TrimSpace(raw) == "" {
		return nil, nil
	}
	headers := map[string]string{}
	n := 0
	for item := range strings.FieldsFuncSeq(raw, func(r rune) bool { return r == ',' || r == '\n' }) {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		n++
		name, value, ok := strings.Cut(item, "=")
		name, value = strings.TrimSpace(name), strings.TrimSpace(value)
		if !ok || !headerNameRE.MatchString(name) {
			// Only the header name at its start is shown, when something
			// (": ", " ") parts it from the rest: a lone word may be the value.
			if i := strings.IndexAny(item, ": ="); i > 0 && headerNameRE.MatchString(item[:i]) {
				lead := item[:i]
				return nil, fmt.Errorf("%s: header %q is not name=value (the value is not shown)", variable, lead)
			}
			return nil, fmt.Errorf("%s: item %d is not name=value (it is not shown)", variable, n)
		}
		if strings.ContainsFunc(value, unicode.IsControl) {
			return nil, fmt.Errorf("%s: header %q: its value holds a control character", variable, name)
		}
		headers[name] = value
	}
	return headers, nil
}

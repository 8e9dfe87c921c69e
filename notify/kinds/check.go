package kinds

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"unicode"

	"github.com/whalewatch/whalewatch/notify/opsgenie"
	"github.com/whalewatch/whalewatch/notify/pagerduty"
	"github.com/whalewatch/whalewatch/notify/shoutrrr"
	"github.com/whalewatch/whalewatch/notify/webhook"
)

// CheckURL tells whether raw is an http(s) URL without echoing it: URLs
// of webhooks are secrets.
func CheckURL(variable, raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s: not an http(s) URL", variable)
	}
	return nil
}

// need says a setting the kind requires is missing.
func need(prefix, variable, value string, d *Destination) []error {
	if value == "" {
		return []error{fmt.Errorf("%s%s: required for a %s destination", prefix, variable, d.Kind)}
	}
	return nil
}

// checkPostURL: a required http(s) URL.
func checkPostURL(prefix string, d *Destination) []error {
	if d.URL == "" {
		return need(prefix, "URL", d.URL, d)
	}
	if err := CheckURL(prefix+"URL", d.URL); err != nil {
		return []error{err}
	}
	return nil
}

// checkWebhook checks the URL, and the secret and template with the
// parsers the webhook notifier uses.
func checkWebhook(prefix string, d *Destination) []error {
	errs := checkPostURL(prefix, d)
	if d.Secret != "" {
		if err := webhook.CheckSecret(d.Secret); err != nil {
			errs = append(errs, fmt.Errorf("%sSECRET: %w", prefix, err))
		}
	}
	if d.Template != "" {
		if err := webhook.CheckTemplate(d.Template); err != nil {
			errs = append(errs, fmt.Errorf("%sTEMPLATE: %w", prefix, err))
		}
	}
	return errs
}

// checkStdout: stdout has no settings.
func checkStdout(string, *Destination) []error { return nil }

func checkSlackWebhook(prefix string, d *Destination) []error { return checkPostURL(prefix, d) }

func checkSlack(prefix string, d *Destination) []error {
	return append(need(prefix, "TOKEN", d.Token, d), need(prefix, "CHANNEL", d.Channel, d)...)
}

func checkShoutrrr(prefix string, d *Destination) []error {
	if d.URL == "" {
		return need(prefix, "URL", d.URL, d)
	}
	if err := shoutrrr.Check(d.URL); err != nil {
		return []error{fmt.Errorf("%sURL: %w", prefix, err)}
	}
	return nil
}

// checkAlertmanager splits URL into the cluster's members.
func checkAlertmanager(prefix string, d *Destination) []error {
	errs := need(prefix, "URL", d.URL, d)
	for i, u := range strings.Split(d.URL, ",") {
		u = strings.TrimSpace(u)
		if err := CheckURL(fmt.Sprintf("%sURL (member %d)", prefix, i+1), u); err != nil {
			errs = append(errs, err)
			continue
		}
		d.URLs = append(d.URLs, u)
	}
	if d.Resend <= 0 {
		errs = append(errs, fmt.Errorf("%sRESEND: must be more than 0 (Alertmanager resolves an alert that is not sent again within its resolve_timeout)", prefix))
	}
	return errs
}

// routingKeyRE is a PagerDuty integration (routing) key.
var routingKeyRE = regexp.MustCompile(`^[A-Za-z0-9]{32}$`)

func checkPagerDuty(prefix string, d *Destination) []error {
	errs := need(prefix, "ROUTING_KEY", d.RoutingKey, d)
	if d.RoutingKey != "" && !routingKeyRE.MatchString(d.RoutingKey) {
		errs = append(errs, fmt.Errorf("%sROUTING_KEY: not an Events API v2 integration key (32 letters and digits; the value is not shown)", prefix))
	}
	return append(errs, defaultURL(prefix, d, pagerduty.DefaultURL)...)
}

func checkOpsgenie(prefix string, d *Destination) []error {
	errs := need(prefix, "API_KEY", d.APIKey, d)
	if d.APIKey != "" && strings.ContainsFunc(d.APIKey, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) {
		errs = append(errs, fmt.Errorf("%sAPI_KEY: holds a space or control character (the value is not shown)", prefix))
	}
	return append(errs, defaultURL(prefix, d, opsgenie.DefaultURL)...)
}

// defaultURL fills in the service's own API when no URL is given.
func defaultURL(prefix string, d *Destination, def string) []error {
	if d.URL == "" {
		d.URL = def
		return nil
	}
	if err := CheckURL(prefix+"URL", d.URL); err != nil {
		return []error{err}
	}
	return nil
}

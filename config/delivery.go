package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/whalewatch/whalewatch/notify/kinds"
)

// Delivery is how notifications reach their destinations.
type Delivery struct {
	QueueSize int           `env:"NOTIFY_QUEUE_SIZE" envDefault:"50000"`
	RetryFor  time.Duration `env:"NOTIFY_RETRY_FOR" envDefault:"10m"`
	Timeout   time.Duration `env:"NOTIFY_TIMEOUT" envDefault:"10s"`
	// Destinations are filled by Load: the built-in ones, then every
	// DEST_<NAME>_*, else stdout.
	Destinations []kinds.Destination `env:"-"`
}

// maxConcurrency bounds DEST_<NAME>_CONCURRENCY and WEBHOOK_CONCURRENCY.
const maxConcurrency = 64

// destEnv is one DEST_<NAME>_* group.
type destEnv struct {
	Type       string `env:"TYPE"`
	URL        string `env:"URL"`
	URLFile    string `env:"URL_FILE,file"`
	Token      string `env:"TOKEN"`
	TokenFile  string `env:"TOKEN_FILE,file"`
	Channel    string `env:"CHANNEL"`
	Secret     string `env:"SECRET"`
	SecretFile string `env:"SECRET_FILE,file"`
	Headers    string `env:"HEADERS"`
	HeadersF   string `env:"HEADERS_FILE,file"`
	Template   string `env:"TEMPLATE"`
	// Concurrency, 0 for the kind's default.
	Concurrency int           `env:"CONCURRENCY"`
	Resend      time.Duration `env:"RESEND" envDefault:"1m"`
	RoutingKey  string        `env:"ROUTING_KEY"`
	RoutingKeyF string        `env:"ROUTING_KEY_FILE,file"`
	APIKey      string        `env:"API_KEY"`
	APIKeyF     string        `env:"API_KEY_FILE,file"`
}

var destKeyRE = regexp.MustCompile(`^DEST_(.+)_(TYPE|URL|URL_FILE|TOKEN|TOKEN_FILE|CHANNEL|SECRET|SECRET_FILE|HEADERS|HEADERS_FILE|TEMPLATE|CONCURRENCY|RESEND|ROUTING_KEY|ROUTING_KEY_FILE|API_KEY|API_KEY_FILE)$`)

// loadDestinations builds the built-in destinations and every DEST_<NAME>_*.
func (c *Config) loadDestinations(vars map[string]string) []error {
	errs := c.builtinWebhook()
	errs = append(errs, c.builtinSlack()...)
	names, nameErrs := groupNames(vars, destKeyRE, "DEST_", "destination setting (expected DEST_<NAME>_TYPE, _URL, _TOKEN, _CHANNEL, _SECRET, _HEADERS, _TEMPLATE, _CONCURRENCY, _RESEND, _ROUTING_KEY, _API_KEY or a _FILE variant)")
	errs = append(errs, nameErrs...)
	for _, name := range names {
		d, err := loadDestination(name, vars)
		errs = append(errs, err...)
		if d != nil {
			if slices.ContainsFunc(c.Delivery.Destinations, func(x kinds.Destination) bool { return x.Name == d.Name }) {
				errs = append(errs, fmt.Errorf("DEST_%s_TYPE: destination name %q is taken by a built-in destination", name, d.Name))
				continue
			}
			c.Delivery.Destinations = append(c.Delivery.Destinations, *d)
		}
	}
	if len(c.Delivery.Destinations) == 0 {
		c.Delivery.Destinations = []kinds.Destination{{Name: kinds.Stdout, Kind: kinds.Stdout}}
	}
	return errs
}

// addDestination adds a built-in destination, checked by its kind.
func (c *Config) addDestination(prefix string, d kinds.Destination) []error {
	k, _ := kinds.Lookup(d.Kind)
	errs := k.Check(prefix, &d)
	c.Delivery.Destinations = append(c.Delivery.Destinations, d)
	return errs
}

// loadDestination reads and checks one DEST_<NAME>_* group.
func loadDestination(name string, vars map[string]string) (*kinds.Destination, []error) {
	prefix := "DEST_" + name + "_"
	if !nameRE.MatchString(name) {
		return nil, []error{fmt.Errorf("%sTYPE: destination name %q: use capital letters, digits and _", prefix, name)}
	}
	var de destEnv
	if errs := parseEnv(&de, vars, prefix); len(errs) > 0 {
		return nil, errs
	}
	d, errs := de.destination(strings.ToLower(name), prefix, vars)
	k, ok := kinds.Lookup(d.Kind)
	switch {
	case ok:
		errs = append(errs, k.Check(prefix, d)...)
	case d.Kind == "":
		errs = append(errs, fmt.Errorf("%sTYPE: required (one of %s)", prefix, strings.Join(kinds.Names(), ", ")))
	default:
		errs = append(errs, fmt.Errorf("%sTYPE: %q is not one of %s", prefix, d.Kind, strings.Join(kinds.Names(), ", ")))
	}
	return d, append(errs, misplaced(prefix, d, vars)...)
}

// destination merges the group's secrets with their _FILE variants and
// parses its headers and concurrency.
func (de destEnv) destination(name, prefix string, vars map[string]string) (*kinds.Destination, []error) {
	var errs []error
	var err error
	d := &kinds.Destination{Name: name, Kind: de.Type, Channel: de.Channel, Template: de.Template, Concurrency: de.Concurrency, Resend: de.Resend}
	if raw, err := pickSecret(prefix+"HEADERS", de.Headers, de.HeadersF); err != nil {
		errs = append(errs, err)
	} else if d.Headers, err = parseHeaders(prefix+"HEADERS", raw); err != nil {
		errs = append(errs, err)
	}
	if _, set := vars[prefix+"CONCURRENCY"]; set && (de.Concurrency < 1 || de.Concurrency > maxConcurrency) {
		errs = append(errs, fmt.Errorf("%sCONCURRENCY: %d is not between 1 and %d", prefix, de.Concurrency, maxConcurrency))
	}
	for _, s := range []struct {
		variable    string
		dst         *string
		value, file string
	}{
		{"URL", &d.URL, de.URL, de.URLFile},
		{"TOKEN", &d.Token, de.Token, de.TokenFile},
		{"SECRET", &d.Secret, de.Secret, de.SecretFile},
		{"ROUTING_KEY", &d.RoutingKey, de.RoutingKey, de.RoutingKeyF},
		{"API_KEY", &d.APIKey, de.APIKey, de.APIKeyF},
	} {
		if *s.dst, err = pickSecret(prefix+s.variable, s.value, s.file); err != nil {
			errs = append(errs, err)
		}
	}
	return d, errs
}

// misplaced refuses the settings only one kind has on another.
func misplaced(prefix string, d *kinds.Destination, vars map[string]string) []error {
	var errs []error
	if d.Kind != kinds.PagerDuty && d.RoutingKey != "" {
		errs = append(errs, fmt.Errorf("%sROUTING_KEY: only a pagerduty destination has one", prefix))
	}
	if d.Kind != kinds.Opsgenie && d.APIKey != "" {
		errs = append(errs, fmt.Errorf("%sAPI_KEY: only an opsgenie destination has one", prefix))
	}
	if _, set := vars[prefix+"RESEND"]; set && d.Kind != kinds.Alertmanager {
		errs = append(errs, fmt.Errorf("%sRESEND: only an alertmanager destination re-sends", prefix))
	}
	return errs
}

// DestinationNames lists the destinations in order.
func (c *Config) DestinationNames() []string {
	names := make([]string, len(c.Delivery.Destinations))
	for i, d := range c.Delivery.Destinations {
		names[i] = d.Name
	}
	return names
}

package events

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// The SDK decodes each event with encoding/json's reflection (about 4 µs
// and 30 allocations, a third of the process's CPU under load). The
// daemon's stream is read here instead, one line at a time, and a line of
// the shape the daemon writes is decoded by hand; any other line (escapes,
// null, keys in another case, duplicates, invalid JSON) is left to
// encoding/json, so the result is always the SDK's (FuzzDecodeMatchesSDK).

// versioned is what a Docker client offers beyond the Docker interface for
// a request of our own: the negotiated API version.
type versioned interface {
	ClientVersion() string
}

// dockerEvents opens Docker's event stream with a request of our own when
// the client can dial the daemon, else (test fakes) through the SDK.
func (s *Source) dockerEvents(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	v, ok := s.docker.(versioned)
	if s.raw == nil || !ok {
		return s.docker.Events(ctx, opts)
	}
	q := url.Values{}
	if opts.Since != "" {
		q.Set("since", opts.Since)
	}
	if opts.Until != "" {
		q.Set("until", opts.Until)
	}
	prefix := ""
	if ver := v.ClientVersion(); ver != "" {
		prefix = "/v" + ver
	}
	return readEvents(ctx, s.raw, "http://docker"+prefix+"/events?"+q.Encode())
}

// rawClient is an HTTP client over the daemon's dialer. No Timeout: it
// would cut the long-lived stream.
func rawClient(dial func(context.Context) (net.Conn, error)) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) }}}
}

// readEvents reads a stream of events as the SDK's Events does: it returns
// once the daemon has answered (or failed to), and ends with an error
// (io.EOF when the daemon ended the stream).
func readEvents(ctx context.Context, hc *http.Client, u string) client.EventsResult {
	msgs, errs := make(chan events.Message), make(chan error, 1)
	res, err := openEvents(ctx, hc, u, "docker events")
	if err != nil {
		errs <- err
		close(errs)
		return client.EventsResult{Messages: msgs, Err: errs}
	}
	go func() {
		defer close(errs)
		defer res.Body.Close()
		errs <- decodeStream(ctx, res.Body, msgs)
	}()
	return client.EventsResult{Messages: msgs, Err: errs}
}

// openEvents asks for an event stream; what names it in errors.
func openEvents(ctx context.Context, hc *http.Client, u, what string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Add("Accept", "application/jsonl")
	req.Header.Add("Accept", "application/x-ndjson;q=0.9")
	res, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if res.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(res.Body, 512))
		res.Body.Close()
		return nil, fmt.Errorf("%s: %s: %s", what, res.Status, strings.TrimSpace(string(body)))
	}
	return res, nil
}

// decodeStream hands on each line of the stream as a message.
func decodeStream(ctx context.Context, r io.Reader, out chan<- events.Message) error {
	br := bufio.NewReaderSize(r, 16<<10)
	var long []byte // a line longer than the buffer
	for {
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long, line...)
			continue
		}
		if long != nil {
			line, long = append(long, line...), nil
		}
		if err != nil && (!errors.Is(err, io.EOF) || len(bytes.TrimSpace(line)) == 0) {
			return err
		}
		line = bytes.TrimLeft(line, "\x1e \t\r\n") // a json-seq record starts with RS
		if len(line) == 0 {
			continue
		}
		m, derr := decodeMessage(line)
		if derr != nil {
			return fmt.Errorf("decode event: %w", derr)
		}
		select {
		case out <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
		if err != nil {
			return err
		}
	}
}

// decodeMessage decodes one line of the stream as encoding/json would into
// the SDK's message, at a fraction of its cost.
func decodeMessage(line []byte) (events.Message, error) {
	var m events.Message
	p := parser{b: line}
	if p.message(&m) {
		return m, nil
	}
	m = events.Message{}
	err := json.Unmarshal(line, &m)
	return m, err
}

// parser decodes the daemon's shape of a message; a false result means
// "not that shape", never "invalid": encoding/json then decides.
type parser struct {
	b []byte
	i int
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

// next skips whitespace and takes the byte c.
func (p *parser) next(c byte) bool {
	p.ws()
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) peek() byte {
	p.ws()
	if p.i < len(p.b) {
		return p.b[p.i]
	}
	return 0
}

// str reads a string without escapes and with valid UTF-8, unquoted.
func (p *parser) str() ([]byte, bool) {
	if !p.next('"') {
		return nil, false
	}
	start, ascii := p.i, true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\' || c < 0x20:
			return nil, false
		case c >= 0x80:
			ascii = false
		}
		p.i++
	}
	return nil, false
}

// int reads an integer as encoding/json reads one into an int64.
func (p *parser) int() (int64, bool) {
	p.ws()
	start := p.i
	if p.i < len(p.b) && p.b[p.i] == '-' {
		p.i++
	}
	digits := p.i
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		p.i++
	}
	if p.i == digits || (p.b[digits] == '0' && p.i-digits > 1) {
		return 0, false
	}
	if p.i < len(p.b) && (p.b[p.i] == '.' || p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		return 0, false
	}
	n, err := strconv.ParseInt(string(p.b[start:p.i]), 10, 64)
	return n, err == nil
}

// object reads {"key": value, ...}, calling field for each key.
func (p *parser) object(field func(key []byte) bool) bool {
	if !p.next('{') {
		return false
	}
	if p.next('}') {
		return true
	}
	for {
		key, ok := p.str()
		if !ok || !p.next(':') || !field(key) {
			return false
		}
		if p.next('}') {
			return true
		}
		if !p.next(',') {
			return false
		}
	}
}

// unknown tells a key the SDK ignores: not one of its fields in any case
// (encoding/json matches keys case-insensitively, with Unicode folding).
func unknown(key []byte, fields ...string) bool {
	for _, c := range key {
		if c >= 0x80 {
			return false
		}
	}
	for _, f := range fields {
		if strings.EqualFold(string(key), f) {
			return false
		}
	}
	return true
}

// skip reads and validates a value nobody uses.
func (p *parser) skip(depth int) bool {
	if depth > 32 {
		return false
	}
	switch c := p.peek(); {
	case c == '"':
		_, ok := p.str()
		return ok
	case c == '{':
		return p.object(func([]byte) bool { return p.skip(depth + 1) })
	case c == '[':
		p.i++
		if p.next(']') {
			return true
		}
		for {
			if !p.skip(depth + 1) {
				return false
			}
			if p.next(']') {
				return true
			}
			if !p.next(',') {
				return false
			}
		}
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		for _, lit := range []string{"true", "false", "null"} {
			if bytes.HasPrefix(p.b[p.i:], []byte(lit)) {
				p.i += len(lit)
				return true
			}
		}
		return false
	}
}

// number reads a JSON number of any form.
func (p *parser) number() bool {
	digits := func() int {
		start := p.i
		for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
			p.i++
		}
		return p.i - start
	}
	if p.b[p.i] == '-' {
		p.i++
	}
	if p.i < len(p.b) && p.b[p.i] == '0' {
		p.i++
	} else if digits() == 0 {
		return false
	}
	if p.i < len(p.b) && p.b[p.i] == '.' {
		p.i++
		if digits() == 0 {
			return false
		}
	}
	if p.i < len(p.b) && (p.b[p.i] == 'e' || p.b[p.i] == 'E') {
		p.i++
		if p.i < len(p.b) && (p.b[p.i] == '+' || p.b[p.i] == '-') {
			p.i++
		}
		if digits() == 0 {
			return false
		}
	}
	return true
}

// Each field of a message once: a repeated key is merged by encoding/json.
const (
	seenType = 1 << iota
	seenAction
	seenActor
	seenScope
	seenTime
	seenTimeNano
	seenID
	seenAttributes
)

func (p *parser) message(m *events.Message) bool {
	seen := 0
	once := func(bit int) bool {
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		return true
	}
	ok := p.object(func(key []byte) bool {
		switch string(key) {
		case "Type":
			s, ok := p.str()
			m.Type = events.Type(common(s))
			return ok && once(seenType)
		case "Action":
			s, ok := p.str()
			m.Action = events.Action(common(s))
			return ok && once(seenAction)
		case "Actor":
			return once(seenActor) && p.actor(&m.Actor, once)
		case "scope":
			s, ok := p.str()
			m.Scope = common(s)
			return ok && once(seenScope)
		case "time":
			n, ok := p.int()
			m.Time = n
			return ok && once(seenTime)
		case "timeNano":
			n, ok := p.int()
			m.TimeNano = n
			return ok && once(seenTimeNano)
		}
		return unknown(key, "Type", "Action", "Actor", "scope", "time", "timeNano") && p.skip(0)
	})
	p.ws()
	return ok && p.i == len(p.b)
}

func (p *parser) actor(a *events.Actor, once func(int) bool) bool {
	if p.peek() != '{' {
		return false // null: encoding/json leaves the Actor as it is
	}
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "ID":
			s, ok := p.str()
			a.ID = string(s)
			return ok && once(seenID)
		case "Attributes":
			if !once(seenAttributes) {
				return false
			}
			a.Attributes = make(map[string]string, 8)
			return p.object(func(k []byte) bool {
				v, ok := p.str()
				a.Attributes[common(k)] = common(v)
				return ok
			})
		}
		return unknown(key, "ID", "Attributes") && p.skip(0)
	})
}

// common returns the strings every event repeats without allocating them.
func common(s []byte) string {
	switch string(s) {
	case "container":
		return "container"
	case "local":
		return "local"
	case "name":
		return "name"
	case "image":
		return "image"
	case "exitCode":
		return "exitCode"
	case "execID":
		return "execID"
	case "die":
		return "die"
	case "start":
		return "start"
	case "0":
		return "0"
	case "1":
		return "1"
	case "com.docker.compose.project":
		return "com.docker.compose.project"
	}
	return string(s)
}

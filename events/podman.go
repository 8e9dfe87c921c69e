package events

import (
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
	"sync"
	"time"

	mobyevents "github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
)

// The engines a Source tells apart (event.Event.Engine).
const (
	EngineDocker = "docker"
	EnginePodman = "podman"
)

// EngineOf names the engine behind a /version answer: Podman's
// Docker-compatible API says so in its components ("Podman Engine").
func EngineOf(v client.ServerVersionResult) string {
	for _, c := range v.Components {
		if strings.Contains(strings.ToLower(c.Name), "podman") {
			return EnginePodman
		}
	}
	if strings.Contains(strings.ToLower(v.Platform.Name), "podman") {
		return EnginePodman
	}
	return EngineDocker
}

// versioner and rawDialer are what a Docker client offers beyond the
// Docker interface: the engine is told by /version, and Podman's stream is
// read with a request of our own (the SDK's message type drops Podman's
// top-level HealthStatus). Test fakes without them are Docker.
type versioner interface {
	ServerVersion(ctx context.Context, options client.ServerVersionOptions) (client.ServerVersionResult, error)
}

type rawDialer interface {
	Dialer() func(context.Context) (net.Conn, error)
}

// podmanSettle is how long a SIGKILL or SIGTERM death that no kill
// explains waits on Podman: 4.3 sends no kill on a stop, and its stop
// (or the second cleanup that stands for one) may come after the die.
const podmanSettle = 3 * time.Second

// detectEngine asks the daemon which engine it is, once per session (a
// socket may be served by another engine after a restart).
func (s *Source) detectEngine(ctx context.Context) error {
	v, ok := s.docker.(versioner)
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.InspectTimeout)
	defer cancel()
	ver, err := v.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		return fmt.Errorf("read the daemon's version: %w", err)
	}
	engine := EngineOf(ver)
	if engine == EnginePodman && s.podman == nil {
		if s.raw == nil {
			return errors.New("a Podman daemon needs a client that can dial it")
		}
		s.podman = newPodmanEvents(s.raw)
	}
	if engine != s.engine.Load() {
		s.log.Info("container engine", "engine", engine, "version", ver.Version)
	}
	s.engine.Store(engine)
	return nil
}

// Engine is the engine of the daemon as last detected (Docker until told).
func (s *Source) Engine() string {
	if e, _ := s.engine.Load().(string); e != "" {
		return e
	}
	return EngineDocker
}

func (s *Source) isPodman() bool { return s.Engine() == EnginePodman }

// events opens the daemon's event stream, Podman's through its normaliser.
func (s *Source) events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	if s.isPodman() && s.podman != nil {
		return s.podman.Events(ctx, opts)
	}
	return s.dockerEvents(ctx, opts)
}

// oomWait is how long a SIGKILL death nobody asked for is held.
func (s *Source) oomWait() time.Duration {
	if s.isPodman() {
		return max(s.opts.OOMWait, podmanSettle)
	}
	return s.opts.OOMWait
}

// holdsDeath: a death that may yet be explained by a later event (its
// oom, or on Podman its stop).
func (s *Source) holdsDeath(ev event.Event) bool {
	return mayBeOOM(ev) || (s.isPodman() && ev.Type == event.ContainerType && ev.Action == "die" && ev.ExitCode == 143 && !ev.Intentional)
}

// podmanEvents reads Podman's Docker-compatible /events and hands on
// messages shaped as Docker's.
type podmanEvents struct {
	http   *http.Client
	health *healthMerge
}

func newPodmanEvents(hc *http.Client) *podmanEvents {
	return &podmanEvents{http: hc, health: &healthMerge{last: map[string][]healthChange{}}}
}

// podmanMessage is a message of Podman's stream: Docker's fields and the
// top-level HealthStatus that health_status events carry their state in.
type podmanMessage struct {
	mobyevents.Message
	HealthStatus string `json:"HealthStatus"`
}

// Events follows the stream from opts.Since (inclusive, as Docker's);
// with opts.Until it reads the kept events and ends. Podman 4.3 answers
// since with until with nothing, so it asks with stream=false instead and
// drops what is after until.
func (p *podmanEvents) Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	msgs, errs := make(chan mobyevents.Message), make(chan error, 1)
	q := url.Values{}
	since, until := parseSince(opts.Since), int64(0)
	if opts.Since != "" {
		// Podman 4.3 reads since as a float (about 240 ns apart here) and
		// passes what is after it: asked a millisecond early, and the
		// events before since are dropped below, it is Docker's inclusive
		// since.
		q.Set("since", formatSince(since-int64(time.Millisecond)))
	}
	if opts.Until != "" {
		q.Set("stream", "false")
		until = parseSince(opts.Until)
	}
	go func() {
		defer close(errs)
		errs <- p.read(ctx, "http://podman/v1.41/events?"+q.Encode(), since, until, msgs)
	}()
	return client.EventsResult{Messages: msgs, Err: errs}
}

func (p *podmanEvents) read(ctx context.Context, u string, since, until int64, out chan<- mobyevents.Message) error {
	res, err := openEvents(ctx, p.http, u, "podman events")
	if err != nil {
		return err
	}
	defer res.Body.Close()
	n := newPodmanNormaliser(p.health)
	dec := json.NewDecoder(res.Body)
	for {
		var pm podmanMessage
		if err := dec.Decode(&pm); err != nil {
			if errors.Is(err, io.EOF) {
				return io.EOF
			}
			return err
		}
		if t := messageNano(pm.Message); t < since || (until != 0 && t > until) {
			continue
		}
		m, ok := n.normalise(pm)
		if !ok {
			continue
		}
		select {
		case out <- m:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// parseSince reads a seconds[.nanoseconds] time (formatSince's), 0 when
// it is none.
func parseSince(s string) int64 {
	sec, frac, _ := strings.Cut(s, ".")
	n, err := strconv.ParseInt(sec, 10, 64)
	if err != nil {
		return 0
	}
	nano := n * int64(time.Second)
	if frac != "" {
		frac = (frac + "000000000")[:9]
		f, _ := strconv.ParseInt(frac, 10, 64)
		nano += f
	}
	return nano
}

// podmanNormaliser turns one stream's Podman messages into Docker's
// shape. What it counts (cleanups since a die) is per stream: a replay
// that starts between them names them as Podman did, which at worst hands
// on a cleanup no rule needs.
type podmanNormaliser struct {
	health   *healthMerge
	cleanups map[string]int // container → cleanup events since its die
}

func newPodmanNormaliser(h *healthMerge) *podmanNormaliser {
	return &podmanNormaliser{health: h, cleanups: map[string]int{}}
}

// podmanActions are Podman's names for Docker's container actions;
// podmanOnly are Podman's own steps, which Docker has no event for (a rule
// written for Docker would never expect them).
var (
	podmanActions = map[string]string{"exec_died": "exec_die", "exec": "exec_start", "remove": "destroy", "died": "die"}
	podmanOnly    = map[string]bool{"init": true, "cleanup": true}
)

// normalise reshapes one message; false drops it (a repeated health
// state, a step of Podman's own).
func (n *podmanNormaliser) normalise(pm podmanMessage) (mobyevents.Message, bool) {
	m := pm.Message
	if m.Type != mobyevents.ContainerEventType {
		return m, true
	}
	attrs := make(map[string]string, len(m.Actor.Attributes))
	for k, v := range m.Actor.Attributes {
		attrs[k] = v
	}
	action := string(m.Action)
	if a, ok := podmanActions[action]; ok {
		action = a
	}
	id := m.Actor.ID
	switch action {
	case "die":
		// exitCode is the die's; containerExitCode is on every event.
		if _, ok := attrs["exitCode"]; !ok && attrs["containerExitCode"] != "" {
			attrs["exitCode"] = attrs["containerExitCode"]
		}
		n.cleanups[id] = 0
	case "start", "destroy":
		delete(n.cleanups, id)
	case "cleanup":
		// A stop cleans the container up itself and conmon's exit command
		// does too: a second cleanup after a die is Podman 4.3's only sign
		// of a stop that had no kill to send (a crash gets one).
		if c, ok := n.cleanups[id]; ok {
			n.cleanups[id] = c + 1
			if c+1 == 2 {
				action = "stop"
			}
		}
	case "health_status":
		status := pm.HealthStatus
		if status == "" {
			_, status, _ = strings.Cut(string(m.Action), ": ")
		}
		if status != "" {
			if !n.health.change(id, messageNano(m), status) {
				return m, false
			}
			action += ": " + status
		}
	}
	if podmanOnly[action] {
		return m, false
	}
	delete(attrs, "containerExitCode")
	if attrs["podId"] == "" {
		delete(attrs, "podId")
	}
	if img, ok := attrs["image"]; ok {
		attrs["image"] = dockerImageName(img)
	}
	m.Action, m.Actor.Attributes = mobyevents.Action(action), attrs
	return m, true
}

// dockerImageName is the name Docker shows for an image Podman names in
// full: Docker Hub's prefixes dropped, so a rule on Image matches on both.
func dockerImageName(img string) string {
	img = strings.TrimPrefix(img, "docker.io/")
	return strings.TrimPrefix(img, "library/")
}

// healthMerge passes a container's health_status only when its state
// changes: Podman sends one on every probe. It is shared by every stream
// of a daemon, and keeps each change's time, so an audit's replay of a
// repeat drops it as the live stream did.
type healthMerge struct {
	mu   sync.Mutex
	last map[string][]healthChange
}

type healthChange struct {
	nano   int64
	status string
}

// maxHealthChanges bounds what is kept per container.
const maxHealthChanges = 8

// change tells whether status at nano is a change (or the very change
// passed before), noting it.
func (h *healthMerge) change(id string, nano int64, status string) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	changes := h.last[id]
	prev := ""
	for _, c := range changes {
		if c.nano == nano {
			return c.status == status
		}
		if c.nano < nano {
			prev = c.status
		}
	}
	if prev == status {
		return false
	}
	changes = append(changes, healthChange{nano, status})
	for i := len(changes) - 1; i > 0 && changes[i].nano < changes[i-1].nano; i-- {
		changes[i], changes[i-1] = changes[i-1], changes[i]
	}
	if len(changes) > maxHealthChanges {
		changes = changes[len(changes)-maxHealthChanges:]
	}
	if len(h.last) > 4096 {
		clear(h.last) // removed containers' histories; the next repeat passes once
	}
	h.last[id] = changes
	return true
}

// Package notify turns rule matches into messages and delivers them: the
// Notification, the Notifier interface that every destination implements,
// and the Dispatcher that keeps delivery off the event loop.
package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

// Notification is one message about one event, for one rule. It is
// persisted in the outbox under these JSON names.
type Notification struct {
	// ID is the idempotency key (the webhook-id), derived from what the
	// message is about: the same event and rule always give the same ID,
	// so a resend after a crash carries it again.
	ID   string `json:"id"`
	Rule string `json:"rule"`
	// Event is a redacted copy: Labels holds only the labels allowed to be
	// shown and Attributes only the daemon's own attributes (no labels).
	Event event.Event `json:"event"`
	// Text is the rule's rendered template; "" means the default summary.
	Text string `json:"text,omitempty"`
	// Offer is what the message offers to act on; the Slack bot makes its
	// buttons when it posts (an outbox entry written before offers carried
	// minted "actions", which are no longer read: see docs/ARCHITECTURE.md).
	Offer *event.Offer `json:"offer,omitempty"`
	// Group is set on messages that stand for several matches (grouping,
	// crash loops); destinations that can update a message in place do.
	Group *Group `json:"group,omitempty"`
	// Incident is set on messages about one container's problem, from the
	// first alert to its resolution; Slack edits one message for it.
	Incident *Incident `json:"incident,omitempty"`
	// Owner is the Slack user (U…/W…) or user group (S…) ID that the
	// container's whalewatch.owner label names, checked to be an ID.
	Owner string `json:"owner,omitempty"`
	// Link is LINK_TEMPLATE rendered for the event (logs, dashboards).
	Link string `json:"link,omitempty"`
}

// ownerID is what an owner must look like: a Slack user (U…, W…) or user
// group (S…) ID; anything else is text a label made up, never mentioned.
var ownerID = regexp.MustCompile(`^[UWS][A-Z0-9]{2,20}$`)

// ValidOwner tells whether s may be mentioned as a card's owner.
func ValidOwner(s string) bool { return ownerID.MatchString(s) }

// Incident statuses.
const (
	Firing   = "firing"
	Looping  = "looping"
	Resolved = "resolved"
)

// Incident is one container's problem: opened by its first alert,
// updated by the next ones, resolved when the container has run (and, if
// it has a healthcheck, been healthy) for a while, or was removed.
type Incident struct {
	ID     string `json:"id"`     // stable from the first alert to the resolution
	Status string `json:"status"` // Firing, Looping or Resolved
	Seq    int    `json:"seq"`    // 1 for the message that opened it, then 2, 3 …
	// Alerts counts the alerts in it so far (deaths, unhealthy reports).
	Alerts     int       `json:"alerts"`
	OpenedAt   time.Time `json:"opened_at"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
}

// UpgradeFormat1 rewrites an outbox entry of state format 1, when a
// Notification had no JSON tags (its Event's ActorID, ExitCode, TimeNano
// and OOMKilled would not be read by today's names).
func UpgradeFormat1(old []byte) ([]byte, error) {
	var v1 struct {
		ID, Rule, Text string
		Group          *Group
		Event          struct {
			Host, Type, Action, Status, ActorID, Name, Image, Scope string
			Attributes, Labels                                      map[string]string
			ExitCode                                                int
			Time                                                    time.Time
			TimeNano                                                int64
			Intentional, OOMKilled, Reconciled                      bool
		}
	}
	if err := json.Unmarshal(old, &v1); err != nil {
		return nil, err
	}
	if v1.ID == "" {
		return nil, errors.New("no notification id: not a format-1 notification")
	}
	e := v1.Event
	return json.Marshal(Notification{ID: v1.ID, Rule: v1.Rule, Text: v1.Text, Group: v1.Group,
		Event: event.Event{Host: e.Host, Type: e.Type, Action: e.Action, Status: e.Status, ActorID: e.ActorID,
			Attributes: e.Attributes, Labels: e.Labels, Name: e.Name, Image: e.Image, ExitCode: e.ExitCode, Scope: e.Scope,
			Time: e.Time, TimeNano: e.TimeNano, Intentional: e.Intentional, OOMKilled: e.OOMKilled, Reconciled: e.Reconciled}})
}

// Outgoing is a notification with its routing: destination names, or
// every destination when To is empty.
type Outgoing struct {
	N  Notification
	To []string
}

// Group ties the messages of one group together.
type Group struct {
	Key   string   `json:"key"`   // the same for every message of the group
	Seq   int      `json:"seq"`   // 1 for the first message, then 2, 3 … for updates
	Count int      `json:"count"` // matches in the group so far
	New   []string `json:"new"`   // what this update adds (container names)
	// Covers are the IDs of the matches this message accounts for besides
	// its own, so a receiver can tell that none is missing.
	Covers []string `json:"covers,omitempty"`
	// Final marks the last message of the group (a crash loop's end).
	Final bool `json:"final,omitempty"`
}

// New makes the notification of a match. shownLabels is the allowlist of
// labels that may appear in messages (labels can hold secrets).
func New(rule, text string, ev event.Event, shownLabels []string) Notification {
	sum := sha256.Sum256([]byte(ev.HostKey() + "\x00" + ev.Key() + "\x00" + rule))
	return Notification{
		ID:    "msg_" + hex.EncodeToString(sum[:12]),
		Rule:  rule,
		Event: redact(ev, shownLabels),
		Text:  text,
	}
}

func redact(ev event.Event, shownLabels []string) event.Event {
	labels := map[string]string{}
	for _, k := range shownLabels {
		if v, ok := ev.Labels[k]; ok {
			labels[k] = v
		}
	}
	attrs := map[string]string{}
	for k, v := range ev.Attributes {
		if _, isLabel := ev.Labels[k]; !isLabel {
			attrs[k] = v
		}
	}
	ev.Labels, ev.Attributes = labels, attrs
	return ev
}

// Summary is the one-line text of the notification.
func (n Notification) Summary() string {
	if n.Text != "" {
		return n.Text
	}
	return DefaultSummary(n.Event)
}

// DefaultSummary describes an event in one line, for people.
func DefaultSummary(ev event.Event) string {
	what := ev.Type + " " + NameOrID(ev)
	switch {
	case ev.Type == event.SelfType:
		return selfSummary(ev)
	case ev.Type == event.ContainerType && ev.Action == "die":
		s := what + " died"
		switch {
		case ev.OOMKilled:
			s += ": killed for running out of memory"
		case ev.ExitCode >= 0:
			s += fmt.Sprintf(": exit code %d (%s)", ev.ExitCode, event.ExitMeaning(ev.ExitCode))
		case ev.Attributes["whalewatch.removed"] == "true":
			s += " and was removed; exit code unknown"
		case ev.Attributes["whalewatch.unseen"] == "true":
			s += " while no stream carried it (it was started again since); exit code unknown"
		case ev.Attributes["whalewatch.restarted"] != "":
			s += " and was restarted by its restart policy (" + ev.Attributes["whalewatch.restarted"] + " restarts); exit code unknown"
		case ev.Reconciled:
			s += "; exit code unknown"
		}
		if ev.Reconciled {
			s += " — found on reconnect, the event stream was down"
		}
		return s
	case ev.Action == "oom":
		return what + " ran out of memory (OOM kill)"
	case ev.Type == event.StatsType && ev.Stats != nil:
		return "container " + NameOrID(ev) + " is under pressure: " + StatsText(*ev.Stats)
	case ev.Type == "node" && ev.Attributes["state.new"] != "" && ev.Attributes["state.old"] != "":
		return fmt.Sprintf("%s is %s (was %s)", what, ev.Attributes["state.new"], ev.Attributes["state.old"])
	case ev.Type == "service" && strings.HasPrefix(ev.Attributes["updatestate.new"], "rollback"):
		return what + ": the update failed; " + strings.ReplaceAll(ev.Attributes["updatestate.new"], "_", " ")
	case ev.Action == "health_status":
		return what + " is " + ev.Status
	case ev.Status != "":
		return what + ": " + ev.Action + " " + ev.Status
	default:
		return what + ": " + ev.Action
	}
}

func selfSummary(ev event.Event) string {
	switch ev.Action {
	case "daemon_unreachable":
		return fmt.Sprintf("Docker daemon %s unreachable for %s: %s", ev.Host, ev.Attributes["down_for"], ev.Attributes["error"])
	case "stream_restored":
		return fmt.Sprintf("Docker event stream of %s restored after %s; containers that died meanwhile are reported", ev.Host, ev.Attributes["down_for"])
	case "events_dropped":
		return fmt.Sprintf("%s Docker events from %s were dropped: whalewatch's event queue was full", ev.Attributes["count"], ev.Host)
	case "stream_gap":
		return fmt.Sprintf("Docker events of %s from %s on were lost (%s): the daemon no longer had them (it keeps its last 256, none across its restart); containers were listed and inspected instead, and deaths found are reported",
			ev.Host, ev.Attributes["since"], ev.Attributes["length"])
	case "clock_stepped_back":
		return fmt.Sprintf("The clock of Docker daemon %s stepped back by %s: containers were listed and inspected instead of replaying events, and the cursor follows the daemon's clock again", ev.Host, ev.Attributes["by"])
	case "notifications_dropped":
		return fmt.Sprintf("%s notifications for destination %s were dropped: %s", ev.Attributes["count"], ev.Attributes["destination"], ev.Attributes["reason"])
	case "delivery_failed":
		return fmt.Sprintf("Notifications to destination %s are failing: %s", ev.Attributes["destination"], ev.Attributes["reason"])
	default:
		return "whalewatch: " + ev.Action
	}
}

// NameOrID names an event's object for people: its name, else its short ID.
func NameOrID(ev event.Event) string {
	if ev.Name != "" {
		return ev.Name
	}
	if ev.ShortID() != "" {
		return ev.ShortID()
	}
	return "?"
}

// Field is one labelled value shown with a notification.
type Field struct{ Name, Value string }

// Fields are the facts worth showing beside the summary, in order.
func (n Notification) Fields() []Field {
	ev := n.Event
	var fs []Field
	add := func(name, value string) {
		if value != "" {
			fs = append(fs, Field{name, value})
		}
	}
	if ev.Type == event.ContainerType || ev.Type == event.StatsType {
		add("Container", NameOrID(ev))
	}
	if st := ev.Stats; st != nil {
		add("Memory", memoryText(*st))
		add("CPU", fmt.Sprintf("%.1f%%", st.CPUPercent))
		add("PIDs", pidsText(*st))
		add("Trend", trendText(*st))
	}
	add("Image", ev.Image)
	if ev.ExitCode >= 0 {
		add("Exit code", strconv.Itoa(ev.ExitCode)+" — "+event.ExitMeaning(ev.ExitCode))
	}
	add("Host", ev.Host)
	add("Compose", composeName(ev.Labels))
	if e := ev.Evidence; e != nil {
		if ran := e.Ran(); ran >= time.Second {
			add("Ran for", ran.Round(time.Second).String())
		} else if ran > 0 {
			add("Ran for", ran.Round(time.Millisecond).String())
		}
		if e.RestartCount > 0 {
			add("Restarts", strconv.Itoa(e.RestartCount))
		}
		if e.OOMKilled && !ev.OOMKilled {
			add("OOM killed", "yes")
		}
		add("Image ID", shortDigest(e.ImageID))
	}
	if inc := n.Incident; inc != nil {
		add("Incident", inc.Status+" · "+plural(inc.Alerts, "alert")+" since "+inc.OpenedAt.UTC().Format("15:04:05 UTC"))
	}
	for k, v := range sortedLabels(ev.Labels) {
		if k != ComposeProject && k != composeService {
			add(k, v)
		}
	}
	return fs
}

// StatsText is a sample's figures in one line: memory, CPU, PIDs.
func StatsText(st event.Stats) string {
	return "memory " + memoryText(st) + ", CPU " + fmt.Sprintf("%.1f%%", st.CPUPercent) + ", PIDs " + pidsText(st)
}

func memoryText(st event.Stats) string {
	if st.MemoryLimit == 0 {
		return mib(st.MemoryBytes) + " (no limit)"
	}
	return fmt.Sprintf("%s of %s (%.1f%%)", mib(st.MemoryBytes), mib(st.MemoryLimit), st.MemoryPercent)
}

func pidsText(st event.Stats) string {
	if st.PIDsLimit == 0 {
		return strconv.FormatInt(st.PIDs, 10)
	}
	return fmt.Sprintf("%d of %d", st.PIDs, st.PIDsLimit)
}

func mib(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

// maxTrendPoints bounds the trend shown: the window's first samples, its
// last, and evenly spaced ones between.
const maxTrendPoints = 6

// trendText is the memory (and CPU, PIDs) of the samples of the rule's FOR
// window, oldest first, ending with this one.
func trendText(st event.Stats) string {
	if len(st.Trend) == 0 {
		return ""
	}
	pts := st.Trend
	if len(pts) > maxTrendPoints {
		picked := make([]event.StatsPoint, 0, maxTrendPoints)
		for i := range maxTrendPoints {
			picked = append(picked, pts[i*(len(pts)-1)/(maxTrendPoints-1)])
		}
		pts = picked
	}
	var mem, cpu, pids []string
	for _, p := range pts {
		mem = append(mem, fmt.Sprintf("%.0f%%", p.MemoryPercent))
		cpu = append(cpu, fmt.Sprintf("%.0f%%", p.CPUPercent))
		pids = append(pids, strconv.FormatInt(p.PIDs, 10))
	}
	span := pts[len(pts)-1].Time.Sub(pts[0].Time).Round(time.Second)
	return fmt.Sprintf("over %s (%d samples): memory %s · CPU %s · PIDs %s", span, len(st.Trend),
		strings.Join(mem, " → "), strings.Join(cpu, " → "), strings.Join(pids, " → "))
}

// Compose labels, shown together as project/service.
const (
	ComposeProject = "com.docker.compose.project"
	composeService = "com.docker.compose.service"
)

func composeName(labels map[string]string) string {
	p, s := labels[ComposeProject], labels[composeService]
	switch {
	case p != "" && s != "":
		return p + "/" + s
	default:
		return p + s
	}
}

func shortDigest(d string) string {
	algo, hex, ok := strings.Cut(d, ":")
	if !ok || len(hex) < 12 {
		return d
	}
	return algo + ":" + hex[:12]
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return strconv.Itoa(n) + " " + what + "s"
}

// LogText is the evidence's lines of output, each marked with its stream
// ("err|" for stderr), and a note when there are none or some were cut.
func (n Notification) LogText() string {
	e := n.Event.Evidence
	if e == nil {
		return ""
	}
	var b strings.Builder
	for _, l := range e.Logs {
		mark := "out| "
		if l.Stream == "stderr" {
			mark = "err| "
		}
		b.WriteString(mark + l.Text + "\n")
	}
	if e.LogsNote != "" {
		b.WriteString("(output " + e.LogsNote + ")\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// ProbeText is the output of the last healthcheck probes, newest last.
func (n Notification) ProbeText() string {
	e := n.Event.Evidence
	if e == nil || len(e.Health) == 0 || n.Event.Action != "health_status" {
		return ""
	}
	var parts []string
	for _, p := range e.Health {
		parts = append(parts, fmt.Sprintf("exit %d: %s", p.ExitCode, p.Output))
	}
	return strings.Join(parts, "\n")
}

// PlainText is the whole card as plain text, for destinations that show
// text only (email, ntfy, chat services through shoutrrr).
func (n Notification) PlainText() string {
	var b strings.Builder
	b.WriteString(n.Rule + ": " + n.Summary() + "\n")
	for _, f := range n.Fields() {
		b.WriteString(f.Name + ": " + f.Value + "\n")
	}
	if n.Owner != "" {
		b.WriteString("Owner: " + n.Owner + "\n")
	}
	if probes := n.ProbeText(); probes != "" {
		b.WriteString("\nHealthcheck output:\n" + probes + "\n")
	}
	if logs := n.LogText(); logs != "" {
		b.WriteString("\nLast output:\n" + logs + "\n")
	}
	if n.Link != "" {
		b.WriteString("\nMore: " + n.Link + "\n")
	}
	return strings.TrimSuffix(b.String(), "\n")
}

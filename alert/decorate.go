package alert

import (
	"strings"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/notify"
	"github.com/whalewatch/whalewatch/rules"
)

// alert makes the notification of a match, with its owner and link.
func (c *Core) alert(rule, text string, ev event.Event) notify.Notification {
	n := notify.New(rule, text, ev, c.cfg.ShownLabels)
	c.decorate(&n, ev)
	return n
}

// decorate adds what the container's labels and LINK_TEMPLATE give.
func (c *Core) decorate(n *notify.Notification, ev event.Event) {
	if owner := ev.Labels[OwnerLabel]; owner != "" {
		if notify.ValidOwner(owner) {
			n.Owner = owner
		} else {
			c.log.Warn("ignoring a whalewatch.owner label that is not a Slack user or group ID", "container", ev.Name)
		}
	}
	if c.cfg.Link != nil {
		link, err := rules.Render(c.cfg.Link, ev)
		if err == nil && (strings.HasPrefix(link, "https://") || strings.HasPrefix(link, "http://")) {
			n.Link = link
		} else {
			c.log.Warn("LINK_TEMPLATE gave no http(s) link for this event", "container", ev.Name, "err", err)
		}
	}
}

// offer is what a message about ev offers to act on (loop: the message that
// announces a crash loop): a container's event or sample only.
func offer(ev event.Event, loop bool) *event.Offer {
	if !aboutContainer(ev) {
		return nil
	}
	o := &event.Offer{Host: ev.Host, ContainerID: ev.ActorID, Name: ev.Name}
	switch {
	case loop:
		o.Situation = event.SituationCrashLoop
	case ev.Action == "die" && !ev.Intentional:
		o.Situation = event.SituationDied
	case ev.Action == "health_status" && ev.Status == "unhealthy", ev.Type == event.StatsType: // running, in trouble
		o.Situation = event.SituationUnhealthy
	}
	for k, v := range ev.Labels {
		if strings.HasPrefix(k, "whalewatch.") {
			if o.Labels == nil {
				o.Labels = map[string]string{}
			}
			o.Labels[k] = v
		}
	}
	return o
}

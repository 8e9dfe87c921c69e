package alert

import (
	"path"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

// held says why the core holds back the matches of ev ("" when it does
// not): the container is not watched, or muted.
func (c *Core) held(ev event.Event, now time.Time) string {
	switch {
	case !c.watched(ev):
		return "not_watched"
	case c.muted(ev, now):
		return "muted"
	}
	return ""
}

// watched: containers are watched unless opt-in is on; whalewatch.enable
// decides for one container. Other events are always watched.
func (c *Core) watched(ev event.Event) bool {
	return !aboutContainer(ev) || c.interest.Watches(ev.Labels)
}

// aboutContainer: a container's event or stats sample, which its labels
// and mutes steer.
func aboutContainer(ev event.Event) bool {
	return ev.Type == event.ContainerType || ev.Type == event.StatsType
}

// muted: the container's label says so, or a mute (/docker mute) covers its
// name. Mutes are about containers: whalewatch's own notices and Swarm
// events are never muted.
func (c *Core) muted(ev event.Event, now time.Time) bool {
	if !aboutContainer(ev) {
		return false
	}
	if ev.Labels[MuteLabel] == "true" {
		return true
	}
	if gen := c.mutes.MuteGeneration(); gen != c.muteGen {
		c.muteGen = gen
		c.refreshMutes(now) // a mute just set applies to the very next event
	}
	for glob, until := range c.muteList {
		if ok, _ := path.Match(glob, ev.Name); ok && now.Before(until) {
			return true
		}
	}
	return false
}

func (c *Core) refreshMutes(now time.Time) {
	mutes, err := c.mutes.Mutes(now)
	if err != nil {
		c.log.Error("cannot read mutes", "err", err)
		return
	}
	c.muteList = mutes
}

package alert

// The checkpoint: what the core restores, tells the sources to resume
// from, and commits with its notifications.

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/state"
)

// Restore continues from a committed checkpoint: cursors, running sets,
// groups, crash loops and incidents, as they were at the same instant.
func (c *Core) Restore(snap state.Snapshot) error {
	if data, ok := snap.Core[legacyKey]; ok {
		if err := c.restoreLegacy(data); err != nil {
			return err
		}
	} else {
		for _, p := range c.state() {
			if err := p.load(snap.Core); err != nil {
				return err
			}
		}
	}
	maps.Copy(c.cursors, snap.Cursors)
	for host, set := range snap.Running {
		running := map[string]event.Container{}
		for id, ctr := range set {
			running[id] = *ctr
		}
		c.running[host] = running
	}
	return nil
}

// Resumes tells where each host's stream continues, by host key (a
// daemon ID, or the name a state written before IDs were kept used).
func (c *Core) Resumes() map[string]event.Resume {
	out := map[string]event.Resume{}
	for host, cursor := range c.cursors {
		keys, _ := c.atCursor.get(host)
		ahead := c.ahead.get(host)
		out[host] = event.Resume{Cursor: cursor, AtCursor: slices.Clone(keys), Running: maps.Clone(c.running[host]), Open: c.open(host),
			Ahead: slices.Clone(ahead), Stopped: c.stoppedOn(host)}
	}
	return out
}

// stoppedOn is the stopped containers' counts of host, by ID.
func (c *Core) stoppedOn(host string) map[string]int {
	var out map[string]int
	for k, n := range c.stopped.m {
		if id, ok := strings.CutPrefix(k, host+"|"); ok {
			if out == nil {
				out = map[string]int{}
			}
			out[id] = n
		}
	}
	return out
}

// open lists the containers of host with an open incident or crash loop.
func (c *Core) open(host string) []string {
	var ids []string
	for _, keys := range [][]string{slices.Collect(maps.Keys(c.incidents.open.m)), slices.Collect(maps.Keys(c.loops.loops.m))} {
		for _, k := range keys {
			if id, ok := strings.CutPrefix(k, host+"|"); ok && !slices.Contains(ids, id) {
				ids = append(ids, id)
			}
		}
	}
	slices.Sort(ids)
	return ids
}

// Commit writes what was decided since the last commit, with the
// checkpoint, in one transaction. Without notifications or changed state
// it writes only when cursorToo is set (a moved cursor alone can wait: the
// events after it are handled again, giving nothing new). On error
// everything stays pending for the next commit.
func (c *Core) Commit(cursorToo bool) error {
	stateChanged := c.legacyState
	for _, p := range c.state() {
		stateChanged = stateChanged || p.changed()
	}
	if len(c.out) == 0 && !stateChanged && len(c.runningChanges) == 0 && !(cursorToo && c.cursorDirty) && !c.cursorFirst {
		return nil
	}
	snap := state.Snapshot{Cursors: c.cursors, Running: c.runningChanges, Core: map[string][]byte{}}
	for _, p := range c.state() {
		if err := p.changes(snap.Core); err != nil {
			return fmt.Errorf("encode the alert state: %w", err)
		}
	}
	if c.legacyState {
		snap.Core[legacyKey] = nil
	}
	if err := c.outbox.Commit(c.out, snap); err != nil {
		return fmt.Errorf("commit %d notifications and the checkpoint: %w", len(c.out), err)
	}
	for _, p := range c.state() {
		p.clean()
	}
	c.out, c.cursorDirty, c.cursorFirst, c.legacyState = nil, false, false, false
	c.runningChanges = map[string]map[string]*event.Container{}
	return nil
}

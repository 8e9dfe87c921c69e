package alert

// State format 2 kept the core in one piece; it is read once and
// deleted at the next commit.

import (
	"encoding/json"
	"fmt"
	"time"
)

// legacyKey holds the whole core state in one piece, as state format 2 did.
const legacyKey = "state"

// legacyState is that piece.
type legacyState struct {
	Version int `json:"version"`
	Groups  struct {
		Groups     map[string]*group    `json:"groups"`
		Cooldowns  map[string]time.Time `json:"cooldowns"`
		Suppressed map[string][]string  `json:"suppressed"`
	} `json:"groups"`
	Loops struct {
		Deaths map[string][]time.Time `json:"deaths"`
		Loops  map[string]*loop       `json:"loops"`
	} `json:"crash_loops"`
	Incidents struct {
		Open map[string]*incident `json:"open"`
	} `json:"incidents"`
}

// restoreLegacy loads the one-piece state, to be deleted at the next commit.
func (c *Core) restoreLegacy(data []byte) error {
	var old legacyState
	if err := json.Unmarshal(data, &old); err != nil {
		return fmt.Errorf("alert state in the checkpoint: %w", err)
	}
	if old.Version != 1 {
		return fmt.Errorf("alert state in the checkpoint has format %d; this whalewatch reads 1", old.Version)
	}
	c.groups.groups.replace(old.Groups.Groups)
	c.groups.cooldowns.replace(old.Groups.Cooldowns)
	c.groups.suppressed.replace(old.Groups.Suppressed)
	c.loops.recent.replace(old.Loops.Deaths)
	c.loops.loops.replace(old.Loops.Loops)
	c.incidents.open.replace(old.Incidents.Open)
	c.legacyState = true
	return nil
}

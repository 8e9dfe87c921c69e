package state

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"maps"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/whalewatch/whalewatch/event"
)

// The incident history the status page shows: one record per incident,
// written with the notification that told of it (in Commit's transaction),
// bounded by HistoryKeep and HistoryMax.
var (
	bucketHistory        = []byte("history")         // <incident id> → Incident JSON
	bucketHistoryChanged = []byte("history_changed") // <updated unix ns, 8 bytes><id> → nil: the records by their last change
	bucketHistoryOpen    = []byte("history_open")    // <incident id> → nil: the records not resolved
)

// History bounds: resolved incidents last changed longer ago than
// HistoryKeep are dropped, and the oldest beyond HistoryMax records.
const (
	HistoryKeep = 7 * 24 * time.Hour
	HistoryMax  = 10_000
)

// chartSpan is how far back an incident's alerts per hour are kept.
const chartSpan = 24 * time.Hour

// Incident is one incident as the history keeps it: what its
// notifications told, merged.
type Incident struct {
	ID          string `json:"id"`
	Host        string `json:"host"`
	Container   string `json:"container"`
	ContainerID string `json:"container_id,omitempty"`
	Rule        string `json:"rule"`
	Status      string `json:"status"`
	Alerts      int    `json:"alerts"`
	// ExitCode is the last alert's (-1: none); Evidence its crash card.
	ExitCode   int             `json:"exit_code"`
	Evidence   *event.Evidence `json:"evidence,omitempty"`
	OpenedAt   time.Time       `json:"opened_at"`
	ResolvedAt time.Time       `json:"resolved_at,omitzero"`
	UpdatedAt  time.Time       `json:"updated_at"` // the last notification's event time
	// Hours counts its alerts per hour (unix seconds of the hour's
	// start), the last 24 hours only.
	Hours map[int64]int `json:"hours,omitempty"`
}

// Open tells whether the incident is not resolved.
func (inc *Incident) Open() bool { return inc.ResolvedAt.IsZero() }

// mergeIncident lays a later notification's facts over the record. A
// resolution carries the last alert again: the record keeps the alert's
// rule and card.
func mergeIncident(old *Incident, later Incident) *Incident {
	r := later
	r.Hours = map[int64]int{}
	added := later.Alerts
	if old != nil {
		maps.Copy(r.Hours, old.Hours)
		added = later.Alerts - old.Alerts
		if !old.OpenedAt.IsZero() {
			r.OpenedAt = old.OpenedAt
		}
		if !later.ResolvedAt.IsZero() || r.Rule == "" {
			r.Rule, r.ExitCode, r.Evidence = old.Rule, old.ExitCode, old.Evidence
		}
		if r.Evidence == nil {
			r.Evidence = old.Evidence
		}
	}
	if added > 0 {
		r.Hours[later.UpdatedAt.Truncate(time.Hour).Unix()] += added
	}
	for h := range r.Hours {
		if time.Unix(h, 0).Before(later.UpdatedAt.Add(-chartSpan)) {
			delete(r.Hours, h)
		}
	}
	return &r
}

func changedKey(inc *Incident) []byte {
	k := make([]byte, 8, 8+len(inc.ID))
	binary.BigEndian.PutUint64(k, uint64(inc.UpdatedAt.UnixNano()))
	return append(k, inc.ID...)
}

func getIncident(tx *bolt.Tx, id string) *Incident {
	v := tx.Bucket(bucketHistory).Get([]byte(id))
	if v == nil {
		return nil
	}
	var inc Incident
	if json.Unmarshal(v, &inc) != nil {
		return nil
	}
	return &inc
}

// putIncident merges later into the file's record of its incident.
func putIncident(tx *bolt.Tx, later Incident) error {
	old := getIncident(tx, later.ID)
	return writeIncident(tx, old, mergeIncident(old, later))
}

// writeIncident replaces old (nil: none) by inc, with its index keys.
func writeIncident(tx *bolt.Tx, old, inc *Incident) error {
	if old != nil {
		if err := tx.Bucket(bucketHistoryChanged).Delete(changedKey(old)); err != nil {
			return err
		}
	}
	data, err := json.Marshal(inc)
	if err != nil {
		return err
	}
	if err := tx.Bucket(bucketHistory).Put([]byte(inc.ID), data); err != nil {
		return err
	}
	if err := tx.Bucket(bucketHistoryChanged).Put(changedKey(inc), nil); err != nil {
		return err
	}
	if inc.Open() {
		return tx.Bucket(bucketHistoryOpen).Put([]byte(inc.ID), nil)
	}
	return tx.Bucket(bucketHistoryOpen).Delete([]byte(inc.ID))
}

// pruneHistory drops, oldest change first, the resolved records older
// than HistoryKeep and any beyond HistoryMax.
func pruneHistory(tx *bolt.Tx, now time.Time) error {
	hist, changed, open := tx.Bucket(bucketHistory), tx.Bucket(bucketHistoryChanged), tx.Bucket(bucketHistoryOpen)
	excess := hist.Stats().KeyN - HistoryMax
	cutoff := uint64(now.Add(-HistoryKeep).UnixNano())
	var drop [][]byte
	c := changed.Cursor()
	for k, _ := c.First(); k != nil && len(k) >= 8; k, _ = c.Next() {
		old := binary.BigEndian.Uint64(k[:8]) < cutoff
		if !old && excess <= 0 {
			break
		}
		id := k[8:]
		if excess <= 0 && open.Get(id) != nil {
			continue // an open incident stays however old
		}
		drop = append(drop, bytes.Clone(k))
		excess--
	}
	for _, k := range drop {
		for _, err := range []error{changed.Delete(k), hist.Delete(k[8:]), open.Delete(k[8:])} {
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// History is what the status page reads: the open incidents and those
// changed since since (resolved ones among them), newest change first.
func (s *Store) History(since time.Time) ([]Incident, error) {
	// Memory's records are replaced, never changed: read them without
	// holding commits back while the file is read.
	s.mu.Lock()
	pending := maps.Clone(s.pend.history)
	s.mu.Unlock()
	seen := map[string]bool{}
	var out []Incident
	add := func(inc *Incident) {
		if inc == nil || seen[inc.ID] {
			return
		}
		seen[inc.ID] = true // memory's record hides the file's, shown or not
		if inc.Open() || !inc.UpdatedAt.Before(since) {
			out = append(out, *inc)
		}
	}
	for _, inc := range pending { // newer than the file's
		add(inc)
	}
	err := s.view(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketHistoryChanged).Cursor()
		from := uint64(since.UnixNano())
		for k, _ := c.Last(); k != nil && len(k) >= 8 && binary.BigEndian.Uint64(k[:8]) >= from; k, _ = c.Prev() {
			add(getIncident(tx, string(k[8:])))
		}
		return tx.Bucket(bucketHistoryOpen).ForEach(func(id, _ []byte) error {
			add(getIncident(tx, string(id)))
			return nil
		})
	})
	slices.SortStableFunc(out, func(a, b Incident) int { return b.UpdatedAt.Compare(a.UpdatedAt) })
	return out, err
}

// historyMemoryLocked merges an incident into what waits in memory.
func (s *Store) historyMemoryLocked(later Incident) {
	old, ok := s.pend.history[later.ID]
	if !ok {
		_ = s.view(func(tx *bolt.Tx) error {
			old = getIncident(tx, later.ID)
			return nil
		})
	}
	s.pend.history[later.ID] = mergeIncident(old, later)
	if len(s.pend.history) > HistoryMax {
		// Bounded as the file is, through an outage however long: the
		// resolved record changed longest ago goes first.
		var oldest *Incident
		for _, inc := range s.pend.history {
			if !inc.Open() && (oldest == nil || inc.UpdatedAt.Before(oldest.UpdatedAt)) {
				oldest = inc
			}
		}
		if oldest != nil {
			delete(s.pend.history, oldest.ID)
		}
	}
}

// flushHistory writes the records merged in memory.
func flushHistory(tx *bolt.Tx, records map[string]*Incident) error {
	for _, inc := range records {
		if err := writeIncident(tx, getIncident(tx, inc.ID), inc); err != nil {
			return err
		}
	}
	return nil
}

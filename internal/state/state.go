// Package state is whalewatch's durable memory in STATE_DIR: the outbox of
// notifications not yet delivered (and the ids delivered recently), the
// alert core's checkpoint (each daemon's cursor, the containers running at
// it, groups and crash loops), Slack threads, pending buttons and mutes.
// One bbolt file, whalewatch.db, with a format version.
package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/whalewatch/whalewatch/event"
)

var (
	bucketMeta    = []byte("meta")    // "format" → FormatVersion (decimal)
	bucketOutbox  = []byte("outbox")  // outbox/<destination>/<seq> → notification JSON
	bucketIDs     = []byte("ids")     // <destination>\x00<id> → expiry (unix ns): queued or delivered recently
	bucketCursor  = []byte("cursors") // <host> → cursor (decimal timeNano)
	bucketRunning = []byte("running") // running/<host>/<id> → event.Container JSON: the set at the cursor
	bucketCore    = []byte("core")    // <key> → one entry of the alert core's own state (JSON)
	bucketThreads = []byte("threads") // <group key> → Thread JSON
	bucketButtons = []byte("buttons") // <token> → button JSON with its expiry
	bucketReplays = []byte("replays") // <key> → expiry (unix ns): Slack requests already acted on
	bucketMutes   = []byte("mutes")   // <glob> → until (RFC 3339)

	allBuckets = [][]byte{bucketMeta, bucketOutbox, bucketIDs, bucketCursor, bucketRunning, bucketCore, bucketThreads, bucketButtons, bucketReplays, bucketMutes,
		bucketHistory, bucketHistoryChanged, bucketHistoryOpen}
)

// FormatVersion is the layout of whalewatch.db this code writes. A file
// without a version is format 1 (before checkpoints were split): its
// outbox and mutes are read, its old checkpoints are dropped with a
// warning (the streams start live and reconcile). A newer file is refused.
const FormatVersion = 3

// IDTTL is how long a notification id is remembered after it was queued:
// the same id offered again within it is refused (a replay after a crash).
const IDTTL = 24 * time.Hour

// Store is the open state file.
type Store struct {
	db          *bolt.DB
	durable     bool
	tmpDir      string
	path        string
	beforeWrite func(op string) error

	mu     sync.Mutex
	counts map[string]int // outbox entries per destination in the file, counted once then kept
	// writeErr: the last outbox write failed; until a Flush succeeds,
	// commits and removals are kept in pend (memory) instead.
	writeErr error
	pend     pending
	failures atomic.Int64

	muteGen atomic.Int64 // bumped by every SetMute

	// Upgraded tells that Open found a format-1 file and dropped its old
	// checkpoints (the caller logs it).
	Upgraded bool
	// Recovered tells that Open found the file damaged, moved it aside and
	// started fresh (the caller says so, loudly).
	Recovered     *Recovery
	outboxFormat1 bool // entries to rewrite before use (UpgradeOutbox)
	// Duplicates counts notifications refused because their id was known.
	Duplicates atomic.Int64
	lastPrune  time.Time
	// when threads and buttons were last pruned (unix ns): at most once a
	// minute, not at every save.
	threadsPruned, buttonsPruned, historyPruned atomic.Int64
}

// pruneDue tells whether a minute has passed since *last, and claims it.
func pruneDue(last *atomic.Int64, now time.Time) bool {
	prev := last.Load()
	return now.UnixNano()-prev >= int64(time.Minute) && last.CompareAndSwap(prev, now.UnixNano())
}

// view is db.View that turns a panic or fault on a damaged page into an error.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return safely(func() error { return s.db.View(fn) })
}

// update is db.Update behind the fault-injection seam, turning a panic or
// fault on a damaged page into an error.
func (s *Store) update(op string, fn func(*bolt.Tx) error) error {
	if s.beforeWrite != nil {
		if err := s.beforeWrite(op); err != nil {
			return err
		}
	}
	return safely(func() error { return s.db.Update(fn) })
}

// ready tells whether the file is already in this format with every bucket.
func (s *Store) ready() bool {
	ok := false
	_ = s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || string(meta.Get([]byte("format"))) != strconv.Itoa(FormatVersion) {
			return nil
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				return nil
			}
		}
		ok = true
		return nil
	})
	return ok
}

// prepare checks the file's format version, upgrades a format-1 file and
// creates the buckets.
func (s *Store) prepare(tx *bolt.Tx) error {
	version := 1
	if meta := tx.Bucket(bucketMeta); meta != nil {
		v, err := strconv.Atoi(string(meta.Get([]byte("format"))))
		if err != nil {
			return fmt.Errorf("unreadable format version %q", meta.Get([]byte("format")))
		}
		version = v
	} else if tx.Bucket(bucketOutbox) == nil {
		version = FormatVersion // a new file
	}
	switch {
	case version > FormatVersion:
		return fmt.Errorf("written by a newer whalewatch (state format %d; this one reads up to %d): use that version or another STATE_DIR", version, FormatVersion)
	case version < FormatVersion:
		// Format 1 kept a JSON checkpoint per host in "cursors", whose
		// running set could lag its cursor: drop it rather than trust it.
		if version == 1 && tx.Bucket(bucketCursor) != nil {
			if err := tx.DeleteBucket(bucketCursor); err != nil {
				return err
			}
			s.Upgraded = true
		}
		// Its outbox entries are in an older layout: UpgradeOutbox
		// rewrites them, and only then is the file format 2.
		s.outboxFormat1 = version == 1 && tx.Bucket(bucketOutbox).ForEachBucket(func([]byte) error { return errNotEmpty }) != nil
		if version == 2 {
			if err := splitRunningSets(tx); err != nil {
				return fmt.Errorf("upgrade the running sets of format 2: %w", err)
			}
		}
	}
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	if s.outboxFormat1 {
		return nil
	}
	return tx.Bucket(bucketMeta).Put([]byte("format"), []byte(strconv.Itoa(FormatVersion)))
}

var (
	errNotEmpty      = errors.New("not empty")
	errOutboxFormat1 = errors.New("the outbox is in an older layout: UpgradeOutbox first")
)

// UpgradeOutbox rewrites, with convert, the entries a format-1 file holds,
// and then marks the file format 2, in one transaction; an entry convert
// refuses fails the whole upgrade (nothing is misread). It does nothing
// for a file already in format 2.
func (s *Store) UpgradeOutbox(convert func(old []byte) ([]byte, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.outboxFormat1 {
		return nil
	}
	err := s.update("upgrade", func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketOutbox).ForEachBucket(func(dest []byte) error {
			b := tx.Bucket(bucketOutbox).Bucket(dest)
			return b.ForEach(func(k, v []byte) error {
				data, err := convert(v)
				if err != nil {
					return fmt.Errorf("outbox entry %d of %s: %w", binary.BigEndian.Uint64(k), dest, err)
				}
				return b.Put(k, data)
			})
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put([]byte("format"), []byte(strconv.Itoa(FormatVersion)))
	})
	if err != nil {
		return fmt.Errorf("upgrade the outbox of an older whalewatch: %w", err)
	}
	s.outboxFormat1 = false
	return nil
}

// Durable tells whether the state survives a restart.
func (s *Store) Durable() bool { return s.durable }

// Close closes the file (and removes a temporary one).
func (s *Store) Close() error {
	err := s.db.Close()
	if s.tmpDir != "" {
		err = errors.Join(err, os.RemoveAll(s.tmpDir))
	}
	return err
}

// ---- outbox ----------------------------------------------------------------

// Entry is one queued item of a destination.
type Entry struct {
	Seq  uint64
	Data []byte
}

// Message is one notification to queue for some destinations.
type Message struct {
	ID    string
	Data  []byte
	Dests []string
	// Incident, when set, is merged into the history with the message
	// (unless every destination refused its id as known).
	Incident *Incident
}

// Snapshot is the alert core's checkpoint: where each daemon's stream may
// resume, the containers running at that point, and the core's own state.
// To Commit it holds only what changed since the last commit, so its cost
// follows the events, not the number of containers; LoadSnapshot gives
// everything.
type Snapshot struct {
	Cursors map[string]int64
	// Running: per host, containers that started (the value) or stopped
	// (nil) since the last commit; from LoadSnapshot, every one running.
	Running map[string]map[string]*event.Container
	// Core: entries of the core's state that changed (nil: deleted);
	// from LoadSnapshot, all of them.
	Core map[string][]byte
}

// Outcome is what Commit did with each message's destinations.
type Outcome struct {
	Queued    map[string]int // destination → messages queued
	Full      map[string]int // destination → messages dropped: its queue was full
	Duplicate int            // message-destination pairs refused: id known
}

// Commit queues msgs and saves snap in one transaction, so the outbox and
// the checkpoint never disagree, whatever instant whalewatch is killed at.
// A destination whose queue holds max entries gets nothing; an id the
// destination already holds or was given within IDTTL is refused.
//
// When the file cannot be written (a full disk, an I/O error, a read-only
// remount) Commit keeps msgs and snap in memory, in order after what
// already waits there, and succeeds: Entries gives them, WriteError says
// so, and Flush writes them once the disk takes writes again.
func (s *Store) Commit(msgs []Message, snap Snapshot, max int, now time.Time) (Outcome, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outboxFormat1 {
		return Outcome{}, errOutboxFormat1
	}
	if s.writeErr != nil {
		out := s.commitMemoryLocked(msgs, snap, max, now.UnixNano())
		s.Duplicates.Add(int64(out.Duplicate))
		return out, nil
	}
	var out Outcome
	err := s.update("commit", func(tx *bolt.Tx) error {
		out = Outcome{Queued: map[string]int{}, Full: map[string]int{}}
		ids := tx.Bucket(bucketIDs)
		expiry := make([]byte, 8)
		binary.BigEndian.PutUint64(expiry, uint64(now.Add(IDTTL).UnixNano()))
		for _, m := range msgs {
			known := 0
			for _, d := range m.Dests {
				idKey := []byte(d + "\x00" + m.ID)
				if v := ids.Get(idKey); v != nil && int64(binary.BigEndian.Uint64(v)) > now.UnixNano() {
					out.Duplicate++
					known++
					continue
				}
				if s.lenLocked(tx, d)+out.Queued[d] >= max {
					out.Full[d]++
					continue
				}
				b, err := tx.Bucket(bucketOutbox).CreateBucketIfNotExists([]byte(d))
				if err != nil {
					return err
				}
				seq, err := b.NextSequence()
				if err != nil {
					return err
				}
				if err := b.Put(key(seq), m.Data); err != nil {
					return err
				}
				if err := ids.Put(idKey, expiry); err != nil {
					return err
				}
				out.Queued[d]++
			}
			if m.Incident != nil && (known < len(m.Dests) || len(m.Dests) == 0) {
				if err := putIncident(tx, *m.Incident); err != nil {
					return err
				}
			}
		}
		if err := saveSnapshot(tx, snap); err != nil {
			return err
		}
		if pruneDue(&s.historyPruned, now) {
			if err := pruneHistory(tx, now); err != nil {
				return err
			}
		}
		if now.Sub(s.lastPrune) >= time.Hour {
			return pruneIDs(ids, now)
		}
		return nil
	})
	if err != nil {
		s.failedLocked(fmt.Errorf("commit to %s: %w", s.path, err))
		out := s.commitMemoryLocked(msgs, snap, max, now.UnixNano())
		s.Duplicates.Add(int64(out.Duplicate))
		return out, nil
	}
	if now.Sub(s.lastPrune) >= time.Hour {
		s.lastPrune = now
	}
	for d, n := range out.Queued {
		s.counts[d] += n
	}
	s.Duplicates.Add(int64(out.Duplicate))
	return out, nil
}

func saveSnapshot(tx *bolt.Tx, snap Snapshot) error {
	for host, cursor := range snap.Cursors {
		if err := tx.Bucket(bucketCursor).Put([]byte(host), []byte(strconv.FormatInt(cursor, 10))); err != nil {
			return err
		}
	}
	for host, changes := range snap.Running {
		b, err := tx.Bucket(bucketRunning).CreateBucketIfNotExists([]byte(host))
		if err != nil {
			return err
		}
		for id, c := range changes {
			if err := putJSON(b, id, c); err != nil {
				return err
			}
		}
	}
	core := tx.Bucket(bucketCore)
	for k, v := range snap.Core {
		if err := putOrDelete(core, k, v); err != nil {
			return err
		}
	}
	return nil
}

// putJSON puts v under k, or deletes k when v is nil.
func putJSON[T any](b *bolt.Bucket, k string, v *T) error {
	if v == nil {
		return b.Delete([]byte(k))
	}
	data, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put([]byte(k), data)
}

func putOrDelete(b *bolt.Bucket, k string, v []byte) error {
	if v == nil {
		return b.Delete([]byte(k))
	}
	return b.Put([]byte(k), v)
}

// splitRunningSets turns format 2's one JSON running set per host into a
// key per container (format 3).
func splitRunningSets(tx *bolt.Tx) error {
	running := tx.Bucket(bucketRunning)
	if running == nil {
		return nil
	}
	old := map[string][]byte{}
	err := running.ForEach(func(k, v []byte) error {
		if v != nil { // a nested bucket has no value
			old[string(k)] = append([]byte(nil), v...)
		}
		return nil
	})
	if err != nil {
		return err
	}
	for host, data := range old {
		var set map[string]event.Container
		if err := json.Unmarshal(data, &set); err != nil {
			return fmt.Errorf("running containers of %s: %w", host, err)
		}
		if err := running.Delete([]byte(host)); err != nil {
			return err
		}
		b, err := running.CreateBucket([]byte(host))
		if err != nil {
			return err
		}
		for id, c := range set {
			if err := putJSON(b, id, &c); err != nil {
				return err
			}
		}
	}
	return nil
}

// pruneIDs deletes the keys whose expiry has passed.
func pruneIDs(ids *bolt.Bucket, now time.Time) error {
	c := ids.Cursor()
	for k, v := c.First(); k != nil; {
		if int64(binary.BigEndian.Uint64(v)) <= now.UnixNano() {
			if err := c.Delete(); err != nil {
				return err
			}
			k, v = c.Seek(k)
			continue
		}
		k, v = c.Next()
	}
	return nil
}

// LoadSnapshot reads the last committed checkpoint.
func (s *Store) LoadSnapshot() (Snapshot, error) {
	snap := Snapshot{Cursors: map[string]int64{}, Running: map[string]map[string]*event.Container{}, Core: map[string][]byte{}}
	s.mu.Lock()
	defer s.mu.Unlock()
	err := s.view(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketCursor).ForEach(func(k, v []byte) error {
			cursor, err := strconv.ParseInt(string(v), 10, 64)
			if err != nil {
				return fmt.Errorf("cursor of %s: %w", k, err)
			}
			snap.Cursors[string(k)] = cursor
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketRunning).ForEachBucket(func(host []byte) error {
			set := map[string]*event.Container{}
			snap.Running[string(host)] = set
			return tx.Bucket(bucketRunning).Bucket(host).ForEach(func(id, v []byte) error {
				var c event.Container
				if err := json.Unmarshal(v, &c); err != nil {
					return fmt.Errorf("running container %s of %s: %w", id, host, err)
				}
				set[string(id)] = &c
				return nil
			})
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketCore).ForEach(func(k, v []byte) error {
			snap.Core[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	// What waits in memory comes after the file.
	maps.Copy(snap.Cursors, s.pend.snap.Cursors)
	for host, changes := range s.pend.snap.Running {
		if snap.Running[host] == nil {
			snap.Running[host] = map[string]*event.Container{}
		}
		for id, c := range changes {
			if c == nil {
				delete(snap.Running[host], id)
			} else {
				snap.Running[host][id] = c
			}
		}
	}
	for k, v := range s.pend.snap.Core {
		if v == nil {
			delete(snap.Core, k)
		} else {
			snap.Core[k] = v
		}
	}
	return snap, err
}

// lenLocked counts a queue, walking it only the first time.
func (s *Store) lenLocked(tx *bolt.Tx, dest string) int {
	n, ok := s.counts[dest]
	if !ok {
		if b := tx.Bucket(bucketOutbox).Bucket([]byte(dest)); b != nil {
			n = b.Stats().KeyN
		}
		s.counts[dest] = n
	}
	return n
}

// Entries reads up to n entries of a destination's queue after seq, in
// order: the file's (but those delivered whose removal waits in memory),
// then the memory's. A damaged page is an *UnreadableError.
func (s *Store) Entries(dest string, after uint64, n int) ([]Entry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.outboxFormat1 {
		return nil, errOutboxFormat1
	}
	var out []Entry
	removed := s.pend.removed[dest]
	err := s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox).Bucket([]byte(dest))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, v := c.Seek(key(after + 1)); k != nil && len(out) < n; k, v = c.Next() {
			seq := binary.BigEndian.Uint64(k)
			if _, ok := removed[seq]; ok {
				continue
			}
			out = append(out, Entry{Seq: seq, Data: append([]byte(nil), v...)})
		}
		return nil
	})
	if err != nil && len(out) > 0 {
		return out, nil // what came before the damage; the next read meets it
	}
	if err != nil {
		return nil, &UnreadableError{Dest: dest, After: after, Err: err}
	}
	for _, e := range s.pend.entries[dest] {
		if len(out) >= n {
			break
		}
		if e.Seq > after {
			out = append(out, e)
		}
	}
	return out, nil
}

// Remove deletes delivered (or given up) entries, in one transaction.
// When the file cannot be written the removal waits in memory (see
// Commit): Entries never gives those entries again, and Flush writes it.
func (s *Store) Remove(dest string, seqs ...uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Entries only in memory just go (their ids stay for Flush).
	if mem := s.pend.entries[dest]; len(mem) > 0 {
		s.pend.entries[dest] = slices.DeleteFunc(mem, func(e Entry) bool { return slices.Contains(seqs, e.Seq) })
		s.pend.dirty = true
	}
	if s.writeErr != nil {
		s.removeMemoryLocked(dest, seqs)
		return nil
	}
	err := s.update("remove", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox).Bucket([]byte(dest))
		if b == nil {
			return nil
		}
		n := s.lenLocked(tx, dest)
		for _, seq := range seqs {
			if b.Get(key(seq)) == nil {
				continue
			}
			if err := b.Delete(key(seq)); err != nil {
				return err
			}
			n--
		}
		s.counts[dest] = n
		return nil
	})
	if err != nil {
		s.failedLocked(fmt.Errorf("remove delivered entries from %s: %w", s.path, err))
		s.removeMemoryLocked(dest, seqs)
	}
	return nil
}

// removeMemoryLocked remembers file entries delivered whose removal
// cannot be written yet: Entries never gives them again. Each is counted
// off the queue's length once (an entry not in the file is not).
func (s *Store) removeMemoryLocked(dest string, seqs []uint64) {
	set := s.pend.removed[dest]
	if set == nil {
		set = map[uint64]bool{}
		s.pend.removed[dest] = set
	}
	for _, seq := range seqs {
		if _, ok := set[seq]; ok {
			continue
		}
		inFile := true // unless the file says otherwise (a damaged page cannot)
		_ = s.view(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketOutbox).Bucket([]byte(dest))
			inFile = b != nil && b.Get(key(seq)) != nil
			return nil
		})
		set[seq] = inFile
	}
	s.pend.dirty = true
}

// Len counts a destination's queue.
func (s *Store) Len(dest string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.counts[dest]; ok && !s.pend.dirty {
		return n // the usual case: no transaction
	}
	return s.lenAllLocked(dest)
}

func key(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// ---- Slack threads -------------------------------------------------------------

// Thread is the Slack message that stands for a group: its updates edit it.
type Thread struct {
	Channel string    `json:"channel"`
	TS      string    `json:"ts"`
	At      time.Time `json:"at"`
	// AckedBy is the Slack user who acknowledged the message, at AckedAt.
	AckedBy string    `json:"acked_by,omitempty"`
	AckedAt time.Time `json:"acked_at,omitzero"`
}

// threadTTL: groups older than this are no longer edited in place.
const threadTTL = 7 * 24 * time.Hour

// SaveThread remembers the message of a group (and forgets old ones).
func (s *Store) SaveThread(group string, t Thread) error {
	data, err := json.Marshal(t)
	if err != nil {
		return err
	}
	return s.update("thread", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketThreads)
		if pruneDue(&s.threadsPruned, time.Now()) {
			c := b.Cursor()
			for k, v := c.First(); k != nil; k, v = c.Next() {
				var old Thread
				if json.Unmarshal(v, &old) != nil || time.Since(old.At) > threadTTL {
					if err := b.Delete(k); err != nil {
						return err
					}
				}
			}
		}
		return b.Put([]byte(group), data)
	})
}

// AckThread records who acknowledged the message at channel/ts, on every
// group or incident it stands for.
func (s *Store) AckThread(channel, ts, user string, at time.Time) error {
	return s.update("thread", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketThreads)
		type change struct{ k, v []byte }
		var changes []change
		err := b.ForEach(func(k, v []byte) error {
			var t Thread
			if json.Unmarshal(v, &t) != nil || t.Channel != channel || t.TS != ts {
				return nil
			}
			t.AckedBy, t.AckedAt = user, at
			data, err := json.Marshal(t)
			changes = append(changes, change{append([]byte(nil), k...), data})
			return err
		})
		if err != nil {
			return err
		}
		if len(changes) == 0 {
			return errors.New("this alert is not kept for updates (older than a week, or not from a bot token)")
		}
		for _, c := range changes {
			if err := b.Put(c.k, c.v); err != nil {
				return err
			}
		}
		return nil
	})
}

// Thread finds the message of a group.
func (s *Store) Thread(group string) (Thread, bool) {
	var t Thread
	var ok bool
	_ = s.view(func(tx *bolt.Tx) error {
		if v := tx.Bucket(bucketThreads).Get([]byte(group)); v != nil {
			ok = json.Unmarshal(v, &t) == nil
		}
		return nil
	})
	return t, ok
}

// ---- pending buttons --------------------------------------------------------------

type button struct {
	Data    []byte    `json:"data"`
	Expires time.Time `json:"expires"`
}

// PutButton keeps what a button's token stands for until it expires.
func (s *Store) PutButton(token string, data []byte, expires time.Time) error {
	v, err := json.Marshal(button{Data: data, Expires: expires})
	if err != nil {
		return err
	}
	return s.update("button", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketButtons)
		if now := time.Now(); pruneDue(&s.buttonsPruned, now) {
			c := b.Cursor()
			for k, old := c.First(); k != nil; k, old = c.Next() {
				var bt button
				if json.Unmarshal(old, &bt) != nil || now.After(bt.Expires) {
					if err := b.Delete(k); err != nil {
						return err
					}
				}
			}
		}
		return b.Put([]byte(token), v)
	})
}

// TakeButton removes a token and returns what it stood for; ok is false
// when it is unknown, used or expired.
func (s *Store) TakeButton(token string, now time.Time) (data []byte, ok bool, err error) {
	err = s.update("button", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketButtons)
		v := b.Get([]byte(token))
		if v == nil {
			return nil
		}
		var bt button
		if err := json.Unmarshal(v, &bt); err != nil {
			return err
		}
		if err := b.Delete([]byte(token)); err != nil {
			return err
		}
		data, ok = bt.Data, !now.After(bt.Expires)
		return nil
	})
	return data, ok, err
}

// ---- replay protection --------------------------------------------------------------

// FirstUse records key until expires. It reports false when key is already
// recorded and not expired: a replay. Kept in the file, so a restart does
// not reopen the window.
func (s *Store) FirstUse(key string, expires, now time.Time) (first bool, err error) {
	err = s.update("replay", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketReplays)
		if v := b.Get([]byte(key)); v != nil && int64(binary.BigEndian.Uint64(v)) > now.UnixNano() {
			return nil
		}
		if b.Stats().KeyN > 1000 {
			if err := pruneIDs(b, now); err != nil {
				return err
			}
		}
		v := make([]byte, 8)
		binary.BigEndian.PutUint64(v, uint64(expires.UnixNano()))
		first = true
		return b.Put([]byte(key), v)
	})
	return first, err
}

// ---- mutes ---------------------------------------------------------------------

// SetMute mutes containers whose name matches glob until the time given;
// a zero time unmutes.
func (s *Store) SetMute(glob string, until time.Time) error {
	defer s.muteGen.Add(1)
	return s.update("mute", func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketMutes)
		if until.IsZero() {
			return b.Delete([]byte(glob))
		}
		return b.Put([]byte(glob), []byte(until.UTC().Format(time.RFC3339)))
	})
}

// MuteGeneration changes whenever a mute is set or lifted.
func (s *Store) MuteGeneration() int64 { return s.muteGen.Load() }

// Mutes lists the mutes still in force at now.
func (s *Store) Mutes(now time.Time) (map[string]time.Time, error) {
	out := map[string]time.Time{}
	err := s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMutes).ForEach(func(k, v []byte) error {
			if until, err := time.Parse(time.RFC3339, string(v)); err == nil && until.After(now) {
				out[string(k)] = until
			}
			return nil
		})
	})
	return out, err
}

// Package state is whalewatch's durable memory in STATE_DIR: the outbox of
// notifications not yet delivered, each daemon's event cursor and the
// containers it knew running, and mutes. One bbolt file, whalewatch.db.
package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketOutbox = []byte("outbox")  // outbox/<destination>/<seq> → notification JSON
	bucketCursor = []byte("cursors") // <host> → Checkpoint JSON
	bucketMutes  = []byte("mutes")   // <glob> → until (RFC 3339)
)

// Store is the open state file.
type Store struct {
	db      *bolt.DB
	durable bool
	tmpDir  string

	mu     sync.Mutex
	counts map[string]int // outbox entries per destination, counted once then kept

	muteGen atomic.Int64 // bumped by every SetMute
}

// Open opens (or creates) the state in dir. With dir empty the state
// lives in a temporary file for this run only: nothing survives a restart.
func Open(dir string) (*Store, error) {
	s := &Store{durable: dir != "", counts: map[string]int{}}
	if dir == "" {
		tmp, err := os.MkdirTemp("", "whalewatch-state")
		if err != nil {
			return nil, err
		}
		dir, s.tmpDir = tmp, tmp
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("STATE_DIR: %w", err)
	}
	db, err := bolt.Open(filepath.Join(dir, "whalewatch.db"), 0o600, &bolt.Options{Timeout: 5 * time.Second, NoSync: !s.durable})
	if err != nil {
		return nil, fmt.Errorf("STATE_DIR: open %s: %w", filepath.Join(dir, "whalewatch.db"), err)
	}
	s.db = db
	err = db.Update(func(tx *bolt.Tx) error {
		for _, b := range [][]byte{bucketOutbox, bucketCursor, bucketMutes} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	return s, nil
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

// Enqueue appends data to the queue of each destination in one
// transaction. A destination whose queue already holds max entries gets
// nothing; Enqueue returns those destinations.
func (s *Store) Enqueue(dests []string, data []byte, max int) (full []string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var added []string
	err = s.db.Update(func(tx *bolt.Tx) error {
		full, added = nil, nil
		for _, d := range dests {
			if s.lenLocked(tx, d) >= max {
				full = append(full, d)
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
			if err := b.Put(key(seq), data); err != nil {
				return err
			}
			added = append(added, d)
		}
		return nil
	})
	if err == nil {
		for _, d := range added {
			s.counts[d]++
		}
	}
	return full, err
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

// First returns the oldest entry of a destination's queue.
func (s *Store) First(dest string) (Entry, bool, error) {
	var e Entry
	var ok bool
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox).Bucket([]byte(dest))
		if b == nil {
			return nil
		}
		k, v := b.Cursor().First()
		if k != nil {
			e, ok = Entry{Seq: binary.BigEndian.Uint64(k), Data: append([]byte(nil), v...)}, true
		}
		return nil
	})
	return e, ok, err
}

// Remove deletes a delivered (or given up) entry.
func (s *Store) Remove(dest string, seq uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox).Bucket([]byte(dest))
		if b == nil || b.Get(key(seq)) == nil {
			return nil
		}
		n := s.lenLocked(tx, dest)
		if err := b.Delete(key(seq)); err != nil {
			return err
		}
		s.counts[dest] = n - 1
		return nil
	})
}

// Len counts a destination's queue.
func (s *Store) Len(dest string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n, ok := s.counts[dest]; ok {
		return n // the usual case: no transaction
	}
	n := 0
	_ = s.db.View(func(tx *bolt.Tx) error {
		n = s.lenLocked(tx, dest)
		return nil
	})
	return n
}

func key(seq uint64) []byte {
	k := make([]byte, 8)
	binary.BigEndian.PutUint64(k, seq)
	return k
}

// ---- event cursors -----------------------------------------------------------

// Checkpoint is where a daemon's stream may resume, and which containers
// were running then (to find those that die while whalewatch is down).
type Checkpoint struct {
	Cursor  int64                `json:"cursor"`
	Running map[string]Container `json:"running,omitempty"`
}

// Container is what a checkpoint remembers of a running container.
type Container struct {
	Name   string            `json:"name"`
	Image  string            `json:"image"`
	Labels map[string]string `json:"labels,omitempty"`
}

// SaveCheckpoint stores a host's checkpoint.
func (s *Store) SaveCheckpoint(host string, cp Checkpoint) error {
	data, err := json.Marshal(cp)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketCursor).Put([]byte(host), data) })
}

// LoadCheckpoint reads a host's checkpoint; ok is false when there is none.
func (s *Store) LoadCheckpoint(host string) (cp Checkpoint, ok bool, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketCursor).Get([]byte(host))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &cp)
	})
	return cp, ok, err
}

// ---- mutes ---------------------------------------------------------------------

// SetMute mutes containers whose name matches glob until the time given;
// a zero time unmutes.
func (s *Store) SetMute(glob string, until time.Time) error {
	defer s.muteGen.Add(1)
	return s.db.Update(func(tx *bolt.Tx) error {
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
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMutes).ForEach(func(k, v []byte) error {
			if until, err := time.Parse(time.RFC3339, string(v)); err == nil && until.After(now) {
				out[string(k)] = until
			}
			return nil
		})
	})
	return out, err
}

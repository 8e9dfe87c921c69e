package state

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"

	bolt "go.etcd.io/bbolt"

	"github.com/whalewatch/whalewatch/event"
)

// What a Store holds in memory while its file cannot be written (a full
// disk, an I/O error, a read-only remount): the commits and removals made
// since, merged in order, written in one transaction by Flush once the
// disk takes writes again. Meanwhile Entries gives the memory's entries
// after the file's, and never an entry delivered whose removal waits.
type pending struct {
	entries map[string][]Entry         // destination → entries not in the file, in seq order
	removed map[string]map[uint64]bool // destination → file entries delivered, removal not written
	seq     map[string]uint64          // destination → last seq handed out
	ids     map[string]int64           // known key ("<destination>\x00<id>") → expiry (unix ns), not in the file
	snap    Snapshot                   // checkpoint changes not in the file, merged in order
	history map[string]*Incident       // incident records not in the file, merged with the file's
	dirty   bool                       // anything to write
}

func newPending() pending {
	return pending{entries: map[string][]Entry{}, removed: map[string]map[uint64]bool{}, seq: map[string]uint64{}, ids: map[string]int64{},
		history: map[string]*Incident{},
		snap:    Snapshot{Cursors: map[string]int64{}, Running: map[string]map[string]*event.Container{}, Core: map[string][]byte{}}}
}

// merge lays the changes of a later checkpoint over the pending ones:
// the result is what writing both in order would give.
func (s *Snapshot) merge(later Snapshot) {
	maps.Copy(s.Cursors, later.Cursors)
	for host, changes := range later.Running {
		set := s.Running[host]
		if set == nil {
			set = map[string]*event.Container{}
			s.Running[host] = set
		}
		for id, c := range changes {
			if c != nil {
				c2 := *c
				c = &c2
			}
			set[id] = c // nil: stopped, deleted at the flush
		}
	}
	for k, v := range later.Core {
		s.Core[k] = bytes.Clone(v) // nil stays nil: deleted at the flush
	}
}

// WriteError is the last failed write of the outbox or checkpoint while
// what it holds waits in memory; nil when the file is up to date.
func (s *Store) WriteError() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeErr
}

// Changed is closed at the next commit, removal or flush (whatever its
// outcome): a wait for a condition on the outbox or on WriteError takes it
// before checking the condition, so no change slips between the two.
func (s *Store) Changed() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.changed == nil {
		s.changed = make(chan struct{})
	}
	return s.changed
}

// changedLocked wakes the waiters of Changed (none in production: no cost).
func (s *Store) changedLocked() {
	if s.changed != nil {
		close(s.changed)
		s.changed = nil
	}
}

// WriteFailures counts the write transactions that failed.
func (s *Store) WriteFailures() int64 { return s.failures.Load() }

// PendingCount is how many notifications wait in memory, not in the file.
func (s *Store) PendingCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, e := range s.pend.entries {
		n += len(e)
	}
	return n
}

// failed records a failed write: what it carried stays in memory.
func (s *Store) failedLocked(err error) {
	s.failures.Add(1)
	s.writeErr = err
}

// commitMemoryLocked does what Commit's transaction would, in memory.
func (s *Store) commitMemoryLocked(msgs []Message, snap Snapshot, max int, now int64) Outcome {
	out := Outcome{Queued: map[string]int{}, Full: map[string]int{}}
	expiry := now + int64(IDTTL)
	for _, m := range msgs {
		known := 0
		for _, d := range m.Dests {
			idKey := d + "\x00" + m.ID
			h := s.known.hash([]byte(idKey))
			if s.known.known(h, now) {
				out.Duplicate++
				known++
				continue
			}
			if s.lenAllLocked(d)+out.Queued[d] >= max {
				out.Full[d]++
				continue
			}
			seq := s.lastSeqLocked(d) + 1
			s.pend.seq[d] = seq
			s.pend.entries[d] = append(s.pend.entries[d], Entry{Seq: seq, Data: bytes.Clone(m.Data)})
			s.pend.ids[idKey] = expiry
			s.known.add(h, expiry)
			out.Queued[d]++
		}
		if m.Incident != nil && (known < len(m.Dests) || len(m.Dests) == 0) {
			s.historyMemoryLocked(*m.Incident)
		}
	}
	s.pend.snap.merge(snap)
	s.pend.dirty = true
	return out
}

// lastSeqLocked is the last seq handed out for dest, in the file or in memory.
func (s *Store) lastSeqLocked(dest string) uint64 {
	if seq, ok := s.pend.seq[dest]; ok {
		return seq
	}
	var seq uint64
	_ = s.view(func(tx *bolt.Tx) error {
		if b := tx.Bucket(bucketOutbox).Bucket([]byte(dest)); b != nil {
			seq = b.Sequence()
		}
		return nil
	})
	return seq
}

// lenAllLocked counts dest's queue: the file's entries not delivered, and
// the memory's.
func (s *Store) lenAllLocked(dest string) int {
	n := 0
	_ = s.view(func(tx *bolt.Tx) error {
		n = s.lenLocked(tx, dest)
		return nil
	})
	for _, inFile := range s.pend.removed[dest] {
		if inFile {
			n--
		}
	}
	return max(n, 0) + len(s.pend.entries[dest])
}

// Flush writes what waits in memory — notifications, known ids, checkpoint
// changes, removals — in one transaction. It does nothing when nothing
// waits; on error everything stays in memory for the next try.
func (s *Store) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.writeErr == nil && !s.pend.dirty {
		return nil
	}
	defer s.changedLocked()
	err := s.update("flush", func(tx *bolt.Tx) error {
		out := tx.Bucket(bucketOutbox)
		for d, entries := range s.pend.entries {
			b, err := out.CreateBucketIfNotExists([]byte(d))
			if err != nil {
				return err
			}
			for _, e := range entries {
				if err := b.Put(key(e.Seq), e.Data); err != nil {
					return err
				}
			}
		}
		for d, seq := range s.pend.seq {
			b, err := out.CreateBucketIfNotExists([]byte(d))
			if err != nil {
				return err
			}
			if seq > b.Sequence() {
				if err := b.SetSequence(seq); err != nil {
					return err
				}
			}
		}
		for d, seqs := range s.pend.removed {
			b := out.Bucket([]byte(d))
			if b == nil {
				continue
			}
			for seq := range seqs {
				if err := b.Delete(key(seq)); err != nil {
					return err
				}
			}
		}
		known := tx.Bucket(bucketKnown)
		var keyBuf []byte
		for k, exp := range s.pend.ids {
			keyBuf = binary.BigEndian.AppendUint64(keyBuf[:0], uint64(exp))
			if err := known.Put(append(keyBuf, k...), []byte{}); err != nil {
				return err
			}
		}
		if err := flushHistory(tx, s.pend.history); err != nil {
			return err
		}
		return saveSnapshot(tx, s.pend.snap)
	})
	if err != nil {
		s.failedLocked(err)
		return fmt.Errorf("write what waited in memory to %s: %w", s.path, err)
	}
	for d := range s.pend.entries {
		delete(s.counts, d) // counted again from the file
	}
	for d := range s.pend.removed {
		delete(s.counts, d)
	}
	s.pend, s.writeErr = newPending(), nil
	return nil
}

// UnreadableError is an outbox page that cannot be read (damaged after
// the check at open): SkipUnreadable steps past it.
type UnreadableError struct {
	Dest  string
	After uint64
	Err   error
}

func (e *UnreadableError) Error() string {
	return fmt.Sprintf("outbox of %s after entry %d is unreadable: %v", e.Dest, e.After, e.Err)
}

func (e *UnreadableError) Unwrap() error { return e.Err }

// SkipUnreadable finds the first entry of dest after `after` that can be
// read past a damaged page, probing further and further; it returns that
// seq (or one past the last seq handed out). What lies between is lost.
func (s *Store) SkipUnreadable(dest string, after uint64) uint64 {
	s.mu.Lock()
	last := s.lastSeqLocked(dest)
	s.mu.Unlock()
	for step := uint64(1); after+step <= last; step *= 2 {
		probe := after + step
		var found uint64
		err := s.view(func(tx *bolt.Tx) error {
			b := tx.Bucket(bucketOutbox).Bucket([]byte(dest))
			if b == nil {
				return nil
			}
			if k, _ := b.Cursor().Seek(key(probe)); k != nil {
				found = binary.BigEndian.Uint64(k)
			}
			return nil
		})
		if err == nil {
			if found == 0 {
				return last + 1
			}
			return found
		}
	}
	return last + 1
}

package state

import (
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"
)

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
	defer s.changedLocked()
	if s.outboxFormat1 {
		return Outcome{}, errOutboxFormat1
	}
	if s.writeErr != nil {
		out := s.commitMemoryLocked(msgs, snap, max, now.UnixNano())
		s.Duplicates.Add(int64(out.Duplicate))
		return out, nil
	}
	var out Outcome
	var added []idHash
	err := s.update("commit", func(tx *bolt.Tx) error {
		out = Outcome{Queued: map[string]int{}, Full: map[string]int{}}
		var err error
		if added, err = s.queueTx(tx, msgs, max, now, &out); err != nil {
			return err
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
			return s.pruneKnownTx(tx, now.UnixNano())
		}
		return nil
	})
	if err != nil {
		for _, h := range added {
			delete(s.known.expiry, h) // unknown before: the memory makes them known again
		}
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

// queueTx puts msgs in the outbox and their ids among the known ones; added
// are the ids it made known (forgotten again when tx fails).
func (s *Store) queueTx(tx *bolt.Tx, msgs []Message, max int, now time.Time, out *Outcome) (added []idHash, err error) {
	known := tx.Bucket(bucketKnown)
	known.FillPercent = 0.95 // its keys only grow: fill pages rather than split them in halves
	exp := now.Add(IDTTL).UnixNano()
	// bbolt copies keys: these buffers serve them all.
	var seqBuf [8]byte
	var keyBuf [128]byte
	var queue *bolt.Bucket
	lastDest := ""
	for _, m := range msgs {
		refused := 0
		for _, d := range m.Dests {
			idKey := appendKnownKey(keyBuf[:0], exp, d, m.ID)
			h := s.known.hash(idKey[8:])
			if s.known.known(h, now.UnixNano()) {
				out.Duplicate++
				refused++
				continue
			}
			if s.lenLocked(tx, d)+out.Queued[d] >= max {
				out.Full[d]++
				continue
			}
			if queue == nil || d != lastDest { // messages mostly go to the same few destinations
				if queue, err = tx.Bucket(bucketOutbox).CreateBucketIfNotExists([]byte(d)); err != nil {
					return added, err
				}
				lastDest = d
			}
			seq, err := queue.NextSequence()
			if err != nil {
				return added, err
			}
			if err := queue.Put(binary.BigEndian.AppendUint64(seqBuf[:0], seq), m.Data); err != nil {
				return added, err
			}
			if err := known.Put(idKey, []byte{}); err != nil {
				return added, err
			}
			s.known.add(h, exp)
			added = append(added, h)
			out.Queued[d]++
		}
		if m.Incident != nil && (refused < len(m.Dests) || len(m.Dests) == 0) {
			if err := putIncident(tx, *m.Incident); err != nil {
				return added, err
			}
		}
	}
	return added, nil
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
	defer s.changedLocked()
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

package state

import (
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	bolt "go.etcd.io/bbolt"

	"github.com/whalewatch/whalewatch/event"
)

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

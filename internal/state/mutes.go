package state

import (
	"time"

	bolt "go.etcd.io/bbolt"
)

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

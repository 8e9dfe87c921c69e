package state

import (
	"encoding/json"

	bolt "go.etcd.io/bbolt"
)

// ThreadKeys lists the groups and incidents whose message is channel/ts
// (what an Acknowledge click on that message stands for).
func (s *Store) ThreadKeys(channel, ts string) []string {
	var keys []string
	_ = s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketThreads).ForEach(func(k, v []byte) error {
			var t Thread
			if json.Unmarshal(v, &t) == nil && t.Channel == channel && t.TS == ts {
				keys = append(keys, string(k))
			}
			return nil
		})
	})
	return keys
}

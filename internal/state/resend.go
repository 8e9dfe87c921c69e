package state

import (
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// bucketResend keeps, per destination, the last payload of each open
// incident that the destination must post again periodically
// (Alertmanager resolves an alert nobody re-sends): resend/<dest>/<key>.
var bucketResend = []byte("resend")

// PutResend keeps the payload to post again for key at dest.
func (s *Store) PutResend(dest, key string, payload []byte) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		root, err := tx.CreateBucketIfNotExists(bucketResend)
		if err != nil {
			return err
		}
		b, err := root.CreateBucketIfNotExists([]byte(dest))
		if err != nil {
			return err
		}
		return b.Put([]byte(key), payload)
	})
}

// Resend is the kept payload of key at dest, if any.
func (s *Store) Resend(dest, key string) ([]byte, bool) {
	var out []byte
	_ = s.db.View(func(tx *bolt.Tx) error {
		if b := resendBucket(tx, dest); b != nil {
			if v := b.Get([]byte(key)); v != nil {
				out = append([]byte(nil), v...)
			}
		}
		return nil
	})
	return out, out != nil
}

// DeleteResend forgets key at dest (its incident resolved).
func (s *Store) DeleteResend(dest, key string) error {
	return s.db.Update(func(tx *bolt.Tx) error {
		if b := resendBucket(tx, dest); b != nil {
			return b.Delete([]byte(key))
		}
		return nil
	})
}

// Resends lists dest's kept payloads by key.
func (s *Store) Resends(dest string) (map[string][]byte, error) {
	out := map[string][]byte{}
	err := s.db.View(func(tx *bolt.Tx) error {
		b := resendBucket(tx, dest)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			out[string(k)] = append([]byte(nil), v...)
			return nil
		})
	})
	if err != nil {
		return nil, fmt.Errorf("read resends of %s: %w", dest, err)
	}
	return out, nil
}

// Writable tells whether the state file takes a write now (the heartbeat
// asks it): a full disk or a file gone read-only fails it.
func (s *Store) Writable() error {
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketMeta).Put([]byte("alive"), []byte{1})
	})
}

func resendBucket(tx *bolt.Tx, dest string) *bolt.Bucket {
	root := tx.Bucket(bucketResend)
	if root == nil {
		return nil
	}
	return root.Bucket([]byte(dest))
}

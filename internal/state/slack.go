package state

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

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

package state

import (
	"bytes"
	"encoding/binary"
	"hash/maphash"

	bolt "go.etcd.io/bbolt"
)

// The outbox's known ids: each destination's ids queued within IDTTL,
// refused when offered again. The file keeps them in bucketKnown keyed by
// expiry ‖ destination ‖ id, so a commit's ids land together at the tree's
// right edge (a few pages rewritten per commit, not one per id) and
// pruning takes the expired ones from its left edge. Lookups go to a map
// built from the file at open (about 70 bytes and 0.4 µs an id), keyed by
// a 128-bit hash of destination and id (random seeds: nothing hashed is
// ever written).

// bucketKnown: <expiry, unix ns big-endian><destination>\x00<id> → empty.
var bucketKnown = []byte("known")

// bucketIDs is format 3's known ids, <destination>\x00<id> → expiry,
// moved into bucketKnown on open.
var bucketIDs = []byte("ids")

type idHash [2]uint64

type knownIDs struct {
	seeds  [2]maphash.Seed
	expiry map[idHash]int64 // unix ns; also the ids that wait in memory
}

func newKnownIDs() knownIDs {
	return knownIDs{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, expiry: map[idHash]int64{}}
}

// hash is of a known key's "<destination>\x00<id>".
func (k *knownIDs) hash(destID []byte) idHash {
	return idHash{maphash.Bytes(k.seeds[0], destID), maphash.Bytes(k.seeds[1], destID)}
}

// known: the id was queued for dest and has not expired at now.
func (k *knownIDs) known(h idHash, now int64) bool {
	exp, ok := k.expiry[h]
	return ok && exp > now
}

func (k *knownIDs) add(h idHash, exp int64) {
	if exp > k.expiry[h] {
		k.expiry[h] = exp
	}
}

// forget drops an id whose file key expired, unless it was queued again since.
func (k *knownIDs) forget(fileKey []byte) {
	exp, destID, ok := splitKnownKey(fileKey)
	if !ok {
		return
	}
	if h := k.hash(destID); k.expiry[h] == exp {
		delete(k.expiry, h)
	}
}

// appendKnownKey appends the file key of an id to buf.
func appendKnownKey(buf []byte, exp int64, dest, id string) []byte {
	buf = binary.BigEndian.AppendUint64(buf, uint64(exp))
	buf = append(buf, dest...)
	buf = append(buf, 0)
	return append(buf, id...)
}

// splitKnownKey parts a file key into its expiry and "<destination>\x00<id>".
func splitKnownKey(k []byte) (exp int64, destID []byte, ok bool) {
	if len(k) < 9 {
		return 0, nil, false
	}
	return int64(binary.BigEndian.Uint64(k)), k[8:], true
}

// loadKnownIDs builds the map from the file.
func (s *Store) loadKnownIDs() error {
	s.known = newKnownIDs()
	return s.view(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketKnown).ForEach(func(k, _ []byte) error {
			if exp, destID, ok := splitKnownKey(k); ok {
				s.known.add(s.known.hash(destID), exp)
			}
			return nil
		})
	})
}

// pruneKnownTx deletes the ids expired at now, oldest first.
func (s *Store) pruneKnownTx(tx *bolt.Tx, now int64) error {
	c := tx.Bucket(bucketKnown).Cursor()
	for k, _ := c.First(); len(k) >= 8 && int64(binary.BigEndian.Uint64(k)) <= now; k, _ = c.First() {
		s.known.forget(k)
		if err := c.Delete(); err != nil {
			return err
		}
	}
	return nil
}

// moveFormat3IDs moves format 3's known ids into bucketKnown.
func moveFormat3IDs(tx *bolt.Tx) error {
	old := tx.Bucket(bucketIDs)
	if old == nil {
		return nil
	}
	known, err := tx.CreateBucketIfNotExists(bucketKnown)
	if err != nil {
		return err
	}
	err = old.ForEach(func(k, v []byte) error {
		if len(v) != 8 {
			return nil
		}
		return known.Put(append(bytes.Clone(v), k...), []byte{})
	})
	if err != nil {
		return err
	}
	return tx.DeleteBucket(bucketIDs)
}

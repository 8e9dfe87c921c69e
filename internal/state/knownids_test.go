package state

import (
	"encoding/binary"
	"path/filepath"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Known ids are refused after a reopen too, and pruned from the file once
// expired; an id queued again after its TTL stays known through the prune.
func TestKnownIDsSurviveReopenAndArePruned(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	commit := func(s *Store, at time.Time, m Message) Outcome {
		t.Helper()
		res, err := s.Commit([]Message{m}, Snapshot{}, 10, at)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	commit(s, now, msg(1, "a", "b"))
	commit(s, now.Add(time.Hour), msg(2, "a"))
	s.Close()
	if s, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	if res := commit(s, now.Add(2*time.Hour), msg(1, "a", "b")); res.Duplicate != 2 {
		t.Errorf("after reopen: %+v", res)
	}
	// A day later id1 expired (and is queued again), id2 is still known.
	later := now.Add(IDTTL + time.Minute)
	if res := commit(s, later, msg(1, "a")); res.Queued["a"] != 1 {
		t.Errorf("after the TTL: %+v", res)
	}
	if res := commit(s, later.Add(2*time.Hour), msg(2, "a")); res.Queued["a"] != 1 {
		t.Errorf("id2 after its TTL: %+v", res)
	}
	if res := commit(s, later.Add(2*time.Hour), msg(1, "a")); res.Duplicate != 1 {
		t.Errorf("id1 queued again, then pruned around: %+v", res)
	}
	var keys int
	_ = s.view(func(tx *bolt.Tx) error {
		keys = tx.Bucket(bucketKnown).Stats().KeyN
		return nil
	})
	if keys != 2 { // id1 and id2 of a, queued again; the first three pruned
		t.Errorf("known keys in the file: %d", keys)
	}
	s.Close()
}

// A format-3 file's known ids (bucket "ids", keyed by id) are moved on
// open: still refused, the old bucket gone, the file format 4.
func TestFormat3KnownIDsAreMoved(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, FileName), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	_ = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		_ = meta.Put([]byte("format"), []byte("3"))
		_, _ = tx.CreateBucket(bucketOutbox)
		ids, _ := tx.CreateBucket(bucketIDs)
		exp := binary.BigEndian.AppendUint64(nil, uint64(now.Add(time.Hour).UnixNano()))
		return ids.Put([]byte("a\x00id1"), exp)
	})
	_ = db.Close()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if res, err := s.Commit([]Message{msg(1, "a", "b")}, Snapshot{}, 10, now); err != nil || res.Duplicate != 1 || res.Queued["b"] != 1 {
		t.Errorf("after the move: %+v %v", res, err)
	}
	_ = s.view(func(tx *bolt.Tx) error {
		if tx.Bucket(bucketIDs) != nil || string(tx.Bucket(bucketMeta).Get([]byte("format"))) != "4" {
			t.Errorf("old bucket kept or format %s", tx.Bucket(bucketMeta).Get([]byte("format")))
		}
		return nil
	})
}

package state

import (
	"path/filepath"
	"testing"

	bolt "go.etcd.io/bbolt"
)

// A format-2 file keeps its checkpoint: each host's running set becomes a
// key per container, and the core's one-piece state stays for the core to
// read (and replace by entries at its next commit).
func TestFormat2CheckpointIsKept(t *testing.T) {
	dir := t.TempDir()
	db, err := bolt.Open(filepath.Join(dir, "whalewatch.db"), 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	_ = db.Update(func(tx *bolt.Tx) error {
		meta, _ := tx.CreateBucket(bucketMeta)
		_ = meta.Put([]byte("format"), []byte("2"))
		_, _ = tx.CreateBucket(bucketOutbox)
		cur, _ := tx.CreateBucket(bucketCursor)
		_ = cur.Put([]byte("h"), []byte("42"))
		run, _ := tx.CreateBucket(bucketRunning)
		_ = run.Put([]byte("h"), []byte(`{"c1":{"name":"web","image":"shop/web"}}`))
		core, _ := tx.CreateBucket(bucketCore)
		return core.Put([]byte("state"), []byte(`{"version":1}`))
	})
	_ = db.Close()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	snap, err := s.LoadSnapshot()
	if err != nil || snap.Cursors["h"] != 42 || snap.Running["h"]["c1"] == nil || snap.Running["h"]["c1"].Image != "shop/web" || string(snap.Core["state"]) != `{"version":1}` {
		t.Errorf("after the upgrade: %+v %v", snap, err)
	}
}

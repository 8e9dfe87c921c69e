// Package state is whalewatch's durable memory in STATE_DIR: the outbox of
// notifications not yet delivered (and the ids delivered recently), the
// alert core's checkpoint (each daemon's cursor, the containers running at
// it, groups and crash loops), Slack threads, pending buttons and mutes.
// One bbolt file, whalewatch.db, with a format version.
package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	bolt "go.etcd.io/bbolt"
)

var (
	bucketMeta    = []byte("meta")    // "format" → FormatVersion (decimal)
	bucketOutbox  = []byte("outbox")  // outbox/<destination>/<seq> → notification JSON
	bucketCursor  = []byte("cursors") // <host> → cursor (decimal timeNano)
	bucketRunning = []byte("running") // running/<host>/<id> → event.Container JSON: the set at the cursor
	bucketCore    = []byte("core")    // <key> → one entry of the alert core's own state (JSON)
	bucketThreads = []byte("threads") // <group key> → Thread JSON
	bucketButtons = []byte("buttons") // <token> → button JSON with its expiry
	bucketReplays = []byte("replays") // <key> → expiry (unix ns): Slack requests already acted on
	bucketMutes   = []byte("mutes")   // <glob> → until (RFC 3339)

	allBuckets = [][]byte{bucketMeta, bucketOutbox, bucketKnown, bucketCursor, bucketRunning, bucketCore, bucketThreads, bucketButtons, bucketReplays, bucketMutes,
		bucketHistory, bucketHistoryChanged, bucketHistoryOpen}
)

// FormatVersion is the layout of whalewatch.db this code writes. A file
// without a version is format 1 (before checkpoints were split): its
// outbox and mutes are read, its old checkpoints are dropped with a
// warning (the streams start live and reconcile). Format 3 kept the known
// ids keyed by id (see knownids.go). A newer file is refused.
const FormatVersion = 4

// IDTTL is how long a notification id is remembered after it was queued:
// the same id offered again within it is refused (a replay after a crash).
const IDTTL = 24 * time.Hour

// Store is the open state file.
type Store struct {
	db          *bolt.DB
	durable     bool
	tmpDir      string
	path        string
	beforeWrite func(op string) error

	mu     sync.Mutex
	counts map[string]int // outbox entries per destination in the file, counted once then kept
	// writeErr: the last outbox write failed; until a Flush succeeds,
	// commits and removals are kept in pend (memory) instead.
	writeErr error
	pend     pending
	failures atomic.Int64
	changed  chan struct{} // see Changed; nil until asked for

	muteGen atomic.Int64 // bumped by every SetMute

	// Upgraded tells that Open found a format-1 file and dropped its old
	// checkpoints (the caller logs it).
	Upgraded bool
	// Recovered tells that Open found the file damaged, moved it aside and
	// started fresh (the caller says so, loudly).
	Recovered     *Recovery
	outboxFormat1 bool // entries to rewrite before use (UpgradeOutbox)
	known         knownIDs
	// Duplicates counts notifications refused because their id was known.
	Duplicates atomic.Int64
	lastPrune  time.Time
	// when threads and buttons were last pruned (unix ns): at most once a
	// minute, not at every save.
	threadsPruned, buttonsPruned, historyPruned atomic.Int64
}

// pruneDue tells whether a minute has passed since *last, and claims it.
func pruneDue(last *atomic.Int64, now time.Time) bool {
	prev := last.Load()
	return now.UnixNano()-prev >= int64(time.Minute) && last.CompareAndSwap(prev, now.UnixNano())
}

// view is db.View that turns a panic or fault on a damaged page into an error.
func (s *Store) view(fn func(*bolt.Tx) error) error {
	return safely(func() error { return s.db.View(fn) })
}

// update is db.Update behind the fault-injection seam, turning a panic or
// fault on a damaged page into an error. The seam fails a transaction
// after its work ran, as a full or failing disk does when bbolt writes
// and syncs: what the work changed beside the file must be undone too.
func (s *Store) update(op string, fn func(*bolt.Tx) error) error {
	if s.beforeWrite == nil {
		return safely(func() error { return s.db.Update(fn) })
	}
	return safely(func() error {
		return s.db.Update(func(tx *bolt.Tx) error {
			if err := fn(tx); err != nil {
				return err
			}
			return s.beforeWrite(op)
		})
	})
}

// ready tells whether the file is already in this format with every bucket.
func (s *Store) ready() bool {
	ok := false
	_ = s.view(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil || string(meta.Get([]byte("format"))) != strconv.Itoa(FormatVersion) {
			return nil
		}
		for _, b := range allBuckets {
			if tx.Bucket(b) == nil {
				return nil
			}
		}
		ok = true
		return nil
	})
	return ok
}

// prepare checks the file's format version, upgrades a format-1 file and
// creates the buckets.
func (s *Store) prepare(tx *bolt.Tx) error {
	version := 1
	if meta := tx.Bucket(bucketMeta); meta != nil {
		v, err := strconv.Atoi(string(meta.Get([]byte("format"))))
		if err != nil {
			return fmt.Errorf("unreadable format version %q", meta.Get([]byte("format")))
		}
		version = v
	} else if tx.Bucket(bucketOutbox) == nil {
		version = FormatVersion // a new file
	}
	switch {
	case version > FormatVersion:
		return fmt.Errorf("written by a newer whalewatch (state format %d; this one reads up to %d): use that version or another STATE_DIR", version, FormatVersion)
	case version < FormatVersion:
		// Format 1 kept a JSON checkpoint per host in "cursors", whose
		// running set could lag its cursor: drop it rather than trust it.
		if version == 1 && tx.Bucket(bucketCursor) != nil {
			if err := tx.DeleteBucket(bucketCursor); err != nil {
				return err
			}
			s.Upgraded = true
		}
		// Its outbox entries are in an older layout: UpgradeOutbox
		// rewrites them, and only then is the file format 2.
		s.outboxFormat1 = version == 1 && tx.Bucket(bucketOutbox).ForEachBucket(func([]byte) error { return errNotEmpty }) != nil
		if version == 2 {
			if err := splitRunningSets(tx); err != nil {
				return fmt.Errorf("upgrade the running sets of format 2: %w", err)
			}
		}
		if err := moveFormat3IDs(tx); err != nil {
			return fmt.Errorf("upgrade the known ids of format %d: %w", version, err)
		}
	}
	for _, b := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(b); err != nil {
			return err
		}
	}
	if s.outboxFormat1 {
		return nil
	}
	return tx.Bucket(bucketMeta).Put([]byte("format"), []byte(strconv.Itoa(FormatVersion)))
}

var (
	errNotEmpty      = errors.New("not empty")
	errOutboxFormat1 = errors.New("the outbox is in an older layout: UpgradeOutbox first")
)

// UpgradeOutbox rewrites, with convert, the entries a format-1 file holds,
// and then marks the file format 2, in one transaction; an entry convert
// refuses fails the whole upgrade (nothing is misread). It does nothing
// for a file already in format 2.
func (s *Store) UpgradeOutbox(convert func(old []byte) ([]byte, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.outboxFormat1 {
		return nil
	}
	err := s.update("upgrade", func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketOutbox).ForEachBucket(func(dest []byte) error {
			b := tx.Bucket(bucketOutbox).Bucket(dest)
			return b.ForEach(func(k, v []byte) error {
				data, err := convert(v)
				if err != nil {
					return fmt.Errorf("outbox entry %d of %s: %w", binary.BigEndian.Uint64(k), dest, err)
				}
				return b.Put(k, data)
			})
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put([]byte("format"), []byte(strconv.Itoa(FormatVersion)))
	})
	if err != nil {
		return fmt.Errorf("upgrade the outbox of an older whalewatch: %w", err)
	}
	s.outboxFormat1 = false
	return nil
}

// Durable tells whether the state survives a restart.
func (s *Store) Durable() bool { return s.durable }

// Close closes the file (and removes a temporary one).
func (s *Store) Close() error {
	err := s.db.Close()
	if s.tmpDir != "" {
		err = errors.Join(err, os.RemoveAll(s.tmpDir))
	}
	return err
}

// Path is the state file.
func (s *Store) Path() string { return s.path }

// FileName is the state file in STATE_DIR.
const FileName = "whalewatch.db"

// Options tune Open.
type Options struct {
	// NoSync: commits are not synced to disk (a killed process loses
	// nothing, a crashed machine may). For simulations.
	NoSync bool
	// BeforeWrite, when set, is called as each write transaction is about
	// to be written, with its kind ("commit", "remove", "flush", "thread",
	// "button", "replay", "mute"); an error fails that write as the disk
	// would (ENOSPC, EIO, EROFS): after the transaction's work ran, which
	// is rolled back. A fault-injection seam for tests; nil in production.
	BeforeWrite func(op string) error
	// LockTimeout bounds the wait for another process's lock (5 s).
	LockTimeout time.Duration
	// SkipCheck skips the consistency check at open (tests that damage a
	// file after it was checked).
	SkipCheck bool
}

// Recovery tells that Open found the state file damaged, moved it aside
// and started a fresh one: what it held (undelivered notifications, the
// checkpoint, Slack threads, buttons, mutes) is lost, and the streams
// start live.
type Recovery struct {
	Path    string // the state file
	MovedTo string // where the damaged file is now
	Reason  string // what was wrong with it
}

// ErrLocked: another process (another whalewatch) holds the state file.
var ErrLocked = errors.New("another whalewatch holds the state file (it stays locked while that process runs): stop it, or give this one another STATE_DIR")

// CorruptError is a state file that cannot be trusted.
type CorruptError struct {
	Path   string
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("%s is damaged (%s)", e.Path, e.Reason)
}

// Open opens (or creates) the state in dir. With dir empty the state
// lives in a temporary file for this run only: nothing survives a restart.
// A damaged file is moved aside and a fresh one started (see Recovered);
// a file another process holds is refused with ErrLocked.
func Open(dir string) (*Store, error) { return OpenWith(dir, Options{}) }

// OpenUnsynced opens the state in dir without syncing each commit to disk:
// a killed process loses nothing, a crashed machine may. For simulations
// that kill whalewatch thousands of times.
func OpenUnsynced(dir string) (*Store, error) { return OpenWith(dir, Options{NoSync: true}) }

// OpenWith is Open with options.
func OpenWith(dir string, o Options) (*Store, error) {
	s := &Store{durable: dir != "", counts: map[string]int{}, beforeWrite: o.BeforeWrite, pend: newPending()}
	noSync := o.NoSync
	if dir == "" {
		tmp, err := os.MkdirTemp("", "whalewatch-state")
		if err != nil {
			return nil, err
		}
		dir, s.tmpDir, noSync = tmp, tmp, true
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("STATE_DIR: %w", err)
	}
	s.path = filepath.Join(dir, FileName)
	timeout := o.LockTimeout
	if timeout == 0 {
		timeout = 5 * time.Second
	}
	opts := &bolt.Options{Timeout: timeout, NoSync: noSync}
	db, err := openChecked(s.path, opts, !o.SkipCheck)
	var corrupt *CorruptError
	if errors.As(err, &corrupt) {
		moved := fmt.Sprintf("%s.corrupt-%s", s.path, time.Now().UTC().Format("20060102T150405.000Z"))
		if rerr := os.Rename(s.path, moved); rerr != nil {
			return nil, fmt.Errorf("STATE_DIR: %w; and it cannot be moved aside: %w", err, rerr)
		}
		s.Recovered = &Recovery{Path: s.path, MovedTo: moved, Reason: corrupt.Reason}
		db, err = openChecked(s.path, opts, false)
	}
	if err != nil {
		return nil, fmt.Errorf("STATE_DIR: %w", err)
	}
	s.db = db
	// A file ready has nothing to create or upgrade: no write, no fsync at start.
	if !s.ready() {
		if err := s.update("prepare", s.prepare); err != nil {
			_ = db.Close()
			return nil, fmt.Errorf("STATE_DIR: %s: %w", s.path, err)
		}
	}
	if err := s.loadKnownIDs(); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("STATE_DIR: read the known ids of %s: %w", s.path, err)
	}
	return s, nil
}

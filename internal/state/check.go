package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime/debug"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// openChecked opens path and, with check, makes sure every page can be
// read (bbolt trusts its file and panics, or faults, on a damaged one).
// A damaged file is a *CorruptError; a held one ErrLocked.
func openChecked(path string, opts *bolt.Options, check bool) (db *bolt.DB, err error) {
	info, err := os.Stat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		check = false // a new file
	case err != nil:
		return nil, fmt.Errorf("%s: %w", path, err)
	case info.IsDir():
		return nil, fmt.Errorf("%s is a directory, not a state file: remove it or give another STATE_DIR", path)
	case info.Size() == 0:
		// bbolt would silently make a new file of it; a zero-length file
		// is one torn at its creation, or truncated.
		return nil, &CorruptError{Path: path, Reason: "the file is empty"}
	}
	err = safely(func() error {
		db, err = bolt.Open(path, 0o600, opts)
		return err
	})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, fmt.Errorf("%s: %w", path, ErrLocked)
	case errors.Is(err, berrors.ErrInvalid), errors.Is(err, berrors.ErrChecksum), errors.Is(err, berrors.ErrVersionMismatch),
		errors.As(err, new(panicError)):
		return nil, &CorruptError{Path: path, Reason: err.Error()}
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, err
		}
		// bbolt's other open errors read the file's header or freelist.
		return nil, &CorruptError{Path: path, Reason: err.Error()}
	}
	if !check {
		return db, nil
	}
	if err := verify(db, path); err != nil {
		_ = db.Close()
		return nil, &CorruptError{Path: path, Reason: err.Error()}
	}
	return db, nil
}

// verify reads every page the file's tree reaches, in this goroutine (so
// a damaged page is a recovered panic, not a crash), then runs bbolt's
// own consistency check (page types, order, freelist, unreachable pages).
func verify(db *bolt.DB, path string) error {
	return safely(func() error {
		return db.View(func(tx *bolt.Tx) error {
			if info, err := os.Stat(path); err == nil && info.Size() < tx.Size() {
				return fmt.Errorf("the file is %d bytes, its pages reach %d: it was truncated", info.Size(), tx.Size())
			}
			var walk func(b *bolt.Bucket) error
			walk = func(b *bolt.Bucket) error {
				return b.ForEach(func(k, v []byte) error {
					if v == nil {
						if child := b.Bucket(k); child != nil {
							return walk(child)
						}
					}
					return nil
				})
			}
			err := tx.ForEach(func(name []byte, b *bolt.Bucket) error { return walk(b) })
			if err != nil {
				return err
			}
			// tx.Check reads both meta pages in a goroutine of its own, where
			// a damaged one is a crash: bbolt uses the other meta page, and
			// the next commits rewrite it, so the file is kept unchecked.
			if !metaPagesIntact(path, db.Info().PageSize) {
				return nil
			}
			var errs []error
			for err := range tx.Check() {
				if len(errs) < 5 {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		})
	})
}

// metaPagesIntact: both meta pages name themselves (page ids 0 and 1,
// meta flag), as tx.Check asserts.
func metaPagesIntact(path string, pageSize int) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	for id := range 2 {
		hdr := make([]byte, 16)
		if _, err := f.ReadAt(hdr, int64(id*pageSize)); err != nil {
			return false
		}
		if binary.LittleEndian.Uint64(hdr) != uint64(id) || binary.LittleEndian.Uint16(hdr[8:]) != 0x04 {
			return false
		}
	}
	return true
}

// panicError is a panic bbolt raised on a damaged page, recovered.
type panicError struct{ v any }

func (p panicError) Error() string { return fmt.Sprintf("unreadable page: %v", p.v) }

// safely runs fn, turning a panic or a memory fault (a page beyond the
// mapped file) into an error.
func safely(fn func() error) (err error) {
	old := debug.SetPanicOnFault(true)
	defer debug.SetPanicOnFault(old)
	defer func() {
		if r := recover(); r != nil {
			err = panicError{r}
		}
	}()
	return fn()
}

// Inspect checks the state file in dir as Open would, without changing
// anything: nil when Open would use it (or create it), ErrLocked when
// another process holds it, a *CorruptError when Open would move it
// aside, another error when Open would fail.
func Inspect(dir string) error {
	if dir == "" {
		return nil
	}
	path := filepath.Join(dir, FileName)
	if info, err := os.Stat(dir); err == nil && !info.IsDir() {
		return fmt.Errorf("STATE_DIR %s is not a directory", dir)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	db, err := openChecked(path, &bolt.Options{Timeout: time.Second, ReadOnly: true}, true)
	if err != nil {
		return err
	}
	return db.Close()
}

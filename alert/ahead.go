package alert

import (
	"slices"
	"strconv"
	"strings"
)

// aheadKeys is, per host, the keys of the events handled ahead of the
// cursor, in the order handled (what the checkpoint keeps, as before),
// with an index beside them so that adding a key and moving the cursor
// cost nothing in the list's length: a storm keeps events ahead by the
// ten thousand.
type aheadKeys struct {
	*entries[[]string]
	index map[string]*aheadIndex // host → built on first use (after a restore, once)
}

// aheadIndex: each kept key's timeNano, and the oldest of them, below
// which a cursor passes nothing kept.
type aheadIndex struct {
	nanos  map[string]int64
	oldest int64
}

func newAheadKeys() *aheadKeys {
	return &aheadKeys{entries: newEntries[[]string]("ahead"), index: map[string]*aheadIndex{}}
}

// indexOf is host's index, built from its keys when there is none yet.
func (a *aheadKeys) indexOf(host string) *aheadIndex {
	if ix, ok := a.index[host]; ok {
		return ix
	}
	ix := &aheadIndex{nanos: map[string]int64{}}
	keys, _ := a.get(host)
	for _, k := range keys {
		ix.note(k, keyNano(k))
	}
	a.index[host] = ix
	return ix
}

func (ix *aheadIndex) note(k string, nano int64) {
	if len(ix.nanos) == 0 || nano < ix.oldest {
		ix.oldest = nano
	}
	ix.nanos[k] = nano
}

// add keeps key (of an event at nano) as handled ahead on host.
func (a *aheadKeys) add(host, key string, nano int64) {
	ix := a.indexOf(host)
	if _, ok := ix.nanos[key]; ok {
		return
	}
	ix.note(key, nano)
	keys, _ := a.get(host)
	// Appending in place is safe: what the list was handed out as
	// (Resumes) is a copy, and a checkpoint encodes it before returning.
	a.entries.set(host, append(keys, key))
}

// prune forgets the keys the cursor has passed: a replay from it no longer
// brings them. Only a cursor past the oldest kept key looks at the list.
func (a *aheadKeys) prune(host string, cursor int64) {
	keys, ok := a.get(host)
	if !ok {
		return
	}
	ix := a.indexOf(host)
	if cursor <= ix.oldest {
		return
	}
	kept := slices.DeleteFunc(keys, func(k string) bool {
		if nano := ix.nanos[k]; nano < cursor {
			delete(ix.nanos, k)
			return true
		}
		return false
	})
	if len(kept) == 0 {
		a.del(host)
		return
	}
	ix.oldest = ix.nanos[kept[0]]
	for _, k := range kept[1:] {
		ix.oldest = min(ix.oldest, ix.nanos[k])
	}
	a.entries.set(host, kept)
}

// set and del replace a host's keys whole (adopt moves them to the
// daemon's ID): its index is built again when next used.
func (a *aheadKeys) set(host string, keys []string) {
	a.entries.set(host, keys)
	delete(a.index, host)
}

func (a *aheadKeys) del(host string) {
	a.entries.del(host)
	delete(a.index, host)
}

// load takes a checkpoint's keys; the indexes follow them on first use.
func (a *aheadKeys) load(all map[string][]byte) error {
	clear(a.index)
	return a.entries.load(all)
}

// keyNano is the timeNano an event key (event.Key) starts with; a key
// that does not parse is older than any cursor (pruned at once, as
// before).
func keyNano(k string) int64 {
	t, _, _ := strings.Cut(k, "/")
	nano, err := strconv.ParseInt(t, 10, 64)
	if err != nil {
		return -1 << 63
	}
	return nano
}

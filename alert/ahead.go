package alert

import (
	"cmp"
	"container/heap"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// aheadKeys is, per host, the keys of the events handled ahead of the
// cursor, in the order handled. A storm keeps them by the ten thousand,
// so nothing here costs the number kept: a key is added through a set,
// the cursor passing keys takes them from a heap by time, and the
// checkpoint writes each key once as "aheadkey/<host>|<key>" (its place
// in the order), and its removal.
type aheadKeys struct {
	hosts map[string]*aheadHost
	seq   int64           // the place of the next key added
	dirty map[string]bool // stored keys (host|key) changed since the last commit
	// legacy: hosts whose keys a checkpoint kept in one piece
	// ("ahead/<host>", before this layout): deleted at the next commit.
	legacy map[string]bool
}

type aheadHost struct {
	keys   []string // in the order handled; some may be gone (dead of them)
	dead   int
	kept   map[string]aheadKey
	byNano aheadHeap
}

type aheadKey struct {
	nano, seq int64
	stored    bool // in the checkpoint: its removal is written too
}

func newAheadKeys() *aheadKeys {
	return &aheadKeys{hosts: map[string]*aheadHost{}, dirty: map[string]bool{}, legacy: map[string]bool{}}
}

// get is host's keys in the order handled.
func (a *aheadKeys) get(host string) []string {
	h := a.hosts[host]
	if h == nil {
		return nil
	}
	h.compact()
	return h.keys
}

// add keeps key (of an event at nano) as handled ahead on host.
func (a *aheadKeys) add(host, key string, nano int64) {
	h := a.hosts[host]
	if h == nil {
		h = &aheadHost{kept: map[string]aheadKey{}}
		a.hosts[host] = h
	}
	if _, ok := h.kept[key]; ok {
		return
	}
	a.seq++
	stored := host + "|" + key
	_, deleting := a.dirty[stored] // kept before, its removal not yet written: it is still stored
	h.put(key, aheadKey{nano: nano, seq: a.seq, stored: deleting})
	a.dirty[stored] = true
}

func (h *aheadHost) put(key string, k aheadKey) {
	h.kept[key] = k
	h.keys = append(h.keys, key)
	heap.Push(&h.byNano, aheadRef{nano: k.nano, key: key})
}

// prune forgets the keys the cursor has passed: a replay from it no longer
// brings them.
func (a *aheadKeys) prune(host string, cursor int64) {
	h := a.hosts[host]
	if h == nil {
		return
	}
	for len(h.byNano) > 0 && h.byNano[0].nano < cursor {
		ref := heap.Pop(&h.byNano).(aheadRef)
		if h.kept[ref.key].stored {
			a.dirty[host+"|"+ref.key] = true
		} else {
			delete(a.dirty, host+"|"+ref.key) // never written: a storm's keys mostly come and go between commits
		}
		delete(h.kept, ref.key)
		h.dead++
	}
	if len(h.kept) == 0 {
		delete(a.hosts, host)
	} else if h.dead > len(h.keys)/2 {
		h.compact()
	}
}

// compact drops the keys gone from the order.
func (h *aheadHost) compact() {
	if h.dead == 0 {
		return
	}
	h.keys = slices.DeleteFunc(h.keys, func(k string) bool { _, ok := h.kept[k]; return !ok })
	h.dead = 0
}

// move takes what is kept under host from to host to (adopt: a daemon's
// name to its ID).
func (a *aheadKeys) move(from, to string) {
	h := a.hosts[from]
	if h == nil {
		return
	}
	delete(a.hosts, from)
	for k, v := range h.kept {
		if v.stored {
			a.dirty[from+"|"+k] = true
		}
		a.dirty[to+"|"+k] = true
	}
	a.hosts[to] = h
}

const aheadName = "aheadkey"

func (a *aheadKeys) changes(out map[string][]byte) error {
	for stored := range a.dirty {
		var data []byte
		host, key, _ := strings.Cut(stored, "|")
		if h := a.hosts[host]; h != nil {
			if k, ok := h.kept[key]; ok {
				data = strconv.AppendInt(nil, k.seq, 10)
			}
		}
		out[aheadName+"/"+stored] = data
	}
	for host := range a.legacy {
		out["ahead/"+host] = nil
	}
	return nil
}

func (a *aheadKeys) clean() {
	for stored := range a.dirty {
		host, key, _ := strings.Cut(stored, "|")
		if h := a.hosts[host]; h != nil {
			if k, ok := h.kept[key]; ok {
				k.stored = true
				h.kept[key] = k
			}
		}
	}
	clear(a.dirty)
	clear(a.legacy)
}

func (a *aheadKeys) changed() bool { return len(a.dirty) > 0 || len(a.legacy) > 0 }

// load takes a checkpoint's keys, in their order, and those of the older
// one-piece layout (written again in this one at the next commit).
func (a *aheadKeys) load(all map[string][]byte) error {
	type loaded struct {
		host, key string
		seq       int64
	}
	var keys []loaded
	for stored, data := range all {
		if host, ok := strings.CutPrefix(stored, "ahead/"); ok {
			var list []string
			if err := json.Unmarshal(data, &list); err != nil {
				return fmt.Errorf("ahead %s in the checkpoint: %w", host, err)
			}
			for i, k := range list {
				keys = append(keys, loaded{host: host, key: k, seq: int64(i) - int64(len(list))})
				a.dirty[host+"|"+k] = true
			}
			a.legacy[host] = true
			continue
		}
		rest, ok := strings.CutPrefix(stored, aheadName+"/")
		if !ok {
			continue
		}
		host, key, _ := strings.Cut(rest, "|")
		seq, err := strconv.ParseInt(string(data), 10, 64)
		if err != nil {
			return fmt.Errorf("ahead %s in the checkpoint: %w", rest, err)
		}
		keys = append(keys, loaded{host: host, key: key, seq: seq})
	}
	slices.SortFunc(keys, func(x, y loaded) int { return cmp.Compare(x.seq, y.seq) })
	for _, k := range keys {
		h := a.hosts[k.host]
		if h == nil {
			h = &aheadHost{kept: map[string]aheadKey{}}
			a.hosts[k.host] = h
		}
		if _, ok := h.kept[k.key]; ok {
			continue // in both layouts
		}
		h.put(k.key, aheadKey{nano: keyNano(k.key), seq: k.seq, stored: true})
		a.seq = max(a.seq, k.seq)
	}
	return nil
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

// aheadHeap orders a host's keys by time, oldest first.
type aheadRef struct {
	nano int64
	key  string
}

type aheadHeap []aheadRef

func (h aheadHeap) Len() int           { return len(h) }
func (h aheadHeap) Less(i, j int) bool { return h[i].nano < h[j].nano }
func (h aheadHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *aheadHeap) Push(x any)        { *h = append(*h, x.(aheadRef)) }
func (h *aheadHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

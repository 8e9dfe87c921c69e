package alert

import (
	"encoding/json"
	"fmt"
	"maps"
	"strings"
)

// entries is a map of the core's state that remembers which keys changed,
// so that a checkpoint writes those entries only: its cost follows the
// events, not the number of containers or pending matches. Whoever changes
// a value through a pointer calls touch.
type entries[V any] struct {
	name  string
	m     map[string]V
	dirty map[string]bool
}

func newEntries[V any](name string) *entries[V] {
	return &entries[V]{name: name, m: map[string]V{}, dirty: map[string]bool{}}
}

func (e *entries[V]) get(k string) (V, bool) {
	v, ok := e.m[k]
	return v, ok
}

func (e *entries[V]) set(k string, v V) {
	e.m[k] = v
	e.dirty[k] = true
}

func (e *entries[V]) touch(k string) { e.dirty[k] = true }

func (e *entries[V]) del(k string) {
	if _, ok := e.m[k]; ok {
		delete(e.m, k)
		e.dirty[k] = true
	}
}

// changes adds what changed since the last clean to out, under
// "<name>/<key>" (nil: deleted).
func (e *entries[V]) changes(out map[string][]byte) error {
	for k := range e.dirty {
		var data []byte
		if v, ok := e.m[k]; ok {
			var err error
			if data, err = json.Marshal(v); err != nil {
				return fmt.Errorf("%s %s: %w", e.name, k, err)
			}
		}
		out[e.name+"/"+k] = data
	}
	return nil
}

// clean forgets the changes: they are committed.
func (e *entries[V]) clean() { clear(e.dirty) }

func (e *entries[V]) changed() bool { return len(e.dirty) > 0 }

// load takes the entries of a checkpoint that are this map's.
func (e *entries[V]) load(all map[string][]byte) error {
	for key, data := range all {
		k, ok := strings.CutPrefix(key, e.name+"/")
		if !ok {
			continue
		}
		var v V
		if err := json.Unmarshal(data, &v); err != nil {
			return fmt.Errorf("%s %s in the checkpoint: %w", e.name, k, err)
		}
		e.m[k] = v
	}
	return nil
}

// replace takes a whole map (a checkpoint of the older one-piece layout)
// and marks every entry changed, so the next commit writes them.
func (e *entries[V]) replace(m map[string]V) {
	e.m = maps.Clone(m)
	if e.m == nil {
		e.m = map[string]V{}
	}
	for k := range e.m {
		e.dirty[k] = true
	}
}

// persisted is what every entries map offers the core's checkpoint.
type persisted interface {
	changes(out map[string][]byte) error
	clean()
	changed() bool
	load(all map[string][]byte) error
}

// Package seen remembers recent keys, to drop what arrives twice: replayed
// Docker events, re-delivered Socket Mode envelopes, replayed signatures.
package seen

import "time"

// Set remembers the last Size keys, each for TTL (0: until pushed out).
// It is not safe for concurrent use.
type Set struct {
	ttl  time.Duration
	at   map[string]time.Time
	ring []string
	next int
}

// New makes a Set of size keys. Its map grows as keys come: made at its
// full size, the event stream's cost half a megabyte before any event.
func New(size int, ttl time.Duration) *Set {
	return &Set{ttl: ttl, at: map[string]time.Time{}, ring: make([]string, size)}
}

// Has reports whether key was added within TTL, without adding it.
func (s *Set) Has(key string, now time.Time) bool {
	t, ok := s.at[key]
	return ok && (s.ttl == 0 || now.Sub(t) < s.ttl)
}

// Add remembers key and reports whether it is new (not seen within TTL).
func (s *Set) Add(key string, now time.Time) bool {
	if t, ok := s.at[key]; ok && (s.ttl == 0 || now.Sub(t) < s.ttl) {
		return false
	}
	if old := s.ring[s.next]; old != "" {
		delete(s.at, old)
	}
	s.ring[s.next] = key
	s.next = (s.next + 1) % len(s.ring)
	s.at[key] = now
	return true
}

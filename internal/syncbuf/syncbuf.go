// Package syncbuf is a bytes.Buffer that one goroutine may write while
// another reads: a command's stderr, a log collected in a test.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer is safe for concurrent use. With Max > 0 it keeps only the first
// Max bytes written (and accepts the rest, unstored).
type Buffer struct {
	Max int
	mu  sync.Mutex
	b   bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.Max > 0 && s.b.Len()+len(p) > s.Max {
		s.b.Write(p[:max(0, s.Max-s.b.Len())])
		return len(p), nil
	}
	return s.b.Write(p)
}

// String returns what was kept.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Len is the number of bytes kept.
func (s *Buffer) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Len()
}

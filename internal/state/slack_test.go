package state

import (
	"testing"
	"time"
)

// A button is taken once, survives a reopen, and not after it expires.
func TestButtonsAreSingleUseAndDurable(t *testing.T) {
	dir := t.TempDir()
	s, _ := Open(dir)
	now := time.Now()
	_ = s.PutButton("t1", []byte("start web"), now.Add(time.Hour))
	_ = s.PutButton("t2", []byte("stop web"), now.Add(time.Hour))
	s.Close()
	s, _ = Open(dir)
	defer s.Close()
	if data, ok, err := s.TakeButton("t1", now); !ok || err != nil || string(data) != "start web" {
		t.Errorf("take after reopen: %q %v %v", data, ok, err)
	}
	if _, ok, _ := s.TakeButton("t1", now); ok {
		t.Error("taken twice")
	}
	if _, ok, _ := s.TakeButton("t2", now.Add(2*time.Hour)); ok {
		t.Error("expired button taken")
	}
}

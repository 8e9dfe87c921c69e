package state

import (
	"fmt"
	"testing"
	"time"
)

func TestOutboxIsFIFOAndSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		if full, err := s.Enqueue([]string{"a", "b"}, []byte(fmt.Sprint(i)), 4); err != nil || (i < 4 && len(full) > 0) || (i == 4 && len(full) != 2) {
			t.Fatalf("enqueue %d: full=%v err=%v", i, full, err)
		}
	}
	e, ok, _ := s.First("a")
	if !ok || string(e.Data) != "0" {
		t.Fatalf("first = %q", e.Data)
	}
	if err := s.Remove("a", e.Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.SaveCheckpoint("h", Checkpoint{Cursor: 42, Running: map[string]Container{"c1": {Name: "web"}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetMute("web-*", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	s.Close()

	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Len("a") != 3 || s.Len("b") != 4 {
		t.Errorf("lengths after reopen: a=%d b=%d", s.Len("a"), s.Len("b"))
	}
	if e, _, _ := s.First("a"); string(e.Data) != "1" {
		t.Errorf("first after reopen = %q", e.Data)
	}
	cp, ok, err := s.LoadCheckpoint("h")
	if !ok || err != nil || cp.Cursor != 42 || cp.Running["c1"].Name != "web" {
		t.Errorf("checkpoint = %+v %v %v", cp, ok, err)
	}
	mutes, _ := s.Mutes(time.Now())
	if _, ok := mutes["web-*"]; !ok {
		t.Errorf("mutes = %v", mutes)
	}
	if m, _ := s.Mutes(time.Now().Add(2 * time.Hour)); len(m) != 0 {
		t.Errorf("expired mute still in force: %v", m)
	}
}

func TestTemporaryStateIsRemoved(t *testing.T) {
	s, err := Open("")
	if err != nil {
		t.Fatal(err)
	}
	if s.Durable() {
		t.Error("temporary state claims to be durable")
	}
	if _, err := s.Enqueue([]string{"a"}, []byte("x"), 10); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

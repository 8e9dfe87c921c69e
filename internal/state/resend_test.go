package state

import (
	"testing"
	"time"
)

func TestResendsPerDestinationSurviveReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Resends("am"); err != nil || len(got) != 0 {
		t.Fatalf("empty file: %v %v", got, err)
	}
	if err := s.DeleteResend("am", "inc_x"); err != nil { // nothing yet: no error
		t.Fatal(err)
	}
	for _, kv := range [][3]string{{"am", "inc_1", "a1"}, {"am", "inc_2", "a2"}, {"other", "inc_1", "o1"}, {"am", "inc_1", "a1'"}} {
		if err := s.PutResend(kv[0], kv[1], []byte(kv[2])); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, _ := s.Resends("am")
	if len(got) != 2 || string(got["inc_1"]) != "a1'" || string(got["inc_2"]) != "a2" {
		t.Errorf("am: %q", got)
	}
	if v, ok := s.Resend("other", "inc_1"); !ok || string(v) != "o1" {
		t.Errorf("other: %q %v", v, ok)
	}
	if err := s.DeleteResend("am", "inc_1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := s.Resend("am", "inc_1"); ok {
		t.Error("deleted, still there")
	}
	if err := s.Writable(); err != nil {
		t.Errorf("writable: %v", err)
	}
}

func TestThreadKeys(t *testing.T) {
	s, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, k := range []string{"inc_1", "grp_1"} {
		if err := s.SaveThread(k, Thread{Channel: "C1", TS: "1.1", At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SaveThread("inc_2", Thread{Channel: "C1", TS: "2.2", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if got := s.ThreadKeys("C1", "1.1"); len(got) != 2 {
		t.Errorf("keys: %v", got)
	}
}

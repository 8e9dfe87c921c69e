package seen

import (
	"testing"
	"time"
)

func TestSetForgetsOldestAndExpired(t *testing.T) {
	now := time.Now()
	s := New(2, 0)
	for _, k := range []string{"a", "b", "c"} {
		if !s.Add(k, now) {
			t.Fatalf("%s seen as duplicate", k)
		}
	}
	if s.Add("c", now) {
		t.Error("c not remembered")
	}
	if !s.Add("a", now) {
		t.Error("a should have been pushed out")
	}
	ttl := New(10, time.Minute)
	ttl.Add("x", now)
	if ttl.Add("x", now.Add(59*time.Second)) {
		t.Error("x forgotten within its TTL")
	}
	if !ttl.Add("x", now.Add(61*time.Second)) {
		t.Error("x remembered past its TTL")
	}
}

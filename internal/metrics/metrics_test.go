package metrics

import (
	"fmt"
	"math/rand"
	"testing"
)

// Whatever strings come in, the series stay few: unknown values share
// the label "other".
func TestBoundedKeepsSeriesFew(t *testing.T) {
	m := New()
	known := map[string]bool{"container": true, "die": true}
	rng := rand.New(rand.NewSource(1))
	for range 5000 {
		m.EventsReceived.WithLabelValues("h", Bounded(fmt.Sprint(rng.Int63()), known), Bounded("die", known)).Inc()
		m.EventsReceived.WithLabelValues("h", Bounded("container", known), Bounded(fmt.Sprint(rng.Int63()), known)).Inc()
	}
	families, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == "whalewatch_events_received_total" && len(f.GetMetric()) != 2 {
			t.Errorf("%d series from random types and actions, want 2", len(f.GetMetric()))
		}
	}
}

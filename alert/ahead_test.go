package alert_test

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/alert"
	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
	"github.com/whalewatch/whalewatch/internal/state"
	"github.com/whalewatch/whalewatch/rules"
)

// restored is a core restored from every commit rec saw, applied in turn
// (as the state file keeps them: a nil entry deletes).
func restored(t *testing.T, rec *snapRecorder) *alert.Core {
	t.Helper()
	snap := state.Snapshot{Cursors: map[string]int64{}, Core: map[string][]byte{}}
	for _, s := range rec.snaps {
		maps.Copy(snap.Cursors, s.Cursors)
		for k, v := range s.Core {
			if v == nil {
				delete(snap.Core, k)
			} else {
				snap.Core[k] = v
			}
		}
	}
	core := alert.New(alert.Config{Rules: defaultEngine(t), ResolveAfter: time.Minute}, rec, noMutes{}, quiet(), metrics.New())
	if err := core.Restore(snap); err != nil {
		t.Fatal(err)
	}
	return core
}

func defaultEngine(t *testing.T) *rules.Engine {
	t.Helper()
	engine, err := rules.Compile(rules.Defaults())
	if err != nil {
		t.Fatal(err)
	}
	return engine
}

// The events handled ahead keep the order they were handled in, across a
// restart, and the cursor forgets exactly those it passed, in the
// checkpoint too (each key written once, and its removal).
func TestEventsAheadKeepTheirOrderAndArePrunedByTime(t *testing.T) {
	rec := &snapRecorder{}
	core := alert.New(alert.Config{Rules: defaultEngine(t), ResolveAfter: time.Minute}, rec, noMutes{}, quiet(), metrics.New())
	t0 := time.Unix(1_700_000_000, 0)
	core.Handle(die("c0", 0, t0), t0)
	var want []string
	for _, s := range []int{3, 1, 2, 1} { // a head released late comes older; a repeat is kept once
		it := die(fmt.Sprint("c", s), 0, t0.Add(time.Duration(s)*time.Second))
		it.Ahead = true
		core.Handle(it, t0)
		if !slices.Contains(want, it.Event.Key()) {
			want = append(want, it.Event.Key())
		}
	}
	if got := core.Resumes()["h"].Ahead; !slices.Equal(got, want) {
		t.Fatalf("ahead = %v, want %v", got, want)
	}
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if got := restored(t, rec).Resumes()["h"].Ahead; !slices.Equal(got, want) {
		t.Fatalf("restored ahead = %v, want %v", got, want)
	}
	core.Handle(event.Item{Event: event.Event{Host: "h"}, Cursor: t0.Add(1500 * time.Millisecond).UnixNano()}, t0)
	want = []string{want[0], want[2]} // 3 s and 2 s
	if got := core.Resumes()["h"].Ahead; !slices.Equal(got, want) {
		t.Fatalf("after the cursor passed 1 s: ahead = %v, want %v", got, want)
	}
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if got := restored(t, rec).Resumes()["h"].Ahead; !slices.Equal(got, want) {
		t.Fatalf("restored after the cursor passed 1 s: ahead = %v, want %v", got, want)
	}
	core.Handle(event.Item{Event: event.Event{Host: "h"}, Cursor: t0.Add(4 * time.Second).UnixNano()}, t0)
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	if got := restored(t, rec).Resumes()["h"].Ahead; len(got) != 0 {
		t.Fatalf("the cursor passed every event ahead, still kept: %v", got)
	}
}

// A checkpoint that kept a host's events ahead in one piece (before each
// was a key of its own) is read, and rewritten key by key at the next
// commit.
func TestRestoresTheOnePieceAheadList(t *testing.T) {
	keys := []string{"1700000000000000003/container/die:/c3", "1700000000000000002/container/die:/c2"}
	one := []byte(`["` + keys[0] + `","` + keys[1] + `"]`)
	rec := &snapRecorder{snaps: []state.Snapshot{{Cursors: map[string]int64{"h": 1_700_000_000_000_000_001}, Core: map[string][]byte{"ahead/h": one}}}}
	core := restored(t, rec)
	if got := core.Resumes()["h"].Ahead; !slices.Equal(got, keys) {
		t.Fatalf("ahead = %v, want %v", got, keys)
	}
	if err := core.Commit(true); err != nil {
		t.Fatal(err)
	}
	last := rec.snaps[len(rec.snaps)-1].Core
	if v, ok := last["ahead/h"]; !ok || v != nil {
		t.Fatalf("the one-piece list was not deleted: %q (%v)", v, ok)
	}
	if got := restored(t, rec).Resumes()["h"].Ahead; !slices.Equal(got, keys) {
		t.Fatalf("after the rewrite: ahead = %v, want %v", got, keys)
	}
}

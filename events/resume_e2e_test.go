package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/events"
	"github.com/whalewatch/whalewatch/internal/testdocker"
)

// These tests restart whalewatch's event source against a real daemon, as
// a kill and a start of the process would: the second source resumes from
// the first one's resume point (what the alert core's checkpoint keeps).

// restarted starts a source that resumes where w stopped, tracking ids.
func restarted(t *testing.T, c events.Docker, w *watcher, ids ...string) *watcher {
	t.Helper()
	points := w.resumePoint()
	return startFrom(t, c, points, nil, ids...)
}

// sentinel makes one event after everything the test did, and waits for it
// on w: whatever the source was to send before it has arrived.
func sentinel(t *testing.T, c *client.Client, w *watcher) {
	t.Helper()
	s := testdocker.Run(t, c, testdocker.Spec{Name: "sentinel", NoStart: true, Args: []string{"exit", "0"}})
	w.track(s.ID)
	start(t, c, s.ID)
	w.waitFor(t, "sentinel", 1, 20*time.Second, isAction(s.ID, "die"))
}

// The daemon's since is inclusive: a resumed stream replays the event at
// the cursor. It must not be handed on again (a crash counted twice: a new
// group update, a crash loop out of one crash, an incident of 2 alerts).
func TestResumeDoesNotRepeatTheCursorsEvent(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	w := startSource(t, c, nil)
	crash := testdocker.Run(t, c, testdocker.Spec{Name: "cursor", NoStart: true, Args: []string{"exit", "3"}})
	w.track(crash.ID)
	start(t, c, crash.ID)
	w.waitFor(t, "die", 1, 10*time.Second, isAction(crash.ID, "die"))
	w.stop()
	cursor := w.resumePoint()["test"].Cursor

	w2 := restarted(t, c, w, crash.ID)
	sentinel(t, c, w2)
	w2.mu.Lock()
	defer w2.mu.Unlock()
	if w2.first == nil || w2.first.TimeNano <= cursor {
		t.Errorf("the first event after the restart is %+v, at or before the cursor %d: handed on again", w2.first, cursor)
	}
}

// A container created and crashed while whalewatch was down, followed by
// more than the daemon's 256 buffered events: the replay no longer reaches
// the cursor, so the source reconciles from the daemon's containers and
// reports the death (exit code from inspect), and announces the gap once.
func TestResumeReportsDeathsBeyondTheDaemonsBuffer(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	w := startSource(t, c, nil)
	before := testdocker.Run(t, c, testdocker.Spec{Name: "before", NoStart: true, Args: []string{"exit", "0"}})
	w.track(before.ID)
	start(t, c, before.ID)
	w.waitFor(t, "a first event", 1, 10*time.Second, isAction(before.ID, "die"))
	w.stop()

	// While whalewatch is down: a container is created and crashes, one
	// that was known running is removed, and 300 other events happen.
	crashed := testdocker.Run(t, c, testdocker.Spec{Name: "downtime", Args: []string{"exit", "7"}})
	waitExited(t, c, crashed.ID)
	floodEvents(t, c, 300)

	w2 := restarted(t, c, w, crashed.ID)
	die := w2.waitFor(t, "the reconciled death", 1, 20*time.Second, isAction(crashed.ID, "die"))[0]
	if keepsHistory(t, c) {
		// Podman's event log is a file: nothing is pushed out, the replay
		// has the death itself and there is no gap.
		if die.Reconciled || die.ExitCode != 7 || die.Name != crashed.Name {
			t.Errorf("replayed death = %+v", die)
		}
		sentinel(t, c, w2)
		if got := w2.matching(func(ev event.Event) bool { return ev.Action == "stream_gap" }); len(got) != 0 {
			t.Errorf("gap notices on a daemon that kept every event: %+v", got)
		}
		if got := w2.matching(isAction(crashed.ID, "die")); len(got) != 1 {
			t.Errorf("%d deaths of the crashed container, want 1", len(got))
		}
		return
	}
	if !die.Reconciled || die.ExitCode != 7 || die.Name != crashed.Name {
		t.Errorf("reconciled death = %+v", die)
	}
	gaps := w2.waitFor(t, "the gap notice", 1, 10*time.Second, func(ev event.Event) bool { return ev.Action == "stream_gap" })
	if gaps[0].Attributes["length"] == "" || gaps[0].Attributes["since"] == "" {
		t.Errorf("gap notice = %+v", gaps[0])
	}
	sentinel(t, c, w2)
	if got := w2.matching(func(ev event.Event) bool { return ev.Action == "stream_gap" }); len(got) != 1 {
		t.Errorf("%d gap notices, want 1", len(got))
	}
	if got := w2.matching(isAction(crashed.ID, "die")); len(got) != 1 {
		t.Errorf("%d deaths of the crashed container, want 1", len(got))
	}
}

// A container known running, removed on purpose while whalewatch was down
// (and its events pushed out of the daemon's buffer): inspect answers "No
// such container". That is a removal (its incident resolves), not a crash
// with no exit code.
func TestResumeReportsARemovalNotACrash(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	w := startSource(t, c, nil)
	gone := testdocker.Run(t, c, testdocker.Spec{Name: "removed", NoStart: true})
	w.track(gone.ID)
	start(t, c, gone.ID)
	w.waitFor(t, "start", 1, 10*time.Second, isAction(gone.ID, "start"))
	w.stop()

	if _, err := c.ContainerRemove(context.Background(), gone.ID, client.ContainerRemoveOptions{Force: true}); err != nil {
		t.Fatal(err)
	}
	floodEvents(t, c, 300)
	w2 := restarted(t, c, w, gone.ID)
	w2.waitFor(t, "the reconciled removal", 1, 20*time.Second, isAction(gone.ID, "destroy"))
	sentinel(t, c, w2)
	for _, d := range w2.matching(isAction(gone.ID, "die")) {
		// Podman kept the events: its replay has rm -f's die, which its
		// destroy explains (it sends no kill).
		if !keepsHistory(t, c) || !d.Intentional {
			t.Errorf("a removed container reported as a death: %+v", d)
		}
	}
}

// keepsHistory: the daemon's event history is not a 256-event buffer
// (Podman logs events to a file), so no flood pushes a death out of it.
func keepsHistory(t *testing.T, c *client.Client) bool { return testdocker.IsPodman(t, c) }

// A container labelled exitCode=0 (the label overwrites the die event's
// exitCode attribute) exits 3 and is removed while whalewatch is down. The
// source learnt the shadowing before the restart; the replayed die must not
// believe the label's 0: the container is gone, so the exit code is unknown.
func TestResumeRemembersShadowedExitCodes(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	w := startSource(t, c, nil)
	liar := testdocker.Run(t, c, testdocker.Spec{Name: "liar", NoStart: true, Args: []string{"exit", "3", "3s"},
		Labels: map[string]string{"exitCode": "0"}})
	w.track(liar.ID)
	start(t, c, liar.ID)
	w.waitFor(t, "start", 1, 10*time.Second, isAction(liar.ID, "start"))
	w.stop()

	waitExited(t, c, liar.ID)
	if _, err := c.ContainerRemove(context.Background(), liar.ID, client.ContainerRemoveOptions{}); err != nil {
		t.Fatal(err)
	}
	w2 := restarted(t, c, w, liar.ID)
	die := w2.waitFor(t, "the replayed death", 1, 20*time.Second, isAction(liar.ID, "die"))[0]
	if die.ExitCode == 0 {
		t.Errorf("the label's exit code was believed: %+v", die)
	}
}

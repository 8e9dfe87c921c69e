package e2e

import (
	"syscall"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/internal/testdocker"
)

// State is keyed by the daemon's stable ID, not by the name messages give
// it: whalewatch stopped as host "alpha" and started again as "beta" (a
// renamed HOST_NAME, or a name guessed when /info was slow) still resumes
// from its cursor, so the crash of the downtime is reported.
func TestStateFollowsTheDaemonNotItsName(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.SkipOnPodman(t, c, "/info's ID changes on every request, so a Podman host's state follows its name")
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)
	stateDir := t.TempDir()
	env := ungrouped("WEBHOOK_URL="+sink.URL, "STATE_DIR="+stateDir)
	p := start(t, append(env, "HOST_NAME=alpha")...)
	prefix := "wwtest-" + testdocker.RunID + "-ident-"
	first := testdocker.Run(t, c, testdocker.Spec{Name: "ident-first", Args: []string{"exit", "2"}})
	eventually(t, "the first crash", 30*time.Second, func() bool { _, names := sink.delivered(prefix); return names[first.Name] > 0 })
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-p.done

	down := testdocker.Run(t, c, testdocker.Spec{Name: "ident-down", Args: []string{"exit", "3"}})
	testdocker.WaitStopped(t, c, down.ID, 30*time.Second)
	start(t, append(env, "HOST_NAME=beta")...)
	eventually(t, "the crash of the downtime", 30*time.Second, func() bool { _, names := sink.delivered(prefix); return names[down.Name] > 0 })
	msgs, names := sink.delivered(prefix)
	if names[first.Name] != 1 {
		t.Errorf("the first crash was reported %d times", names[first.Name])
	}
	for _, m := range msgs {
		if m.payload.Name == down.Name && m.payload.Host != "beta" {
			t.Errorf("the downtime's crash names host %q, want beta", m.payload.Host)
		}
	}
}

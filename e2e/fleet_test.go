package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/internal/testdocker"
)

// One whalewatch, two private daemons (DOCKER_HOSTS): each death reaches
// the webhook with its own host; with one daemon stopped the other's
// deaths still flow; when it is back its stream resumes.
func TestSeveralDaemonsFlowIndependently(t *testing.T) {
	alpha, beta := testdocker.StartPrivateDaemon(t, ""), testdocker.StartPrivateDaemon(t, "")
	ca, cb := alpha.Client(t), beta.Client(t)
	testdocker.Image(t, ca)
	testdocker.Image(t, cb)
	sink := newScriptedSink(t, 0, nil)
	p := start(t, ungrouped("WEBHOOK_URL="+sink.URL, "DOCKER_HOSTS=alpha="+alpha.Host+",beta="+beta.Host)...)
	eventually(t, "both streams open", 15*time.Second, func() bool { return strings.Count(p.logs(), "docker event stream open") == 2 })

	onA := testdocker.Run(t, ca, testdocker.Spec{Name: "fleet-a", Args: []string{"exit", "3"}})
	onB := testdocker.Run(t, cb, testdocker.Spec{Name: "fleet-b", Args: []string{"exit", "4"}})
	for name, host := range map[string]string{onA.Name: "alpha", onB.Name: "beta"} {
		eventually(t, name, 30*time.Second, func() bool { return len(sink.about(name)) == 1 })
		if got := sink.about(name)[0]; got.Host != host {
			t.Errorf("%s reported from host %q, want %q", name, got.Host, host)
		}
	}

	beta.Stop(t)
	whileDown := testdocker.Run(t, ca, testdocker.Spec{Name: "fleet-a-while-b-down", Args: []string{"exit", "5"}})
	eventually(t, "alpha's death while beta is down", 30*time.Second, func() bool { return len(sink.about(whileDown.Name)) == 1 })

	beta.Start(t)
	eventually(t, "beta's stream restored", 60*time.Second, func() bool { return strings.Count(p.logs(), "docker event stream restored") >= 1 })
	afterB := testdocker.Run(t, cb, testdocker.Spec{Name: "fleet-b-after", Args: []string{"exit", "6"}})
	eventually(t, "beta's death after its restart", 30*time.Second, func() bool { return len(sink.about(afterB.Name)) == 1 })
	if got := sink.about(afterB.Name)[0]; got.Host != "beta" {
		t.Errorf("after the restart: host %q", got.Host)
	}
}

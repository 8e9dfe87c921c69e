package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/internal/testdocker"
	"github.com/whalewatch/whalewatch/notify/webhook"
)

// Swarm on a private daemon (advertised on 127.0.0.1): the README's stack
// file deploys whalewatch as written, as a global service; it reports the
// crash of another service's task and the rollback of a failed service
// update (a Swarm-scope event, passed by the leader's task).
func TestSwarmStackReportsTasksAndRollbacks(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker CLI is needed for docker stack deploy")
	}
	suite := testdocker.Client(t)
	testdocker.SkipOnPodman(t, suite, "Podman has no Swarm")
	image := buildWhalewatchImage(t, suite)
	d := testdocker.StartPrivateDaemon(t, "")
	c := d.Client(t)
	testdocker.Image(t, c)
	copyImage(t, suite, c, image)
	docker := func(env []string, args ...string) string {
		t.Helper()
		cmd := exec.Command("docker", args...)
		cmd.Env = append(append(os.Environ(), "DOCKER_HOST="+d.Host), env...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// Ports of its own: another swarm (a parallel run) may hold the defaults.
	manager, dataPath := freePort(t), freeDataPathPort(t)
	docker(nil, "swarm", "init", "--advertise-addr", "127.0.0.1:"+manager, "--listen-addr", "127.0.0.1:"+manager,
		"--data-path-port", dataPath)
	t.Cleanup(func() { _ = exec.Command("docker", "-H", d.Host, "swarm", "leave", "--force").Run() })

	sink := newScriptedSink(t, 0, nil)
	socket := strings.TrimPrefix(d.Host, "unix://")
	var st syscall.Stat_t
	if err := syscall.Stat(socket, &st); err != nil {
		t.Fatal(err)
	}
	httpAddr := "127.0.0.1:" + freePort(t)
	docker([]string{"WHALEWATCH_IMAGE=" + image, "DOCKER_SOCKET=" + socket, fmt.Sprint("DOCKER_GID=", st.Gid),
		"WEBHOOK_URL=" + sink.URL, "HTTP_ADDR=" + httpAddr},
		"stack", "deploy", "--resolve-image", "never", "-c", filepath.Join(moduleRoot, "docker-stack.yml"), "ww")
	eventually(t, "whalewatch's task running and ready", 90*time.Second, func() bool {
		resp, err := http.Get("http://" + httpAddr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})

	crasher := "wwtest-" + testdocker.RunID + "-crasher"
	docker(nil, "service", "create", "--detach", "--name", crasher, "--restart-condition", "none",
		"whalewatch-test/testprog:latest", "exit", "3")
	eventually(t, "the crash of the service's task", 60*time.Second, func() bool {
		return len(sink.where(func(p webhook.Payload) bool {
			return strings.HasPrefix(p.Name, crasher+".1.") && p.Rule == "CRASHED" && p.ExitCode != nil && *p.ExitCode == 3
		})) > 0
	})
	docker(nil, "service", "update", "--detach", "--image", "whalewatch-test/missing:1",
		"--update-failure-action", "rollback", "--update-monitor", "2s", crasher)
	eventually(t, "the rollback", 90*time.Second, func() bool {
		for _, p := range sink.about(crasher) {
			if p.Rule == "SERVICE_ROLLBACK" {
				return true
			}
		}
		return false
	})
	if got := sink.about(crasher); len(got) != 1 {
		t.Errorf("the rollback was reported %d times, want once: %+v", len(got), got)
	}
}

// freePort finds a TCP port nothing listens on now, on 127.0.0.1.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

// freeDataPathPort finds a UDP port in swarm's data path range (1024-49151).
func freeDataPathPort(t *testing.T) string {
	t.Helper()
	for range 100 {
		port := fmt.Sprint(20000 + rand.IntN(29000))
		if pc, err := net.ListenPacket("udp", "127.0.0.1:"+port); err == nil {
			_ = pc.Close()
			return port
		}
	}
	t.Fatal("no free UDP port for the swarm's data path")
	return ""
}

// copyImage saves an image from one daemon and loads it into another.
func copyImage(t *testing.T, from, to *client.Client, image string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	saved, err := from.ImageSave(ctx, []string{image})
	if err != nil {
		t.Fatal(err)
	}
	defer saved.Close()
	loaded, err := to.ImageLoad(ctx, saved)
	if err != nil {
		t.Fatal(err)
	}
	defer loaded.Close()
	if err := testdocker.StreamError(loaded); err != nil {
		t.Fatal(err)
	}
}

// One whalewatch watching two managers of one swarm (DOCKER_HOSTS): every
// manager sends each Swarm-scope event, and each is reported once — a
// service created, updated, removed, a node drained and made active.
func TestSwarmEventsFromTwoManagersAreReportedOnce(t *testing.T) {
	if _, err := exec.LookPath("docker"); err != nil {
		t.Skip("the docker CLI is needed for docker swarm")
	}
	testdocker.SkipOnPodman(t, testdocker.Client(t), "Podman has no Swarm")
	m1, m2 := testdocker.StartPrivateDaemon(t, ""), testdocker.StartPrivateDaemon(t, "")
	docker := func(d *testdocker.PrivateDaemon, args ...string) string {
		t.Helper()
		out, err := exec.Command("docker", append([]string{"-H", d.Host}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	p1, p2 := freePort(t), freePort(t)
	docker(m1, "swarm", "init", "--advertise-addr", "127.0.0.1:"+p1, "--listen-addr", "127.0.0.1:"+p1, "--data-path-port", freeDataPathPort(t))
	t.Cleanup(func() {
		_ = exec.Command("docker", "-H", m2.Host, "swarm", "leave", "--force").Run()
		_ = exec.Command("docker", "-H", m1.Host, "swarm", "leave", "--force").Run()
	})
	token := docker(m1, "swarm", "join-token", "-q", "manager")
	docker(m2, "swarm", "join", "--token", token, "--advertise-addr", "127.0.0.1:"+p2, "--listen-addr", "127.0.0.1:"+p2, "127.0.0.1:"+p1)

	sink := newScriptedSink(t, 0, nil)
	p := start(t, ungrouped("WEBHOOK_URL="+sink.URL, "DOCKER_HOSTS=m1="+m1.Host+",m2="+m2.Host,
		`RULE_SWARM_WHEN=Scope == "swarm" && Type in ["service", "node"] && Action in ["create", "update", "remove"]`, "RULE_SWARM_GROUP_WINDOW=0")...)
	eventually(t, "both streams open", 15*time.Second, func() bool { return strings.Count(p.logs(), "docker event stream open") == 2 })

	service := "wwtest-" + testdocker.RunID + "-swarmsvc"
	docker(m1, "service", "create", "--detach", "--name", service, "--replicas", "0", "whalewatch-test/none:1")
	docker(m2, "service", "update", "--detach", "--replicas", "0", "--env-add", "X=1", service)
	docker(m1, "service", "rm", service)
	node := docker(m1, "node", "ls", "-q", "--filter", "role=manager")
	first := strings.Fields(node)[0]
	docker(m1, "node", "update", "--availability", "drain", first)
	docker(m1, "node", "update", "--availability", "active", first)
	// The sentinel: the last node update; the same event from the other
	// manager would come with it.
	eventually(t, "the node made active again", 30*time.Second, func() bool {
		return len(sink.where(func(p webhook.Payload) bool { return p.Attributes["availability.new"] == "active" })) > 0
	})
	for _, what := range []struct {
		name string
		keep func(webhook.Payload) bool
	}{
		{"service create", func(p webhook.Payload) bool { return p.Name == service && p.Action == "create" }},
		{"service update", func(p webhook.Payload) bool { return p.Name == service && p.Action == "update" }},
		{"service remove", func(p webhook.Payload) bool { return p.Name == service && p.Action == "remove" }},
		{"node drained", func(p webhook.Payload) bool { return p.Attributes["availability.new"] == "drain" }},
	} {
		eventually(t, what.name, 30*time.Second, func() bool { return len(sink.where(what.keep)) > 0 })
		if got := sink.where(what.keep); len(got) != 1 {
			t.Errorf("%s reported %d times, want once", what.name, len(got))
		}
	}
}

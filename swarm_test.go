package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
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
		"stack", "deploy", "--resolve-image", "never", "-c", "docker-stack.yml", "ww")
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

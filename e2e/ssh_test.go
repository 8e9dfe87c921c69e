package e2e

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/internal/testdocker"
)

// A daemon reached over ssh (a private sshd on 127.0.0.1, keys made here):
// whalewatch runs `docker system dial-stdio` there and reports its deaths;
// a host whose key is not known is refused, naming the host.
func TestSSHDaemon(t *testing.T) {
	sshd, err := exec.LookPath("sshd")
	if err != nil {
		if _, err = os.Stat("/usr/sbin/sshd"); err != nil {
			t.Skip("openssh-server is not installed (scripts/test.sh installs it)")
		}
		sshd = "/usr/sbin/sshd"
	}
	if err := os.MkdirAll("/run/sshd", 0o755); err != nil { // sshd's privilege separation directory
		t.Skipf("sshd cannot run here: %v", err)
	}
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	dir := t.TempDir()
	for _, key := range []string{"host", "client"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", filepath.Join(dir, key)).CombinedOutput(); err != nil {
			t.Fatalf("ssh-keygen: %v\n%s", err, out)
		}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	copyFile := func(from, to string) string {
		b, err := os.ReadFile(filepath.Join(dir, from))
		if err != nil {
			t.Fatal(err)
		}
		return write(to, string(b))
	}
	// The "remote" docker CLI talks to the test's daemon.
	config := write("sshd_config", fmt.Sprintf(`ListenAddress 127.0.0.1
Port %d
HostKey %s
AuthorizedKeysFile %s
PidFile %s
PermitRootLogin prohibit-password
PasswordAuthentication no
KbdInteractiveAuthentication no
StrictModes no
UsePAM no
SetEnv DOCKER_HOST=%s PATH=%s
`, port, filepath.Join(dir, "host"), copyFile("client.pub", "authorized_keys"), filepath.Join(dir, "sshd.pid"),
		os.Getenv("DOCKER_HOST"), os.Getenv("PATH")))
	daemon := exec.Command(sshd, "-D", "-e", "-f", config)
	if err := daemon.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = daemon.Process.Kill(); _ = daemon.Wait() })
	eventually(t, "sshd listening", 10*time.Second, func() bool {
		conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	hostKey, _ := os.ReadFile(filepath.Join(dir, "host.pub"))
	known := write("known_hosts", fmt.Sprintf("[127.0.0.1]:%d %s", port, hostKey))
	clientConfig := func(knownHosts string) string {
		return write("ssh_config_"+filepath.Base(knownHosts), fmt.Sprintf("Host 127.0.0.1\n  IdentityFile %s\n  UserKnownHostsFile %s\n  IdentitiesOnly yes\n",
			filepath.Join(dir, "client"), knownHosts))
	}
	sink := newScriptedSink(t, 0, nil)
	url := fmt.Sprintf("DOCKER_HOSTS=remote=ssh://root@127.0.0.1:%d", port)

	start(t, ungrouped("WEBHOOK_URL="+sink.URL, url, "SSH_CONFIG="+clientConfig(known))...)
	crash := testdocker.Run(t, c, testdocker.Spec{Name: "ssh-crash", Args: []string{"exit", "3"}})
	eventually(t, "the death over ssh", 30*time.Second, func() bool { return len(sink.about(crash.Name)) == 1 })
	if got := sink.about(crash.Name)[0]; got.Host != "remote" {
		t.Errorf("host %q", got.Host)
	}

	// DOCKER_HOST=ssh://… is reached the same way as a DOCKER_HOSTS entry.
	start(t, ungrouped("WEBHOOK_URL="+sink.URL, "DOCKER_HOST="+strings.TrimPrefix(url, "DOCKER_HOSTS=remote="),
		"HOST_NAME=remote-default", "SSH_CONFIG="+clientConfig(known))...)
	crash = testdocker.Run(t, c, testdocker.Spec{Name: "ssh-default-crash", Args: []string{"exit", "4"}})
	eventually(t, "the death over ssh (DOCKER_HOST)", 30*time.Second, func() bool {
		for _, n := range sink.about(crash.Name) {
			if n.Host == "remote-default" {
				return true
			}
		}
		return false
	})

	unknown := write("empty_known_hosts", "")
	p := launch(t, ungrouped("WEBHOOK_URL="+sink.URL, url, "SSH_CONFIG="+clientConfig(unknown))...)
	eventually(t, "the unknown host key, refused and logged", 30*time.Second, func() bool {
		return strings.Contains(p.logs(), "host=remote") && strings.Contains(p.logs(), "Host key verification failed")
	})
	if strings.Contains(p.logs(), "docker event stream open") {
		t.Error("the stream opened with an unknown host key")
	}
}

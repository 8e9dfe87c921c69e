// Package testdocker gives tests a real Docker daemon: a client, a tiny
// test image built locally (FROM scratch, no registry) and containers that
// carry a label of their own and are removed after the test.
package testdocker

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// LabelKey marks every container a test makes.
const LabelKey = "whalewatch.test"

// RunID is unique per test process; containers carry it as LabelKey.
var RunID = func() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}()

// Client connects to DOCKER_HOST (or the default socket). Without a
// reachable daemon the test is skipped, or fails when a daemon is required
// (CI, or the README's test command, which starts one).
func Client(t testing.TB) *client.Client {
	t.Helper()
	c, err := client.New(client.FromEnv)
	if err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err = c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	}
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("WHALEWATCH_REQUIRE_DOCKER") != "" {
			t.Fatalf("no Docker daemon reachable: %v", err)
		}
		t.Skipf("no Docker daemon reachable (%v); ./scripts/test.sh starts a private one", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var (
	imagesMu sync.Mutex
	built    = map[string]bool{} // daemon host → test image built
)

// Image builds the test image once per daemon and process and returns its name.
func Image(t testing.TB, c *client.Client) string {
	t.Helper()
	imagesMu.Lock()
	defer imagesMu.Unlock()
	if !built[c.DaemonHost()] {
		if err := buildImage(c); err != nil {
			t.Fatalf("docker build of the test image: %v", err)
		}
		built[c.DaemonHost()] = true
	}
	return imageName
}

const imageName = "whalewatch-test/testprog:latest"

func buildImage(c *client.Client) error {
	dir, err := os.MkdirTemp("", "whalewatch-testimage")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "testprog")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/whalewatch/whalewatch/internal/testdocker/testprog")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build testprog: %v\n%s", err, out)
	}
	prog, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY testprog /testprog\nENTRYPOINT [\"/testprog\"]\nCMD [\"sleep\"]\n")},
		{"testprog", 0o755, prog},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{imageName}, Remove: true, ForceRemove: true})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	return StreamError(res.Body)
}

// StreamError reads a daemon's JSON progress stream (build, import) to its
// end and returns the error it reports, if any.
func StreamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		if msg.Error != "" {
			return errors.New(msg.Error)
		}
	}
}

// Spec describes a test container.
type Spec struct {
	Name    string   // suffix of the container's name; made unique
	Args    []string // testprog arguments (default: sleep)
	Labels  map[string]string
	Memory  int64 // bytes; 0 = no limit
	Health  *container.HealthConfig
	Restart container.RestartPolicyMode
	NoStart bool
	// StopTimeout is how long docker stop waits before SIGKILL (seconds; 0 = the daemon's default).
	StopTimeout int
}

// Container is a test container.
type Container struct {
	ID, Name string
}

// Run creates (and unless NoStart, starts) a container from the test
// image, labelled with LabelKey=RunID, and removes it when the test ends.
func Run(t testing.TB, c *client.Client, s Spec) Container {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	labels := map[string]string{LabelKey: RunID}
	for k, v := range s.Labels {
		labels[k] = v
	}
	name := fmt.Sprintf("wwtest-%s-%s", RunID, s.Name)
	hc := &container.HostConfig{NetworkMode: "none"}
	if s.Memory > 0 {
		hc.Resources.Memory, hc.Resources.MemorySwap = s.Memory, s.Memory
	}
	if s.Restart != "" {
		hc.RestartPolicy = container.RestartPolicy{Name: s.Restart}
	}
	res, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Image:      Image(t, c),
		Config:     &container.Config{Cmd: s.Args, Labels: labels, Healthcheck: s.Health, StopTimeout: stopTimeout(s.StopTimeout)},
		HostConfig: hc,
	})
	if err != nil {
		t.Fatalf("create container %s: %v", name, err)
	}
	t.Cleanup(func() { Remove(c, res.ID) })
	if !s.NoStart {
		if _, err := c.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
			t.Fatalf("start container %s: %v", name, err)
		}
	}
	return Container{ID: res.ID, Name: name}
}

func stopTimeout(seconds int) *int {
	if seconds == 0 {
		return nil
	}
	return &seconds
}

// Remove force-removes one container the test made.
func Remove(c *client.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
}

// PrivateDaemon is a dockerd of the test's own, which the test may stop
// and start (never a user's daemon).
type PrivateDaemon struct {
	Dir, Host string
	flags     string
}

// StartPrivateDaemon starts a dockerd of the test's own with extra flags,
// stopped when the test ends. It skips the test unless running as root
// with dockerd installed.
func StartPrivateDaemon(t *testing.T, flags string) *PrivateDaemon {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("a private dockerd needs root")
	}
	if _, err := exec.LookPath("dockerd"); err != nil {
		t.Skip("dockerd is not installed")
	}
	dir, err := os.MkdirTemp("/tmp", "wwd") // short: unix socket paths are limited
	if err != nil {
		t.Fatal(err)
	}
	d := &PrivateDaemon{Dir: dir, flags: flags}
	t.Cleanup(func() {
		if out, err := exec.Command(scriptPath(t), "stop", d.Dir).CombinedOutput(); err != nil {
			t.Errorf("stop private dockerd: %v\n%s", err, out)
		}
		_ = os.RemoveAll(dir)
	})
	d.Start(t)
	return d
}

// Start starts (or restarts) the daemon.
func (d *PrivateDaemon) Start(t *testing.T) {
	t.Helper()
	cmd := exec.Command(scriptPath(t), "start", d.Dir)
	cmd.Env = append(os.Environ(), "DOCKERD_FLAGS="+d.flags)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("start private dockerd: %v", err)
	}
	d.Host = string(bytes.TrimSpace(out))
}

// Stop stops the daemon (only dockerd: with --live-restore its containers
// live on) and waits for it to exit.
func (d *PrivateDaemon) Stop(t *testing.T) {
	t.Helper()
	if out, err := exec.Command(scriptPath(t), "stop-dockerd", d.Dir).CombinedOutput(); err != nil {
		t.Errorf("stop private dockerd: %v\n%s", err, out)
	}
}

// Client connects to the daemon.
func (d *PrivateDaemon) Client(t *testing.T) *client.Client {
	t.Helper()
	c, err := client.New(client.WithHost(d.Host))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// scriptPath finds the script that runs private daemons, from any package
// directory: scripts/private-dockerd.sh (Debian's 20.10), or the one
// WHALEWATCH_PRIVATE_DOCKERD names (scripts/test.sh's Docker 29 pass sets
// docker29.sh, so those tests run on Docker 29 too).
func scriptPath(t *testing.T) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("find module root: %v", err)
	}
	script := os.Getenv("WHALEWATCH_PRIVATE_DOCKERD")
	if script == "" {
		script = "private-dockerd.sh"
	}
	return filepath.Join(string(bytes.TrimSpace(out)), "scripts", filepath.Base(script))
}

// WaitStopped waits, by the daemon's own wait, until the container is not
// running (at once if it already is not).
func WaitStopped(t testing.TB, c *client.Client, id string, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	res := c.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNotRunning})
	select {
	case <-res.Result:
	case err := <-res.Error:
		t.Fatalf("wait for container %s to stop: %v", id, err)
	}
}

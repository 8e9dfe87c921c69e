// Package testdocker gives tests a real Docker daemon (or Podman's
// Docker-compatible service): a client, a tiny test image made locally
// (built FROM scratch on Docker, imported with Debian's busybox-static on
// Podman; no registry) and containers that carry a label of their own and
// are removed after the test.
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
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/containerd/errdefs"
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
		make, what := buildImage, "docker build"
		if IsPodman(t, c) {
			make, what = importImage, "podman import"
		}
		if err := make(c); err != nil {
			t.Fatalf("%s of the test image: %v", what, err)
		}
		built[c.DaemonHost()] = true
	}
	return imageName
}

// IsPodman tells whether the daemon is Podman's Docker-compatible service
// (its /version names a "Podman Engine" component). The events package
// tells the same for itself; it cannot be imported here (its tests import
// this package).
func IsPodman(t testing.TB, c *client.Client) bool {
	t.Helper()
	enginesMu.Lock()
	defer enginesMu.Unlock()
	if podman, ok := engines[c.DaemonHost()]; ok {
		return podman
	}
	// A loaded Podman answers slowly: as long as any other call here.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	v, err := c.ServerVersion(ctx, client.ServerVersionOptions{})
	if err != nil {
		t.Fatalf("daemon version: %v", err)
	}
	podman := false
	for _, comp := range v.Components {
		podman = podman || strings.Contains(comp.Name, "Podman")
	}
	engines[c.DaemonHost()] = podman
	return podman
}

var (
	enginesMu sync.Mutex
	engines   = map[string]bool{} // daemon host → is Podman
)

// PodmanNoOOM is why OOM kills cannot be tested on Podman here.
const PodmanNoOOM = "podman 4.3.1 with Debian's conmon 2.1.6 records no OOM kill: conmon writes its oom file " +
	"into its working directory, not the container's where podman looks, so there is no oom event and inspect says " +
	"OOMKilled false; the kernel's kill (exit 137) is reported as a SIGKILL crash"

// SkipOnPodman skips a test that cannot work on Podman, saying why.
func SkipOnPodman(t testing.TB, c *client.Client, why string) {
	t.Helper()
	if IsPodman(t, c) {
		t.Skip("podman: " + why)
	}
}

// testprog builds the test program (static) into dir.
func testprog(dir string) ([]byte, error) {
	bin := filepath.Join(dir, "testprog")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/whalewatch/whalewatch/internal/testdocker/testprog")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("go build testprog: %v\n%s", err, out)
	}
	return os.ReadFile(bin)
}

// importImage imports the test image on Podman (whose build needs
// buildah's storage and a base image): /testprog and Debian's static
// busybox as /bin/sh, for probes written as shell commands.
func importImage(c *client.Client) error {
	dir, err := os.MkdirTemp("", "whalewatch-testimage")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	prog, err := testprog(dir)
	if err != nil {
		return err
	}
	busybox, err := os.ReadFile("/bin/busybox")
	if err != nil {
		return fmt.Errorf("Debian's busybox-static (apt-get install busybox-static): %w", err)
	}
	buf, err := tarOf([]tarFile{{name: "testprog", mode: 0o755, data: prog}, {name: "bin/busybox", mode: 0o755, data: busybox}, {name: "bin/sh", link: "busybox"}})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.ImageImport(ctx, client.ImageImportSource{Source: buf, SourceName: "-"}, imageName,
		client.ImageImportOptions{Changes: []string{`ENTRYPOINT ["/testprog"]`, `CMD ["sleep"]`}})
	if err != nil {
		return err
	}
	defer res.Close()
	return StreamError(res)
}

const imageName = "whalewatch-test/testprog:latest"

func buildImage(c *client.Client) error {
	dir, err := os.MkdirTemp("", "whalewatch-testimage")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	prog, err := testprog(dir)
	if err != nil {
		return err
	}
	buf, err := tarOf([]tarFile{
		{name: "Dockerfile", mode: 0o644, data: []byte("FROM scratch\nCOPY testprog /testprog\nENTRYPOINT [\"/testprog\"]\nCMD [\"sleep\"]\n")},
		{name: "testprog", mode: 0o755, data: prog},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.ImageBuild(ctx, buf, client.ImageBuildOptions{Tags: []string{imageName}, Remove: true, ForceRemove: true})
	if err != nil {
		return err
	}
	defer res.Body.Close()
	return StreamError(res.Body)
}

// tarFile is a file (or, with link, a symbolic link) of a tar archive.
type tarFile struct {
	name string
	mode int64
	data []byte
	link string
}

func tarOf(files []tarFile) (*bytes.Buffer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, f := range files {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}
		if f.link != "" {
			h = &tar.Header{Name: f.name, Typeflag: tar.TypeSymlink, Linkname: f.link, Mode: 0o777}
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(f.data); err != nil {
			return nil, err
		}
	}
	return &buf, tw.Close()
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
	if s.Health != nil && IsPodman(t, c) {
		DriveProbes(t, c, res.ID, s.Health.Interval)
	}
	return Container{ID: res.ID, Name: name}
}

// DriveProbes runs the container's healthcheck every interval until the
// test ends: Podman schedules probes with systemd timers, which the
// private service here has none of (`podman healthcheck run` is what a
// timer runs). Runs that find the container stopped fail; that is fine.
func DriveProbes(t testing.TB, c *client.Client, id string, interval time.Duration) {
	cli := podmanCLI(t, c)
	interval = max(interval, 200*time.Millisecond)
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				_ = cli("healthcheck", "run", id).Run()
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
}

// Podman runs the podman CLI against the private service the client
// talks to (its own storage and configuration), and fails the test if it
// fails.
func Podman(t testing.TB, c *client.Client, args ...string) string {
	t.Helper()
	out, err := podmanCLI(t, c)(args...).CombinedOutput()
	if err != nil {
		t.Fatalf("podman %v: %v\n%s", args, err, out)
	}
	return string(out)
}

func podmanCLI(t testing.TB, c *client.Client) func(args ...string) *exec.Cmd {
	t.Helper()
	dir, ok := podmanDir(c)
	if !ok {
		t.Fatalf("podman at %s: not a private service of scripts/podman.sh, whose CLI the test can run", c.DaemonHost())
	}
	script := filepath.Join(moduleRoot(t), "scripts", "podman.sh")
	return func(args ...string) *exec.Cmd {
		return exec.Command(script, append([]string{"podman", dir}, args...)...)
	}
}

// podmanDir is the directory of the private podman service (scripts/podman.sh)
// whose socket the client talks to.
func podmanDir(c *client.Client) (string, bool) {
	sock, ok := strings.CutPrefix(c.DaemonHost(), "unix://")
	if !ok || filepath.Base(sock) != "podman.sock" {
		return "", false
	}
	return filepath.Dir(sock), true
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
	// A loaded Podman can refuse a container its restart policy is
	// restarting at that instant: try again until it is gone.
	for {
		_, err := c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
		if err == nil || errdefs.IsNotFound(err) || client.IsErrConnectionFailed(err) {
			return // gone, or its daemon is (a test stopped it)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
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
	if flags != "" && filepath.Base(scriptPath(t)) == "podman.sh" {
		_ = os.RemoveAll(dir)
		t.Skipf("podman: this test needs a daemon started with dockerd's flags %q", flags)
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
	script := os.Getenv("WHALEWATCH_PRIVATE_DOCKERD")
	if script == "" {
		script = "private-dockerd.sh"
	}
	return filepath.Join(moduleRoot(t), "scripts", filepath.Base(script))
}

func moduleRoot(t testing.TB) string {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		t.Fatalf("find module root: %v", err)
	}
	return string(bytes.TrimSpace(out))
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

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
	imageOnce sync.Once
	imageName string
	imageErr  error
)

// Image builds the test image once per process and returns its name.
func Image(t testing.TB, c *client.Client) string {
	t.Helper()
	imageOnce.Do(func() { imageName, imageErr = buildImage(c) })
	if imageErr != nil {
		t.Fatalf("build test image: %v", imageErr)
	}
	return imageName
}

func buildImage(c *client.Client) (string, error) {
	dir, err := os.MkdirTemp("", "whalewatch-testimage")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "testprog")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "github.com/whalewatch/whalewatch/internal/testdocker/testprog")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux")
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build testprog: %v\n%s", err, out)
	}
	prog, err := os.ReadFile(bin)
	if err != nil {
		return "", err
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
			return "", err
		}
		if _, err := tw.Write(f.data); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	const name = "whalewatch-test/testprog:latest"
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	res, err := c.ImageBuild(ctx, &buf, client.ImageBuildOptions{Tags: []string{name}, Remove: true, ForceRemove: true})
	if err != nil {
		return "", err
	}
	defer res.Body.Close()
	dec := json.NewDecoder(res.Body)
	for {
		var msg struct {
			Error string `json:"error"`
		}
		if err := dec.Decode(&msg); err == io.EOF {
			return name, nil
		} else if err != nil {
			return "", err
		}
		if msg.Error != "" {
			return "", fmt.Errorf("docker build: %s", msg.Error)
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
		Config:     &container.Config{Cmd: s.Args, Labels: labels, Healthcheck: s.Health},
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

// Remove force-removes one container the test made.
func Remove(c *client.Client, id string) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, _ = c.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true})
}

package e2e

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/internal/testdocker"
)

// The real Dockerfile builds an image that runs as a user would run it:
// non-root, read-only root filesystem, no capabilities, the socket mounted.
// It reports a dying container and turns healthy.
func TestImageBuildsAndReportsCrashes(t *testing.T) {
	c := testdocker.Client(t)
	socket, ok := strings.CutPrefix(c.DaemonHost(), "unix://")
	if !ok {
		t.Skipf("the image test mounts the daemon's unix socket; DOCKER_HOST is %s", c.DaemonHost())
	}
	testdocker.Image(t, c)
	image := buildWhalewatchImage(t, c)

	inspect, err := c.ImageInspect(context.Background(), image)
	if err != nil {
		t.Fatal(err)
	}
	cfg := inspect.Config
	podman := testdocker.IsPodman(t, c)
	if podman && cfg.Healthcheck == nil {
		// Podman's Docker API leaves an image's healthcheck out of
		// Config; its own inspect has it.
		var hc container.HealthConfig
		if err := json.Unmarshal([]byte(testdocker.Podman(t, c, "image", "inspect", "--format", "{{json .HealthCheck}}", image)), &hc); err != nil {
			t.Fatal(err)
		}
		cfg.Healthcheck = &hc
	}
	if cfg.User != "65532:65532" || cfg.Labels["org.opencontainers.image.version"] != "1.2.3-test" || cfg.Labels["org.opencontainers.image.revision"] != "abc123" || cfg.Labels["org.opencontainers.image.source"] == "" {
		t.Errorf("image config: user %q labels %v", cfg.User, cfg.Labels)
	}
	if cfg.Healthcheck == nil || strings.Join(cfg.Healthcheck.Test, " ") != "CMD /whalewatch healthcheck" {
		t.Errorf("healthcheck = %+v", cfg.Healthcheck)
	}
	// The layers' own sizes: inspect's Size also counts the compressed
	// content on Docker 29's containerd image store.
	history, err := c.ImageHistory(context.Background(), image)
	if err != nil {
		t.Fatal(err)
	}
	var size int64
	for _, layer := range history.Items {
		size += layer.Size
	}
	t.Logf("image size: %.1f MB (layers), %.1f MB as the daemon counts it", float64(size)/1e6, float64(inspect.Size)/1e6)
	if size > 20e6 {
		t.Errorf("image layers are %d bytes, over 20 MB", size)
	}

	var st syscall.Stat_t
	if err := syscall.Stat(socket, &st); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	name := fmt.Sprintf("wwtest-%s-whalewatch", testdocker.RunID)
	created, err := c.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:  name,
		Image: image,
		Config: &container.Config{
			Labels:      map[string]string{testdocker.LabelKey: testdocker.RunID},
			Env:         []string{"HOST_NAME=imagetest"},
			Healthcheck: &container.HealthConfig{Interval: time.Second, StartPeriod: time.Second},
		},
		HostConfig: &container.HostConfig{
			NetworkMode:    "none",
			Binds:          []string{socket + ":/var/run/docker.sock"},
			GroupAdd:       []string{fmt.Sprint(st.Gid)},
			ReadonlyRootfs: true,
			CapDrop:        []string{"ALL"},
			SecurityOpt:    []string{"no-new-privileges"},
			Resources:      container.Resources{Memory: 64 << 20},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { testdocker.Remove(c, created.ID) })
	if _, err := c.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	if podman {
		testdocker.DriveProbes(t, c, created.ID, time.Second)
	}
	logs := func() (string, string) {
		r, err := c.ContainerLogs(ctx, created.ID, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		var out, errOut strings.Builder
		_, _ = stdcopy.StdCopy(&out, &errOut, r)
		return out.String(), errOut.String()
	}
	eventually(t, "stream open in the container", 20*time.Second, func() bool {
		_, e := logs()
		return strings.Contains(e, "docker event stream open")
	})

	crash := testdocker.Run(t, c, testdocker.Spec{Name: "image-crash", Args: []string{"exit", "9"}})
	eventually(t, "crash on the container's stdout", 20*time.Second, func() bool {
		out, _ := logs()
		return strings.Contains(out, "container "+crash.Name+" died: exit code 9")
	})
	eventually(t, "healthy", 30*time.Second, func() bool {
		res, err := c.ContainerInspect(ctx, created.ID, client.ContainerInspectOptions{})
		return err == nil && res.Container.State.Health != nil && res.Container.State.Health.Status == container.Healthy
	})
	_, errOut := logs()
	if !strings.Contains(errOut, "version=\"1.2.3-test (abc123)\"") {
		t.Errorf("start log lacks the version:\n%s", errOut)
	}
	// The container's 64 MiB limit gives the heap a soft limit of 48.
	if !strings.Contains(errOut, "container_limit=64MiB GOMEMLIMIT=48MiB") {
		t.Errorf("start log lacks the memory limit:\n%s", errOut)
	}
}

// buildWhalewatchImage builds the Dockerfile with a Go builder image made
// from this machine's toolchain (no registry is reachable) and a vendor/
// directory (no module proxy inside the build).
// buildWhalewatchImage builds the real Dockerfile, once per daemon and run.
func buildWhalewatchImage(t *testing.T, c *client.Client) string {
	t.Helper()
	tag := "whalewatch-test/whalewatch:" + testdocker.RunID
	if _, err := c.ImageInspect(context.Background(), tag); err == nil {
		return tag
	}
	builder := goBuilderImage(t, c)
	vendor := t.TempDir()
	if out, err := exec.Command("go", "mod", "vendor", "-o", vendor).CombinedOutput(); err != nil {
		t.Fatalf("go mod vendor: %v\n%s", err, out)
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := addTree(tw, moduleRoot, "", func(rel string, d fs.DirEntry) bool {
			return rel == ".git" || rel == "vendor" || strings.HasSuffix(rel, ".test")
		})
		if err == nil {
			err = addTree(tw, vendor, "vendor", nil)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	v, r := "1.2.3-test", "abc123"
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := c.ImageBuild(ctx, pr, client.ImageBuildOptions{
		Tags: []string{tag}, Remove: true, ForceRemove: true, NetworkMode: "none",
		BuildArgs: map[string]*string{"GO_IMAGE": &builder, "VERSION": &v, "REVISION": &r},
		Labels:    map[string]string{testdocker.LabelKey: testdocker.RunID},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := testdocker.StreamError(res.Body); err != nil {
		t.Fatalf("docker build: %v", err)
	}
	t.Cleanup(func() {
		_, _ = c.ImageRemove(context.Background(), tag, client.ImageRemoveOptions{Force: true, PruneChildren: true})
	})
	return tag
}

// goBuilderImage imports GOROOT and CA certificates as an image that the
// Dockerfile's GO_IMAGE can name. It is kept for the next run.
func goBuilderImage(t *testing.T, c *client.Client) string {
	t.Helper()
	tag := "whalewatch-test/go-builder:" + runtime.Version()
	if _, err := c.ImageInspect(context.Background(), tag); err == nil {
		return tag
	}
	goroot := runtime.GOROOT()
	if out, err := exec.Command("go", "env", "GOROOT").Output(); err == nil {
		goroot = strings.TrimSpace(string(out))
	}
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := addTree(tw, goroot, "usr/local/go", func(rel string, d fs.DirEntry) bool {
			return d.IsDir() && (rel == "test" || rel == "doc" || rel == "api" || rel == "misc" || d.Name() == "testdata")
		})
		if err == nil {
			err = addTree(tw, "/etc/ssl/certs/ca-certificates.crt", "etc/ssl/certs/ca-certificates.crt", nil)
		}
		if err == nil {
			err = tw.WriteHeader(&tar.Header{Name: "tmp/", Typeflag: tar.TypeDir, Mode: 0o1777})
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	res, err := c.ImageImport(ctx, client.ImageImportSource{Source: pr, SourceName: "-"}, tag,
		client.ImageImportOptions{Changes: []string{"ENV PATH=/usr/local/go/bin:/usr/bin:/bin"}})
	if err != nil {
		t.Fatalf("import the Go builder image: %v", err)
	}
	defer res.Close()
	if err := testdocker.StreamError(res); err != nil {
		t.Fatalf("docker import: %v", err)
	}
	return tag
}

// addTree writes the files under root into tw below prefix.
func addTree(tw *tar.Writer, root, prefix string, skip func(rel string, d fs.DirEntry) bool) error {
	return filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if skip != nil && rel != "." && skip(rel, d) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		info, err := os.Lstat(path)
		if err != nil {
			return err
		}
		link := ""
		if info.Mode()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(path); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		hdr.Name = filepath.ToSlash(filepath.Join(prefix, rel))
		if prefix == "" && rel == "." {
			return nil
		}
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if info.Mode().IsRegular() {
			f, err := os.Open(path)
			if err != nil {
				return err
			}
			defer f.Close()
			_, err = io.Copy(tw, f)
			return err
		}
		return nil
	})
}

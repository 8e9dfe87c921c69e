package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/internal/testdocker"
)

// hostileText is what a container name would be if Docker took it.
const hostileText = `<img src=x onerror=alert(1)>`

// On an address other machines reach, the page needs a token: without
// one whalewatch does not start.
func TestStatusPageRefusesToStartWithoutAToken(t *testing.T) {
	cmd := exec.Command(binary)
	cmd.Env = []string{"STATUS_PAGE=true", "HTTP_ADDR=0.0.0.0:0", "DOCKER_HOST=unix:///nonexistent.sock", "PATH=" + os.Getenv("PATH")}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	err := cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 2 {
		t.Fatalf("exit %d (%v), want 2:\n%s", code, err, stderr.String())
	}
	for _, name := range []string{"HTTP_AUTH_TOKEN", "HTTP_ADDR"} {
		if !strings.Contains(stderr.String(), name) {
			t.Errorf("the error does not name %s:\n%s", name, stderr.String())
		}
	}
}

// browser starts Debian's chromium headless. It skips the test when
// chromium is absent, unless a run requires it (CI,
// WHALEWATCH_REQUIRE_DOCKER: scripts/test.sh installs it).
func browser(t *testing.T) context.Context {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" || os.Getenv("WHALEWATCH_REQUIRE_DOCKER") != "" {
			t.Fatalf("chromium is not installed (scripts/test.sh installs it): %v", err)
		}
		t.Skip("chromium is not installed: apt-get install chromium")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()))
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancel := chromedp.NewContext(alloc, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancel)
	if err := chromedp.Do(ctx); err != nil { // starts the browser, with no timeout
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// artefact writes a test artefact to $WHALEWATCH_ARTEFACTS (else a
// temporary directory) and logs where.
func artefact(t *testing.T, name string, data []byte) {
	t.Helper()
	dir := os.Getenv("WHALEWATCH_ARTEFACTS")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("artefact: %s (%d bytes)", path, len(data))
}

// outsideIP is an address of this machine other than loopback, for the
// browser to reach the page as another machine would (loopback if none).
func outsideIP() string {
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String()
		}
	}
	return "127.0.0.1"
}

// In a real browser against a real daemon: the page refuses a visitor
// without the token, logs in by ?token=, shows a crashed container under
// Open incidents within seconds without reloading, then under Resolved
// once it runs again; hostile text (the host's name, the container's
// output) renders as text and opens no dialog.
func TestStatusPageInABrowser(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	ctx := browser(t)

	// Docker refuses such a container name, so the hostile text comes in
	// through what it does accept: the host's name (HOST_NAME, shown in
	// every incident, the hosts table and the chart, attributes included)
	// and the container's last output on its card.
	create, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if res, err := c.ContainerCreate(create, client.ContainerCreateOptions{Name: hostileText, Image: testdocker.Image(t, c)}); err == nil {
		testdocker.Remove(c, res.ID)
		t.Fatalf("Docker took the container name %q: use it in this test", hostileText)
	} else {
		t.Logf("Docker refuses the name %q: %v", hostileText, err)
	}
	output := `</script><script>alert(2)</script>"'><svg onload=alert(3)>` + hostileText

	const token = "e2e-token-0123456789abcdef"
	p := start(t, ungrouped("STATUS_PAGE=true", "HTTP_ADDR=0.0.0.0:0", "HTTP_AUTH_TOKEN="+token,
		"HOST_NAME="+hostileText, "RESOLVE_AFTER=2s", "PPROF=true")...)
	_, port, err := net.SplitHostPort(p.httpAddr(t))
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + net.JoinHostPort(outsideIP(), port)

	var dialogs atomic.Int32
	if err := chromedp.Listen(ctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			dialogs.Add(1)
			go func() { _, _ = chromedp.Call(ctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{}) }()
		}
	}); err != nil {
		t.Fatal(err)
	}
	step := func(what string, timeout time.Duration, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if err := chromedp.Do(sctx, actions...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	poll := func(what string, timeout time.Duration, expr string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(timeout))); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	eval := func(expr string) bool {
		t.Helper()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		if err != nil {
			t.Fatalf("%s: %v", expr, err)
		}
		return ok
	}

	// No token: 401, for the page, its API, the metrics and profiles alike.
	for _, path := range []string{"/", "/api/v1/incidents", "/metrics", "/debug/pprof/"} {
		res, err := chromedp.Run(ctx, chromedp.NavigateResponse(base+path))
		if err != nil {
			t.Fatal(err)
		}
		if res.Status != 401 {
			t.Errorf("%s without a token: %d, want 401", path, res.Status)
		}
	}
	// The login sets the cookie and leaves the token out of the address.
	step("login", 15*time.Second, chromedp.Navigate(base+"/?token="+url.QueryEscape(token)))
	if loc, _ := chromedp.Run(ctx, chromedp.Location()); strings.Contains(loc, token) {
		t.Errorf("the token stays in the address: %s", loc)
	}
	if eval(`document.cookie.includes("whalewatch_session")`) {
		t.Error("the session cookie is readable by scripts (not HttpOnly)")
	}
	step("the page", 10*time.Second, chromedp.WaitVisible("#open"))
	eval(`window.notReloaded = true`)

	crash := testdocker.Run(t, c, testdocker.Spec{Name: "page-crash", Args: []string{"flaky", "1", output}})
	began := time.Now()
	in := func(section string) string {
		return `[...document.querySelectorAll("#` + section + ` .incident .container")].some(e => e.textContent === "` + crash.Name + `")`
	}
	// Bounded: the page refreshes itself every 3 s.
	poll("the crash under Open incidents", 15*time.Second, in("open"))
	t.Logf("the crash was under Open incidents %s after the container started", time.Since(began).Round(time.Millisecond))
	if !eval(`window.notReloaded === true`) {
		t.Error("the page reloaded")
	}
	card := `[...document.querySelectorAll("#open .incident")].find(e => e.querySelector(".container").textContent === "` + crash.Name + `")`
	eval(card + `.querySelector("details").open = true`)
	if !eval(card + `.querySelector("pre.logs").textContent.includes(` + jsString(output) + `)`) {
		t.Error("the card does not show the container's output as text")
	}
	if !eval(card+`.querySelector("dd").textContent === `+jsString(hostileText)) || !eval(`document.querySelector("#hosts td.host").textContent === `+jsString(hostileText)) {
		t.Error("the host's name is not shown as text")
	}
	if eval(`document.querySelectorAll("img, main script, main svg[onload], [onerror]").length > 0`) {
		t.Error("hostile text became elements")
	}
	if eval(`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`) {
		t.Error("the page is wider than the window at 1280 px")
	}
	shot := func(name string, width int64, dark bool) {
		t.Helper()
		scheme := "light"
		if dark {
			scheme = "dark"
		}
		if _, err := chromedp.Call(ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}}); err != nil {
			t.Fatal(err)
		}
		step("viewport", 5*time.Second, chromedp.EmulateViewport(width, 900))
		if eval(`document.documentElement.scrollWidth > document.documentElement.clientWidth + 1`) {
			t.Errorf("the page scrolls sideways at %d px", width)
		}
		buf, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatal(err)
		}
		artefact(t, name, buf)
	}
	shot("status-page-1280.png", 1280, false)
	shot("status-page-375.png", 375, false)
	shot("status-page-375-dark.png", 375, true)

	// It runs again (the second run stays up) and resolves after RESOLVE_AFTER.
	if _, err := c.ContainerStart(context.Background(), crash.ID, client.ContainerStartOptions{}); err != nil {
		t.Fatal(err)
	}
	began = time.Now()
	poll("the incident under Resolved", 20*time.Second, in("resolved")+` && !`+in("open"))
	t.Logf("under Resolved %s after the container started again (RESOLVE_AFTER=2s)", time.Since(began).Round(time.Millisecond))
	if !eval(`window.notReloaded === true`) {
		t.Error("the page reloaded")
	}
	shot("status-page-1280-resolved.png", 1280, false)
	if n := dialogs.Load(); n > 0 {
		t.Errorf("%d JavaScript dialogs opened", n)
	}
}

// jsString quotes s for a JavaScript expression.
func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

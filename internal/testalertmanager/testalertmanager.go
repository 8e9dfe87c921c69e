// Package testalertmanager runs real Prometheus Alertmanagers on
// 127.0.0.1 for tests (scripts/alertmanager.sh builds the binary once and
// caches it), each routing every alert to a webhook receiver the test
// reads, alone or as members of one cluster.
package testalertmanager

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Binary finds the Alertmanager binary: $WHALEWATCH_ALERTMANAGER, else
// what scripts/alertmanager.sh builds (it is run, and builds once, when
// the cache is empty). Without one the test is skipped, or fails when
// WHALEWATCH_REQUIRE_DOCKER (CI, scripts/test.sh) is set.
func Binary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("WHALEWATCH_ALERTMANAGER"); p != "" {
		if _, err := os.Stat(p); err == nil {
			return p
		}
		unavailable(t, fmt.Errorf("WHALEWATCH_ALERTMANAGER=%s: not found", p))
	}
	root, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}").Output()
	if err != nil {
		unavailable(t, err)
	}
	script := filepath.Join(string(bytes.TrimSpace(root)), "scripts", "alertmanager.sh")
	if os.Getenv("WHALEWATCH_REQUIRE_DOCKER") == "" {
		// Do not build minutes long uninvited: only a cached binary is used.
		cache := os.Getenv("WHALEWATCH_CACHE")
		if cache == "" {
			cache = "/var/cache/whalewatch"
		}
		p := filepath.Join(cache, "alertmanager", "v0.35.0", "alertmanager")
		if _, err := os.Stat(p); err != nil {
			t.Skipf("no Alertmanager built (%s build makes one; scripts/test.sh does)", script)
		}
		return p
	}
	out, err := exec.Command(script, "build").Output()
	if err != nil {
		unavailable(t, fmt.Errorf("%s build: %w", script, err))
	}
	return string(bytes.TrimSpace(out))
}

func unavailable(t testing.TB, err error) {
	t.Helper()
	if os.Getenv("WHALEWATCH_REQUIRE_DOCKER") != "" || os.Getenv("CI") != "" {
		t.Fatalf("no Alertmanager: %v", err)
	}
	t.Skipf("no Alertmanager: %v", err)
}

// Notification is what Alertmanager's webhook receiver posts (version 4).
type Notification struct {
	Status   string  `json:"status"`
	Receiver string  `json:"receiver"`
	Alerts   []Alert `json:"alerts"`
	Path     string  `json:"-"` // where it was posted
}

// Alert is one alert of a webhook notification.
type Alert struct {
	Status       string            `json:"status"`
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

// Receiver is the webhook that the Alertmanagers notify.
type Receiver struct {
	*httptest.Server
	mu      sync.Mutex
	got     []Notification
	changed chan struct{} // closed and replaced at each notification (Await)
}

// NewReceiver starts a webhook receiver on 127.0.0.1.
func NewReceiver(t testing.TB) *Receiver {
	r := &Receiver{changed: make(chan struct{})}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		var n Notification
		if err := json.NewDecoder(req.Body).Decode(&n); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		n.Path = req.URL.Path
		r.mu.Lock()
		r.got = append(r.got, n)
		close(r.changed)
		r.changed = make(chan struct{})
		r.mu.Unlock()
	}))
	t.Cleanup(r.Close)
	return r
}

// Got is every notification received so far.
func (r *Receiver) Got() []Notification {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Notification(nil), r.got...)
}

// Await returns once cond holds, looked at now and after each
// notification received; it fails t after a minute.
func (r *Receiver) Await(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timeout := time.After(time.Minute)
	for {
		r.mu.Lock()
		changed := r.changed // before the look: no notification slips between
		r.mu.Unlock()
		if cond() {
			return
		}
		select {
		case <-changed:
		case <-timeout:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// About counts the alerts received whose label key is value, by status.
func (r *Receiver) About(key, value string) map[string]int {
	counts := map[string]int{}
	for _, n := range r.Got() {
		for _, a := range n.Alerts {
			if a.Labels[key] == value {
				counts[a.Status]++
			}
		}
	}
	return counts
}

// AM is one running Alertmanager.
type AM struct {
	URL     string // http://127.0.0.1:port
	Cluster string // its cluster address ("" alone)
	dir     string
	cmd     *exec.Cmd
	log     *lockedBuffer
}

// Options of a set of Alertmanagers.
type Options struct {
	// Receiver is the webhook every alert is routed to.
	Receiver string
	// GroupBy is the route's group_by (default: every label, "...").
	GroupBy []string
	// Sentinel gives each member i a receiver of its own, sentinel-<i>
	// (Receiver + "/sentinel/<i>"), for alerts named SENTINEL: its
	// notifications are never deduplicated across the cluster, and it
	// waits SentinelWait before the cluster's own wait. Member i's
	// sentinel notification tells that it has decided about every alert
	// it had before the sentinel, give or take a group_interval that
	// SentinelWait exceeds.
	Sentinel     bool
	SentinelWait time.Duration
	// GroupInterval is the route's group_interval (default 1s); PeerTimeout
	// the cluster's --cluster.peer-timeout (default 2s). Alertmanager's HA
	// deduplication has a window: a member that flushed a group while an
	// alert still fired, and hears of the other member's resolved
	// notification before its own peer wait ends, notifies "firing" again.
	// Periodic flushes come every group_interval, so a cluster test keeps
	// group_interval well above the peer timeout (the members' group
	// timers start within milliseconds of each other, as each whalewatch
	// posts to every member).
	GroupInterval, PeerTimeout time.Duration
	// ResolveTimeout is global.resolve_timeout (default Alertmanager's 5m):
	// a firing alert without endsAt that is not sent again within it is
	// resolved.
	ResolveTimeout time.Duration
}

// Start runs n Alertmanagers, peers of one cluster when n > 1, and stops
// them when the test ends.
func Start(t *testing.T, n int, opts Options) []*AM {
	t.Helper()
	bin := Binary(t)
	groupBy := `["..."]`
	if len(opts.GroupBy) > 0 {
		b, _ := json.Marshal(opts.GroupBy)
		groupBy = string(b)
	}
	if opts.GroupInterval == 0 {
		opts.GroupInterval = time.Second
	}
	if opts.PeerTimeout == 0 {
		opts.PeerTimeout = 2 * time.Second
	}
	global := ""
	if opts.ResolveTimeout > 0 {
		global = fmt.Sprintf("global:\n  resolve_timeout: %s\n", model(opts.ResolveTimeout))
	}
	base := global + fmt.Sprintf(`route:
  receiver: hook
  group_by: %s
  group_wait: 200ms
  group_interval: %s
  repeat_interval: 4h
`, groupBy, model(opts.GroupInterval))
	receivers := fmt.Sprintf(`receivers:
  - name: hook
    webhook_configs:
      - url: %s
        send_resolved: true
`, opts.Receiver)
	ams := make([]*AM, n)
	for i := range ams {
		conf := base + receivers
		if opts.Sentinel {
			wait := opts.SentinelWait
			if wait == 0 {
				wait = 2 * time.Second
			}
			conf = base + fmt.Sprintf(`  routes:
    - matchers: ['alertname="SENTINEL"']
      receiver: sentinel-%d
      group_wait: %s
`, i, model(wait)) + receivers + fmt.Sprintf(`  - name: sentinel-%d
    webhook_configs:
      - url: %s/sentinel/%d
`, i, opts.Receiver, i)
		}
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, "alertmanager.yml"), []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		ams[i] = &AM{URL: "http://" + freeAddr(t, "tcp"), dir: dir, log: &lockedBuffer{b: &bytes.Buffer{}}}
		if n > 1 {
			ams[i].Cluster = freeAddr(t, "udp")
		}
	}
	for _, am := range ams {
		args := []string{"--config.file=" + filepath.Join(am.dir, "alertmanager.yml"),
			"--storage.path=" + filepath.Join(am.dir, "data"),
			"--web.listen-address=" + strings.TrimPrefix(am.URL, "http://"),
			"--log.level=debug"}
		if am.Cluster == "" {
			args = append(args, "--cluster.listen-address=")
		} else {
			args = append(args, "--cluster.listen-address="+am.Cluster, "--cluster.advertise-address="+am.Cluster,
				"--cluster.peer-timeout="+opts.PeerTimeout.String(), "--cluster.gossip-interval=100ms", "--cluster.pushpull-interval=2s",
				"--cluster.settle-timeout=5s")
			for _, peer := range ams {
				if peer != am {
					args = append(args, "--cluster.peer="+peer.Cluster)
				}
			}
		}
		am.cmd = exec.Command(bin, args...)
		am.cmd.Stdout, am.cmd.Stderr = am.log, am.log
		if err := am.cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = am.cmd.Process.Kill()
			_ = am.cmd.Wait()
			if t.Failed() {
				t.Logf("alertmanager %s log:\n%s", am.URL, am.Log())
			}
		})
	}
	for _, am := range ams {
		am.waitReady(t, n)
	}
	return ams
}

// waitReady waits for /-/ready and, in a cluster, for every peer.
func (am *AM) waitReady(t *testing.T, members int) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var status struct {
			Cluster struct {
				Status string            `json:"status"`
				Peers  []json.RawMessage `json:"peers"`
			} `json:"cluster"`
		}
		err := am.get("/api/v2/status", &status)
		if err == nil && (members == 1 || (status.Cluster.Status == "ready" && len(status.Cluster.Peers) == members)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("alertmanager %s not ready: %v %+v", am.URL, err, status)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (am *AM) get(path string, v any) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, am.URL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// Gettable is one alert of GET /api/v2/alerts.
type Gettable struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     time.Time         `json:"startsAt"`
	EndsAt       time.Time         `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
	Fingerprint  string            `json:"fingerprint"`
	Status       struct {
		State string `json:"state"` // active, suppressed, unprocessed
	} `json:"status"`
}

// Alerts is GET /api/v2/alerts: the alerts Alertmanager holds active.
func (am *AM) Alerts(t testing.TB) []Gettable {
	t.Helper()
	var out []Gettable
	if err := am.get("/api/v2/alerts", &out); err != nil {
		t.Fatalf("GET /api/v2/alerts: %v", err)
	}
	return out
}

// Log is what the Alertmanager wrote so far.
func (am *AM) Log() string {
	am.log.mu.Lock()
	defer am.log.mu.Unlock()
	return am.log.b.String()
}

// model writes a duration as Alertmanager's configuration reads it.
func model(d time.Duration) string { return fmt.Sprintf("%dms", d.Milliseconds()) }

// PostSentinel posts a firing SENTINEL alert named id to am.
func (am *AM) PostSentinel(t testing.TB, id string) {
	t.Helper()
	body := fmt.Sprintf(`[{"labels":{"alertname":"SENTINEL","id":%q}}]`, id)
	resp, err := http.Post(am.URL+"/api/v2/alerts", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("post sentinel: %s", resp.Status)
	}
}

// SentinelFrom tells whether member i notified the sentinel id.
func (r *Receiver) SentinelFrom(i int, id string) bool {
	for _, n := range r.Got() {
		if n.Path == fmt.Sprintf("/sentinel/%d", i) {
			for _, a := range n.Alerts {
				if a.Labels["id"] == id {
					return true
				}
			}
		}
	}
	return false
}

func freeAddr(t testing.TB, network string) string {
	t.Helper()
	if network == "udp" {
		// memberlist listens on TCP and UDP on the same port.
		for range 20 {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			u, err := net.ListenPacket("udp", addr)
			_ = l.Close()
			if err == nil {
				_ = u.Close()
				return addr
			}
		}
		t.Fatal("no free port for both TCP and UDP")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

type lockedBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

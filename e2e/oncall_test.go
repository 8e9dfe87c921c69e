package e2e

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/internal/testalertmanager"
	"github.com/whalewatch/whalewatch/internal/testdocker"
)

// activeFor is the alert Alertmanager holds for a container, if any.
func activeFor(t *testing.T, am *testalertmanager.AM, container string) (testalertmanager.Gettable, bool) {
	for _, a := range am.Alerts(t) {
		if a.Labels["container"] == container {
			return a, true
		}
	}
	return testalertmanager.Gettable{}, false
}

func startAgain(t *testing.T, c *client.Client, id string) {
	t.Helper()
	if _, err := c.ContainerStart(context.Background(), id, client.ContainerStartOptions{}); err != nil {
		t.Fatalf("start again: %v", err)
	}
}

// A real crash is an alert in a real Alertmanager with the daemon's
// labels; its webhook receiver is notified once; when the container runs
// again the incident resolves and so does the alert.
func TestAlertmanagerSeesCrashAndResolution(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	recv := testalertmanager.NewReceiver(t)
	ams := testalertmanager.Start(t, 1, testalertmanager.Options{Receiver: recv.URL})
	start(t, ungrouped("DEST_AM_TYPE=alertmanager", "DEST_AM_URL="+ams[0].URL, "DEST_AM_RESEND=1s",
		"RESOLVE_AFTER=2s", "LINK_TEMPLATE=https://logs.example.test/container/{{.Name}}", "WATCH_BY_DEFAULT=false")...)

	// flaky 1: crashes on its first run, stays up on the next.
	ctr := testdocker.Run(t, c, testdocker.Spec{Name: "amcrash", Args: []string{"flaky", "1"},
		Labels: map[string]string{"com.docker.compose.project": "shop", "com.docker.compose.service": "api", "whalewatch.enable": "true"}})
	var alert testalertmanager.Gettable
	eventually(t, "the crash in GET /api/v2/alerts", 30*time.Second, func() bool {
		var ok bool
		alert, ok = activeFor(t, ams[0], ctr.Name)
		return ok
	})
	info, err := c.Info(context.Background(), client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for k, want := range map[string]string{"alertname": "CRASHED", "host": info.Info.Name, "compose_project": "shop",
		"compose_service": "api", "severity": "critical"} {
		if alert.Labels[k] != want {
			t.Errorf("label %s=%q, want %q (labels %v)", k, alert.Labels[k], want, alert.Labels)
		}
	}
	if !strings.HasPrefix(alert.Labels["incident"], "inc_") || alert.GeneratorURL != "https://logs.example.test/container/"+ctr.Name ||
		!strings.Contains(alert.Annotations["description"], "Exit code: 1") {
		t.Errorf("alert: %+v", alert)
	}
	incident := alert.Labels["incident"]
	eventually(t, "the firing notification at the receiver", 30*time.Second, func() bool {
		return recv.About("incident", incident)["firing"] == 1
	})

	startAgain(t, c, ctr.ID)
	eventually(t, "the resolved notification at the receiver", 60*time.Second, func() bool {
		return recv.About("incident", incident)["resolved"] == 1
	})
	if _, still := activeFor(t, ams[0], ctr.Name); still {
		t.Errorf("the alert is still active after the resolution")
	}
	if got := recv.About("incident", incident); got["firing"] != 1 {
		t.Errorf("notifications: %v, want one firing and one resolved", got)
	}
}

// Two whalewatch instances watching one daemon push to a cluster of two
// real Alertmanagers: one notification per crash and one resolution.
func TestTwoInstancesOneAlertmanagerCluster(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	recv := testalertmanager.NewReceiver(t)
	// group_interval 10s, well above the 2s peer timeout: see
	// testalertmanager.Options for Alertmanager's own HA window.
	ams := testalertmanager.Start(t, 2, testalertmanager.Options{Receiver: recv.URL, Sentinel: true, SentinelWait: 3 * time.Second,
		GroupInterval: 10 * time.Second, PeerTimeout: 2 * time.Second})
	urls := ams[0].URL + "," + ams[1].URL
	for range 2 {
		// The default re-send (1m): a re-send by one instance in the moment
		// between the two instances' resolutions would re-open the alert
		// (README, many hosts one pager); none falls in this test.
		start(t, ungrouped("DEST_AM_TYPE=alertmanager", "DEST_AM_URL="+urls, "RESOLVE_AFTER=2s", "WATCH_BY_DEFAULT=false")...)
	}
	ctr := testdocker.Run(t, c, testdocker.Spec{Name: "hacrash", Args: []string{"flaky", "1"},
		Labels: map[string]string{"whalewatch.enable": "true"}})
	var incident string
	eventually(t, "the crash notified", 60*time.Second, func() bool {
		for _, n := range recv.Got() {
			for _, a := range n.Alerts {
				if a.Labels["container"] == ctr.Name {
					incident = a.Labels["incident"]
					return true
				}
			}
		}
		return false
	})
	startAgain(t, c, ctr.ID)
	eventually(t, "the resolution notified", 60*time.Second, func() bool {
		return recv.About("incident", incident)["resolved"] > 0
	})
	// Each member notifies a sentinel of its own after everything it had
	// before: once both have, no member has a notification still to send.
	for _, am := range ams {
		am.PostSentinel(t, "after-"+ctr.Name)
	}
	eventually(t, "both members' sentinels", 60*time.Second, func() bool {
		return recv.SentinelFrom(0, "after-"+ctr.Name) && recv.SentinelFrom(1, "after-"+ctr.Name)
	})
	if got := recv.About("incident", incident); got["firing"] != 1 || got["resolved"] != 1 {
		t.Errorf("notifications about the crash: %v, want one firing and one resolved", got)
		for _, n := range recv.Got() {
			t.Logf("%s %s %v", n.Path, n.Status, n.Alerts)
		}
	}
}

// pings records heartbeat requests.
type pings struct {
	*httptest.Server
	mu  sync.Mutex
	got []ping
}

type ping struct {
	path string
	at   time.Time
}

func newPings(t *testing.T) *pings {
	p := &pings{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.got = append(p.got, ping{r.URL.Path, time.Now()})
		p.mu.Unlock()
		announce()
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *pings) list() []ping {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ping(nil), p.got...)
}

func (p *pings) count(path string, after time.Time) int {
	n := 0
	for _, x := range p.list() {
		if x.path == path && x.at.After(after) {
			n++
		}
	}
	return n
}

// The heartbeat pings every interval while the daemon's stream is open,
// stops (and says /fail) within two intervals of the daemon stopping,
// and resumes when it is back.
func TestHeartbeatFollowsTheDaemon(t *testing.T) {
	d := testdocker.StartPrivateDaemon(t, "")
	hb := newPings(t)
	const interval = time.Second
	const path = "/ping/0f9c-secret-check"
	p := start(t, "DOCKER_HOST="+d.Host, "HOST_NAME=hb", "HEARTBEAT_URL="+hb.URL+path,
		"HEARTBEAT_INTERVAL="+interval.String(), "HEARTBEAT_FAIL=true")
	t0 := time.Now()
	eventually(t, "three pings", 30*time.Second, func() bool { return hb.count(path, t0) >= 3 })
	got := hb.list()
	var gaps []time.Duration
	for i := 1; i < len(got); i++ {
		gaps = append(gaps, got[i].at.Sub(got[i-1].at))
	}
	for _, g := range gaps {
		if g < interval/2 || g > 3*interval {
			t.Errorf("pings %v apart, want about %s: %v", g, interval, gaps)
		}
	}

	stopped := time.Now() // the stop begins: the stream may end before d.Stop returns
	d.Stop(t)
	// /fail is the sentinel: the pinger has seen the stream down.
	eventually(t, "the /fail call", 30*time.Second, func() bool { return hb.count(path+"/fail", time.Time{}) > 0 })
	var failAt, lastPing time.Time
	for _, x := range hb.list() {
		switch x.path {
		case path + "/fail":
			failAt = x.at
		case path:
			if failAt.IsZero() {
				lastPing = x.at
			} else {
				t.Errorf("a ping after /fail while the daemon is down (at %s)", x.at.Sub(stopped))
			}
		}
	}
	if failAt.Sub(stopped) > 2*interval+time.Second || lastPing.Sub(stopped) > 2*interval {
		t.Errorf("after the stop: last ping %s, /fail %s; want both within two intervals", lastPing.Sub(stopped), failAt.Sub(stopped))
	}
	t.Logf("pings %v apart; after the stop: last ping at +%s, /fail at +%s", gaps, lastPing.Sub(stopped).Round(time.Millisecond), failAt.Sub(stopped).Round(time.Millisecond))
	if strings.Contains(p.logs(), "0f9c-secret-check") {
		t.Errorf("the heartbeat URL's path is in the log:\n%s", p.logs())
	}

	d.Start(t)
	back := time.Now()
	eventually(t, "pings resumed", 60*time.Second, func() bool { return hb.count(path, back) >= 2 })
	for _, x := range hb.list() {
		if x.path == path && x.at.After(back) {
			t.Logf("first ping %s after the daemon was back", x.at.Sub(back).Round(time.Millisecond))
			break
		}
	}
	if n := hb.count(path+"/fail", time.Time{}); n != 1 {
		t.Errorf("/fail called %d times, want once for the one outage", n)
	}
}

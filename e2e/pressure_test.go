package e2e

import (
	"context"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/testdocker"
	"github.com/whalewatch/whalewatch/notify/webhook"
)

// outputHas says whether a container's output holds text.
func outputHas(t *testing.T, c *client.Client, id, text string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	r, err := c.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true})
	if err != nil {
		return false
	}
	defer r.Close()
	b, _ := io.ReadAll(r)
	return strings.Contains(string(b), text)
}

// Memory pressure end to end on the real daemon: a container limited to
// 64 MiB that holds 58 MiB in /dev/shm is reported once by MEMORY_HIGH,
// not before its FOR of 5 s and within 20 s, with its figures, trend and
// output; freeing the memory resolves the incident; no message is sent
// per sample; a container without a limit holding as much never matches;
// an OOM kill in a container under pressure joins its incident.
func TestMemoryPressureIsOneIncident(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)
	p := start(t, "WEBHOOK_URL="+sink.URL+"/hook", "STATS_INTERVAL=1s", "RULE_MEMORY_HIGH_FOR=5s", "RULE_MEMORY_HIGH_GROUP_WINDOW=0")
	unlimited := testdocker.Run(t, c, testdocker.Spec{Name: "shm-free", Args: []string{"shm", "58"}})
	hog := testdocker.Run(t, c, testdocker.Spec{Name: "shm-hog", Args: []string{"shm", "58"}, Memory: 64 << 20})
	ooms := testdocker.Run(t, c, testdocker.Spec{Name: "shm-oom", Args: []string{"shm", "58"}, Memory: 64 << 20})
	eventually(t, "the containers filled their memory", 20*time.Second, func() bool {
		return outputHas(t, c, hog.ID, "holding 58 MiB") && outputHas(t, c, unlimited.ID, "holding 58 MiB") && outputHas(t, c, ooms.ID, "holding 58 MiB")
	})
	held := time.Now()

	high := func() []attempt {
		var out []attempt
		for _, a := range sink.all() {
			if a.payload.Name == hog.Name && a.payload.Rule == "MEMORY_HIGH" {
				out = append(out, a)
			}
		}
		return out
	}
	eventually(t, "MEMORY_HIGH about the hog", 20*time.Second, func() bool { return len(high()) > 0 })
	alert := high()[0]
	t.Logf("MEMORY_HIGH %s after the memory was held: %s", alert.at.Sub(held).Round(time.Millisecond), alert.payload.Summary)
	st := alert.payload.Stats
	switch {
	case st == nil || len(st.Trend) < 2:
		t.Fatalf("no figures or trend: %+v", alert.payload)
	case st.MemoryLimit != 64<<20 || st.MemoryPercent < 90 || st.MemoryBytes < 58<<20:
		t.Errorf("figures: %+v", st)
	case alert.payload.Time.Sub(st.Trend[0].Time) < 5*time.Second:
		t.Errorf("fired %s after the first matching sample, before its FOR of 5s: %+v",
			alert.payload.Time.Sub(st.Trend[0].Time), st.Trend)
	}
	if alert.at.Before(st.Trend[0].Time.Add(5 * time.Second)) {
		t.Errorf("arrived at %s, less than 5s after the first sample under pressure (%s)", alert.at, st.Trend[0].Time)
	}
	if alert.payload.Status != "firing" || alert.payload.Incident == nil || alert.payload.Type != "stats" {
		t.Errorf("alert: %+v", alert.payload)
	}
	if ev := alert.payload.Evidence; ev == nil || !strings.Contains(logText(ev.Logs), "holding 58 MiB") {
		t.Errorf("the card lacks the container's output: %+v", ev)
	}
	for _, want := range []string{"MiB of 64.0 MiB", "Trend: over ", "samples): memory 9"} {
		if !strings.Contains(alert.payload.Card, want) {
			t.Errorf("card lacks %q:\n%s", want, alert.payload.Card)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.ContainerKill(ctx, hog.ID, client.ContainerKillOptions{Signal: "USR1"}); err != nil {
		t.Fatal(err)
	}
	resolved := func(pl webhook.Payload) bool { return pl.Name == hog.Name && pl.Status == "resolved" }
	eventually(t, "the hog's incident resolved", 20*time.Second, func() bool { return len(sink.where(resolved)) > 0 })
	res := sink.where(resolved)[0]
	if res.Incident == nil || res.Incident.ID != alert.payload.Incident.ID || !strings.Contains(res.Summary, "no longer matches MEMORY_HIGH") {
		t.Errorf("resolution: %+v", res)
	}
	if got := sink.about(hog.Name); len(got) != 2 {
		t.Errorf("%d messages about the hog, want the alert and its resolution: %+v", len(got), got)
	}
	if got := sink.about(unlimited.Name); len(got) != 0 {
		t.Errorf("the container without a limit matched: %+v", got)
	}

	// A process that eats what is left is OOM-killed (the container lives
	// on): the OOM alert joins the pressure incident.
	eventually(t, "MEMORY_HIGH about the second container", 20*time.Second, func() bool { return len(sink.about(ooms.Name)) > 0 })
	pressure := sink.about(ooms.Name)[0]
	checkSamples(t, p)
	if testdocker.IsPodman(t, c) {
		t.Log("podman: the OOM kill joining the incident is not checked: " + testdocker.PodmanNoOOM)
		return
	}
	exec, err := c.ExecCreate(ctx, ooms.ID, client.ExecCreateOptions{Cmd: []string{"/testprog", "oom"}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.ExecStart(ctx, exec.ID, client.ExecStartOptions{Detach: true}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the OOM alert", 20*time.Second, func() bool {
		return len(sink.where(func(pl webhook.Payload) bool { return pl.Name == ooms.Name && pl.Rule == "OOM" })) > 0
	})
	got := sink.about(ooms.Name)
	if len(got) != 2 || pressure.Rule != "MEMORY_HIGH" || got[1].Incident == nil || pressure.Incident == nil ||
		got[1].Incident.ID != pressure.Incident.ID || got[1].Incident.Alerts != 2 {
		t.Errorf("pressure, then the OOM kill: %+v", got)
	}

}

// checkSamples: the containers were sampled about once a second all along.
func checkSamples(t *testing.T, p *proc) {
	t.Helper()
	m := regexp.MustCompile(`whalewatch_stats_samples_total\{host="[^"]*",result="ok"\} (\d+)`).FindStringSubmatch(get(t, "http://"+p.httpAddr(t)+"/metrics"))
	if len(m) < 2 {
		t.Fatal("no stats samples in /metrics")
	}
	if n, _ := strconv.Atoi(m[1]); n < 10 {
		t.Errorf("stats samples: %d", n)
	}
}

func logText(lines []event.LogLine) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.Text + "\n")
	}
	return b.String()
}

package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/internal/testdocker"
	"github.com/whalewatch/whalewatch/notify/webhook"
)

// delivered lists accepted payloads that concern a name with the prefix,
// and the container names they account for (a group update counts all its members).
func (s *scriptedSink) delivered(prefix string) (msgs []attempt, names map[string]int) {
	names = map[string]int{}
	for _, a := range s.all() {
		if a.status != 200 {
			continue
		}
		var mine []string
		if a.payload.Group != nil && a.payload.Group.Seq > 1 {
			for _, n := range a.payload.Group.New {
				mine = append(mine, strings.Fields(n)[0])
			}
		} else {
			mine = []string{a.payload.Name}
		}
		counted := false
		for _, n := range mine {
			if strings.HasPrefix(n, prefix) {
				names[n]++
				counted = true
			}
		}
		if counted {
			msgs = append(msgs, a)
		}
	}
	return msgs, names
}

// Failures then success: 500, then 429 with Retry-After twice, then 200.
// Every notification arrives once, in order, and Retry-After is honoured.
func TestDeliveryRetriesInOrderHonouringRetryAfter(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, func(n int) (int, string) {
		switch n {
		case 1:
			return 500, ""
		case 2, 3:
			return 429, "2"
		}
		return 200, ""
	})
	// One at a time (WEBHOOK_CONCURRENCY=1). Order holds per container,
	// incident and group only: a notification waiting for its retry does
	// not hold back another container's (see notify's poison tests).
	start(t, ungrouped("WEBHOOK_URL="+sink.URL, "WEBHOOK_CONCURRENCY=1")...)
	prefix := "wwtest-" + testdocker.RunID + "-retry-"
	var want []string
	for i := range 3 {
		ct := testdocker.Run(t, c, testdocker.Spec{Name: fmt.Sprintf("retry-%d", i), Args: []string{"exit", "3"}})
		want = append(want, ct.Name)
		time.Sleep(300 * time.Millisecond) // one dies after the other
	}
	eventually(t, "all delivered", 60*time.Second, func() bool { _, names := sink.delivered(prefix); return len(names) == 3 })
	// A sentinel: what it finds was delivered by then.
	sentinel := testdocker.Run(t, c, testdocker.Spec{Name: "sentinel-after-retries", Args: []string{"exit", "4"}})
	eventually(t, "the sentinel", 60*time.Second, func() bool { return len(sink.about(sentinel.Name)) == 1 })
	_, names := sink.delivered(prefix)
	for _, n := range want {
		if names[n] != 1 {
			t.Errorf("%s delivered %d times, want once", n, names[n])
		}
	}
	// Each retry of a notification waits as long as its 429 said.
	last := map[string]attempt{} // webhook-id → its previous attempt
	for _, a := range sink.all() {
		id := a.header.Get("webhook-id")
		if prev, ok := last[id]; ok && prev.status == 429 {
			if gap := a.at.Sub(prev.at); gap < 1900*time.Millisecond {
				t.Errorf("retried %s after a 429 with Retry-After: 2", gap)
			}
		}
		last[id] = a
	}
}

// runConcurrently runs f for 0..n-1 on a few goroutines.
func runConcurrently(n, workers int, f func(i int)) {
	var wg sync.WaitGroup
	next := make(chan int)
	for range workers {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}

// A storm on the real daemon: 200 containers of one compose project die
// within seconds while the webhook answers slowly. Every death is
// accounted for, in a handful of messages, and intake keeps up.
func TestStormIsGroupedAndNothingIsLost(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 150*time.Millisecond, nil)
	p := start(t, "WEBHOOK_URL="+sink.URL, "RULE_CRASHED_GROUP_WINDOW=5s")
	const n = 200
	project := "storm-" + testdocker.RunID
	ids := make([]string, n)
	runConcurrently(n, 4, func(i int) {
		ids[i] = testdocker.Run(t, c, testdocker.Spec{Name: fmt.Sprintf("storm-%03d", i), NoStart: true, Args: []string{"exit", "1"},
			Labels: map[string]string{"com.docker.compose.project": project}}).ID
	})
	began := time.Now()
	runConcurrently(n, 8, func(i int) {
		_, _ = c.ContainerStart(context.Background(), ids[i], client.ContainerStartOptions{})
	})
	started := time.Since(began)
	prefix := "wwtest-" + testdocker.RunID + "-storm-"
	eventually(t, "every death accounted for", 2*time.Minute, func() bool { _, names := sink.delivered(prefix); return len(names) == n })
	accounted := time.Since(began)
	msgs, names := sink.delivered(prefix)
	for name, count := range names {
		if count != 1 {
			t.Errorf("%s accounted %d times", name, count)
		}
	}
	lag := metricValue(t, get(t, "http://"+p.httpAddr(t)+"/metrics"), "whalewatch_event_lag_seconds_sum") /
		metricValue(t, get(t, "http://"+p.httpAddr(t)+"/metrics"), "whalewatch_event_lag_seconds_count")
	t.Logf("storm: %d deaths started in %s, all accounted for after %s in %d messages; mean event lag %.1f ms",
		n, started.Round(time.Millisecond), accounted.Round(time.Millisecond), len(msgs), lag*1000)
	if len(msgs) > 20 {
		t.Errorf("%d messages for %d deaths; grouping should keep it to a handful", len(msgs), n)
	}
}

// A burst on the real daemon into an event queue of 2: routine events are
// shed (a container list makes up for them), deaths wait in the backlog,
// and every death is delivered once.
func TestTinyEventQueueLosesNoDeath(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)
	p := start(t, ungrouped("WEBHOOK_URL="+sink.URL, "EVENT_QUEUE_SIZE=2", "CRASHLOOP_DEATHS=0")...)
	const n = 30
	ids := make([]string, n)
	runConcurrently(n, 4, func(i int) {
		ids[i] = testdocker.Run(t, c, testdocker.Spec{Name: fmt.Sprintf("tiny-%02d", i), NoStart: true, Args: []string{"exit", "1"}}).ID
	})
	runConcurrently(n, 8, func(i int) {
		_, _ = c.ContainerStart(context.Background(), ids[i], client.ContainerStartOptions{})
	})
	prefix := "wwtest-" + testdocker.RunID + "-tiny-"
	eventually(t, "every death delivered", time.Minute, func() bool { _, names := sink.delivered(prefix); return len(names) == n })
	_, names := sink.delivered(prefix)
	for name, count := range names {
		if count != 1 {
			t.Errorf("%s delivered %d times", name, count)
		}
	}
	t.Logf("events shed and containers listed again: %v", strings.Contains(p.logs(), "containers listed again"))
}

func metricValue(t *testing.T, metrics, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(metrics, "\n") {
		if strings.HasPrefix(line, name+" ") {
			var v float64
			fmt.Sscan(strings.TrimPrefix(line, name+" "), &v)
			return v
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// kill -9 while notifications are queued and containers keep dying, with
// and without grouping: the restart delivers every death; what is sent
// twice is at most what was in flight at the kill (the destination's
// concurrency), with the same webhook-id, and no death is reported under
// two ids.
func TestNothingIsLostAcrossKill9(t *testing.T) {
	for _, grouped := range []bool{false, true} {
		t.Run(fmt.Sprintf("grouped=%v", grouped), func(t *testing.T) { testKill9(t, grouped) })
	}
}

func testKill9(t *testing.T, grouped bool) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, time.Second, nil) // slow: notifications pile up in the outbox
	stateDir := t.TempDir()
	// Several in flight: a kill may catch each of them.
	const concurrency = 3
	env := ungrouped("WEBHOOK_URL="+sink.URL, "STATE_DIR="+stateDir, fmt.Sprint("WEBHOOK_CONCURRENCY=", concurrency))
	labels := map[string]string{}
	tag := "k9u"
	if grouped {
		env = []string{"WEBHOOK_URL=" + sink.URL, "STATE_DIR=" + stateDir, "RULE_CRASHED_GROUP_WINDOW=2s", fmt.Sprint("WEBHOOK_CONCURRENCY=", concurrency)}
		labels["com.docker.compose.project"] = "k9-" + testdocker.RunID
		tag = "k9g"
	}
	p := start(t, env...)
	prefix := "wwtest-" + testdocker.RunID + "-" + tag + "-"
	var want []string
	for i := range 15 {
		want = append(want, testdocker.Run(t, c, testdocker.Spec{Name: fmt.Sprintf("%s-a%02d", tag, i), Args: []string{"exit", "2"}, Labels: labels}).Name)
	}
	// These die while whalewatch is dead.
	var later []string
	for i := range 10 {
		ct := testdocker.Run(t, c, testdocker.Spec{Name: fmt.Sprintf("%s-b%02d", tag, i), Args: []string{"exit", "2", "6s"}, Labels: labels})
		want, later = append(want, ct.Name), append(later, ct.ID)
	}
	eventually(t, "some delivered", 30*time.Second, func() bool { msgs, _ := sink.delivered(prefix); return len(msgs) >= 2 })
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	before, names := sink.delivered(prefix)
	t.Logf("killed with %d messages delivered, accounting for %d of %d deaths", len(before), len(names), len(want))
	for _, id := range later { // the daemon says when they are dead
		testdocker.WaitStopped(t, c, id, 30*time.Second)
	}
	start(t, env...)
	eventually(t, "everything delivered after the restart", 90*time.Second, func() bool {
		_, names := sink.delivered(prefix)
		return len(names) == len(want)
	})
	msgs, names := sink.delivered(prefix)
	byID := map[string]int{}
	for _, m := range msgs {
		byID[m.header.Get("webhook-id")]++
	}
	resent := 0
	for _, n := range byID {
		resent += n - 1
	}
	twice := 0
	for _, count := range names {
		if count > 1 {
			twice++
		}
	}
	t.Logf("after the restart: %d of %d deaths in %d messages; %d messages sent again (same webhook-id), %d deaths in them",
		len(names), len(want), len(msgs), resent, twice)
	if resent > concurrency {
		t.Errorf("%d messages sent again; only the %d that may be in flight at the kill may be", resent, concurrency)
	}
	if resent == 0 && twice > 0 {
		t.Errorf("%d deaths reported twice under different webhook-ids", twice)
	}
}

// A container in a restart loop for a minute: the first crash, the loop
// (edited in place while it lasts) and its end — at most three messages;
// the loop's messages account for every death.
func TestCrashLoopIsAtMostThreeMessages(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)
	start(t, "WEBHOOK_URL="+sink.URL, "CRASHLOOP_DEATHS=4", "CRASHLOOP_WINDOW=1m")
	ct := testdocker.Run(t, c, testdocker.Spec{Name: "loop", Args: []string{"exit", "1"}, Restart: container.RestartPolicyAlways})
	about := func() (inChannel, edits []webhook.Payload) {
		for _, a := range sink.all() {
			if a.payload.Name != ct.Name {
				continue
			}
			if g := a.payload.Group; a.payload.Rule == "CRASHLOOP" && g != nil && g.Seq > 1 && !g.Final {
				edits = append(edits, a.payload)
			} else {
				inChannel = append(inChannel, a.payload)
			}
		}
		return
	}
	eventually(t, "crash loop message", 30*time.Second, func() bool {
		msgs, _ := about()
		return slices.ContainsFunc(msgs, func(p webhook.Payload) bool { return p.Rule == "CRASHLOOP" })
	})
	// It keeps dying for about a minute (Docker's restart delay doubles;
	// the daemon counts the restarts).
	began := time.Now()
	eventually(t, "ten restarts", 3*time.Minute, func() bool {
		res, err := c.ContainerInspect(context.Background(), ct.ID, client.ContainerInspectOptions{})
		return err == nil && res.Container.RestartCount >= 10
	})
	t.Logf("ten restarts after %s", time.Since(began).Round(time.Second))
	testdocker.Remove(c, ct.ID)
	eventually(t, "loop over", 30*time.Second, func() bool {
		msgs, _ := about()
		return slices.ContainsFunc(msgs, func(p webhook.Payload) bool { return p.Group != nil && p.Group.Final })
	})
	msgs, edits := about()
	var shown []string
	for _, m := range msgs {
		shown = append(shown, m.Rule+": "+m.Summary)
	}
	t.Logf("crash loop for a minute: %d messages, %d edits:\n%s", len(msgs), len(edits), strings.Join(shown, "\n"))
	if len(msgs) > 3 {
		t.Errorf("%d messages in the channel; want at most 3", len(msgs))
	}
}

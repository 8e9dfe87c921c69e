package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/whalewatch/whalewatch/internal/testdocker"
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
	start(t, ungrouped("WEBHOOK_URL="+sink.URL)...)
	prefix := "wwtest-" + testdocker.RunID + "-retry-"
	var want []string
	for i := range 3 {
		ct := testdocker.Run(t, c, testdocker.Spec{Name: fmt.Sprintf("retry-%d", i), Args: []string{"exit", "3"}})
		want = append(want, ct.Name)
		time.Sleep(300 * time.Millisecond) // one dies after the other
	}
	eventually(t, "all delivered", 60*time.Second, func() bool { _, names := sink.delivered(prefix); return len(names) == 3 })
	time.Sleep(time.Second)
	msgs, names := sink.delivered(prefix)
	var order []string
	for _, m := range msgs {
		order = append(order, m.payload.Name)
	}
	if strings.Join(order, ",") != strings.Join(want, ",") {
		t.Errorf("delivered %v, want each once in order %v", order, want)
	}
	for n, count := range names {
		if count != 1 {
			t.Errorf("%s delivered %d times", n, count)
		}
	}
	all := sink.all()
	for i := 1; i < len(all); i++ {
		if all[i-1].status == 429 {
			if gap := all[i].at.Sub(all[i-1].at); gap < 1900*time.Millisecond {
				t.Errorf("retried %s after a 429 with Retry-After: 2", gap)
			}
		}
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

// kill -9 while notifications are queued and containers keep dying; the
// restart delivers everything (duplicates keep their webhook-id).
func TestNothingIsLostAcrossKill9(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, time.Second, nil) // slow: notifications pile up in the outbox
	stateDir := t.TempDir()
	env := ungrouped("WEBHOOK_URL="+sink.URL, "STATE_DIR="+stateDir)
	p := start(t, env...)
	prefix := "wwtest-" + testdocker.RunID + "-k9-"
	var want []string
	for i := range 15 {
		want = append(want, testdocker.Run(t, c, testdocker.Spec{Name: fmt.Sprintf("k9-a%02d", i), Args: []string{"exit", "2"}}).Name)
	}
	// These die while whalewatch is dead.
	for i := range 10 {
		want = append(want, testdocker.Run(t, c, testdocker.Spec{Name: fmt.Sprintf("k9-b%02d", i), Args: []string{"exit", "2", "5s"}}).Name)
	}
	eventually(t, "some delivered", 30*time.Second, func() bool { _, names := sink.delivered(prefix); return len(names) >= 3 })
	time.Sleep(1500 * time.Millisecond) // a checkpoint with the running containers
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.done
	_, before := sink.delivered(prefix)
	t.Logf("killed with %d of %d delivered", len(before), len(want))
	time.Sleep(6 * time.Second)
	start(t, env...)
	eventually(t, "everything delivered after the restart", 90*time.Second, func() bool {
		_, names := sink.delivered(prefix)
		return len(names) == len(want)
	})
	msgs, names := sink.delivered(prefix)
	ids := map[string]map[string]bool{}
	for _, m := range msgs {
		if ids[m.payload.Name] == nil {
			ids[m.payload.Name] = map[string]bool{}
		}
		ids[m.payload.Name][m.header.Get("webhook-id")] = true
	}
	dups := 0
	for name, count := range names {
		if count > 1 {
			dups++
			if len(ids[name]) != 1 {
				t.Errorf("%s redelivered with a new webhook-id: %v", name, ids[name])
			}
		}
	}
	t.Logf("after the restart: %d of %d delivered, %d delivered twice (same webhook-id)", len(names), len(want), dups)
}

// A container in a restart loop: one crash-loop message (and at most a
// couple of crash messages before it), not dozens; removing it ends the loop.
func TestCrashLoopIsOneMessage(t *testing.T) {
	c := testdocker.Client(t)
	testdocker.Image(t, c)
	sink := newScriptedSink(t, 0, nil)
	start(t, "WEBHOOK_URL="+sink.URL, "CRASHLOOP_DEATHS=4", "CRASHLOOP_WINDOW=1m")
	ct := testdocker.Run(t, c, testdocker.Spec{Name: "loop", Args: []string{"exit", "1"}, Restart: container.RestartPolicyAlways})
	loopMsgs := func() (first, all int) {
		for _, a := range sink.all() {
			if a.payload.Name == ct.Name && a.payload.Rule == "CRASHLOOP" {
				all++
				if a.payload.Group != nil && a.payload.Group.Seq == 1 {
					first++
				}
			}
		}
		return
	}
	eventually(t, "crash loop message", 30*time.Second, func() bool { f, _ := loopMsgs(); return f == 1 })
	time.Sleep(8 * time.Second) // it keeps dying
	testdocker.Remove(c, ct.ID)
	eventually(t, "loop over", 20*time.Second, func() bool { _, all := loopMsgs(); return all == 2 })
	var crashed int
	for _, a := range sink.all() {
		if a.payload.Name == ct.Name && a.payload.Rule == "CRASHED" {
			crashed++
		}
	}
	first, all := loopMsgs()
	t.Logf("crash loop: %d CRASHED, %d CRASHLOOP messages", crashed, all)
	if first != 1 || crashed > 2 {
		t.Errorf("%d loop starts and %d crash messages; want 1 and at most 2", first, crashed)
	}
}

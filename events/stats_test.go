package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
	dto "github.com/prometheus/client_model/go"

	"github.com/whalewatch/whalewatch/event"
	"github.com/whalewatch/whalewatch/internal/metrics"
)

// hostMemory is MemTotal of the host the docker20.10-*/docker29-* answers
// were captured on: the limit Docker reports for a container without one.
const hostMemory = 25276502016

func readStats(t *testing.T, name string) container.StatsResponse {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", "stats", name))
	if err != nil {
		t.Fatal(err)
	}
	var r container.StatsResponse
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return r
}

func TestComputeStatsAsDockerStats(t *testing.T) {
	for _, tc := range []struct {
		file string
		prev *cpuSample
		edit func(*container.StatsResponse)
		want event.Stats
	}{
		// cgroup v1, one-shot: no precpu and no earlier sample, so no CPU yet.
		{file: "docker20.10-wwcap-lim.json", want: event.Stats{MemoryBytes: 44261376, MemoryLimit: 64 << 20, MemoryPercent: 65.95, PIDs: 7, PIDsLimit: 50}},
		{file: "docker29-wwcap-lim.json", want: event.Stats{MemoryBytes: 44277760, MemoryLimit: 64 << 20, MemoryPercent: 65.98, PIDs: 7, PIDsLimit: 50}},
		// The earlier sample whalewatch kept: 0.05 s of the container's CPU
		// in 2 s of the host's (2 CPUs) is 5 % (of one CPU).
		{file: "docker29-wwcap-lim.json", prev: &cpuSample{total: 64555659 - 50_000_000, system: 20503540000000 - 2_000_000_000},
			want: event.Stats{MemoryBytes: 44277760, MemoryLimit: 64 << 20, MemoryPercent: 65.98, CPUPercent: 5, PIDs: 7, PIDsLimit: 50}},
		// The daemon's precpu wins over the kept sample (idle: 0 %).
		{file: "docker20.10-wwcap-lim-precpu.json", prev: &cpuSample{total: 1, system: 1},
			want: event.Stats{MemoryBytes: 44261376, MemoryLimit: 64 << 20, MemoryPercent: 65.95, PIDs: 7, PIDsLimit: 50}},
		// No limit: Docker reports the host's memory; no percentage, no pids limit.
		{file: "docker20.10-wwcap-free.json", want: event.Stats{MemoryBytes: 1150976, PIDs: 7}},
		{file: "docker29-wwcap-free.json", want: event.Stats{MemoryBytes: 1052672, PIDs: 6}},
		// cgroup v1 with file cache: total_inactive_file (the hierarchy's) is
		// taken off, not inactive_file.
		{file: "docker29-wwcap-lim.json", edit: func(r *container.StatsResponse) {
			r.MemoryStats.Stats["total_inactive_file"], r.MemoryStats.Stats["inactive_file"] = 8<<20, 1<<20
		}, want: event.Stats{MemoryBytes: 44277760 - 8<<20, MemoryLimit: 64 << 20, MemoryPercent: 53.48, PIDs: 7, PIDsLimit: 50}},
		// An inactive cache above usage (the counters are read apart) takes nothing off.
		{file: "docker29-wwcap-lim.json", edit: func(r *container.StatsResponse) {
			r.MemoryStats.Stats["total_inactive_file"] = 1 << 40
		}, want: event.Stats{MemoryBytes: 44277760, MemoryLimit: 64 << 20, MemoryPercent: 65.98, PIDs: 7, PIDsLimit: 50}},
		// cgroup v2: inactive_file off usage; CPU from precpu: 0.5 s in 2 s of 2 CPUs.
		{file: "cgroupv2-constructed.json", want: event.Stats{MemoryBytes: 60817408 - 4194304, MemoryLimit: 64 << 20, MemoryPercent: 84.38,
			CPUPercent: 50, PIDs: 46, PIDsLimit: 50}},
		// cgroup v2 "max" pids: no limit.
		{file: "cgroupv2-constructed.json", edit: func(r *container.StatsResponse) { r.PidsStats.Limit = ^uint64(0) },
			want: event.Stats{MemoryBytes: 60817408 - 4194304, MemoryLimit: 64 << 20, MemoryPercent: 84.38, CPUPercent: 50, PIDs: 46}},
	} {
		r := readStats(t, tc.file)
		if tc.edit != nil {
			tc.edit(&r)
		}
		got := computeStats(r, tc.prev, hostMemory)
		if got.MemoryBytes != tc.want.MemoryBytes || got.MemoryLimit != tc.want.MemoryLimit || got.MemoryPercent != tc.want.MemoryPercent ||
			got.CPUPercent != tc.want.CPUPercent || got.PIDs != tc.want.PIDs || got.PIDsLimit != tc.want.PIDsLimit {
			t.Errorf("%s (prev %v): got %+v, want %+v", tc.file, tc.prev, got, tc.want)
		}
	}
}

func TestComputeStatsWithoutHostMemory(t *testing.T) {
	// /info gave no MemTotal: a real limit still counts, cgroup "max" does not.
	r := readStats(t, "docker29-wwcap-lim.json")
	if got := computeStats(r, nil, 0); got.MemoryLimit != 64<<20 {
		t.Errorf("limit = %d", got.MemoryLimit)
	}
	r.MemoryStats.Limit = 1<<63 - 4096
	if got := computeStats(r, nil, 0); got.MemoryLimit != 0 || got.MemoryPercent != 0 {
		t.Errorf("unlimited: %+v", got)
	}
}

// statsDocker is a daemon of n running containers that answer stats (the
// captured cgroup v1 answer, their CPU counter growing per request), logs
// and inspect, counting the requests in flight.
type statsDocker struct {
	Docker
	n                   int
	answer              []byte
	mu                  sync.Mutex
	inFlight, maxFlight int
	requests            int
}

func (d *statsDocker) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	return client.SystemInfoResult{Info: system.Info{ID: "DAEMON", MemTotal: hostMemory}}, nil
}

func (d *statsDocker) ContainerList(_ context.Context, o client.ContainerListOptions) (client.ContainerListResult, error) {
	var list client.ContainerListResult
	if !o.Filters["status"]["running"] {
		return list, errors.New("not asked for the running ones")
	}
	for i := range d.n {
		labels := map[string]string{}
		if i == 0 {
			labels["whalewatch.enable"] = "false"
		}
		list.Items = append(list.Items, container.Summary{ID: fmt.Sprintf("c%02d", i), Names: []string{fmt.Sprintf("/app-%02d", i)}, Labels: labels})
	}
	return list, nil
}

func (d *statsDocker) ContainerStats(_ context.Context, id string, _ client.ContainerStatsOptions) (client.ContainerStatsResult, error) {
	d.mu.Lock()
	d.inFlight++
	d.requests++
	d.maxFlight = max(d.maxFlight, d.inFlight)
	n := d.requests
	d.mu.Unlock()
	defer func() { d.mu.Lock(); d.inFlight--; d.mu.Unlock() }()
	runtime.Gosched() // let the others in
	var r container.StatsResponse
	if err := json.Unmarshal(d.answer, &r); err != nil {
		return client.ContainerStatsResult{}, err
	}
	r.ID = id
	r.CPUStats.CPUUsage.TotalUsage += uint64(n) * 10_000_000
	r.CPUStats.SystemUsage += uint64(n) * 100_000_000
	b, _ := json.Marshal(r)
	return client.ContainerStatsResult{Body: io.NopCloser(bytes.NewReader(b))}, nil
}

func (d *statsDocker) ContainerInspect(context.Context, string, client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	return client.ContainerInspectResult{Container: container.InspectResponse{State: &container.State{Running: true}, Config: &container.Config{}}}, nil
}

func (d *statsDocker) ContainerLogs(context.Context, string, client.ContainerLogsOptions) (client.ContainerLogsResult, error) {
	line := []byte("allocating cache\n")
	return io.NopCloser(bytes.NewReader(append([]byte{1, 0, 0, 0, 0, 0, 0, byte(len(line))}, line...))), nil
}

// A round samples every running, watched container once with at most
// Concurrency requests in flight, names the daemon by the ID its stream
// settled on (none before the stream identified it and is open), keeps each
// container's sample for the next round's CPU, gathers evidence for a
// matching container once a spell, and sheds samples when the queue is
// half full.
func TestSamplerRound(t *testing.T) {
	data, err := os.ReadFile("testdata/stats/docker29-wwcap-lim.json")
	if err != nil {
		t.Fatal(err)
	}
	d := &statsDocker{n: 21, answer: data}
	m := metrics.New()
	src := NewSource("h", d, Options{Log: quiet(), Metrics: m, Evidence: EvidenceOptions{LogLines: 5, LogsTimeout: time.Second},
		Stats: StatsOptions{Interval: time.Second, Concurrency: 3},
		Interest: FakeInterest{Stats: true,
			Watch: func(l map[string]string) bool { return l["whalewatch.enable"] != "false" },
			Match: func(ev event.Event) bool { return ev.ActorID == "c05" }}})
	s := src.stats
	s.prev, s.evidenceAt = map[string]cpuSample{}, map[string]time.Time{}
	out := make(chan event.Item, 100)
	if err := s.round(t.Context(), out); err != nil || len(out) != 0 {
		t.Fatalf("before the stream identified the daemon: %v, %d samples", err, len(out))
	}
	id := "DAEMON"
	src.identity.Store(&id)
	src.downSince.Store(0) // the stream is open
	for round := range 2 {
		if err := s.round(t.Context(), out); err != nil {
			t.Fatal(err)
		}
		if len(out) != 20 {
			t.Fatalf("round %d: %d samples, want 20 (one container is not watched)", round, len(out))
		}
		for range 20 {
			it := <-out
			ev := it.Event
			switch {
			case (ev.ActorID == "c05") != (len(it.Verdict.Rules) > 0):
				t.Errorf("round %d, %s: verdict %+v", round, ev.ActorID, it.Verdict)
			case ev.Type != event.StatsType || ev.HostID != "DAEMON" || ev.Stats == nil || ev.Stats.MemoryLimit != 64<<20 || ev.ActorID == "c00":
				t.Fatalf("round %d: %+v", round, ev)
			case (round == 1) != (ev.Stats.CPUPercent > 0):
				t.Errorf("round %d: CPU %v", round, ev.Stats.CPUPercent)
			case (ev.ActorID == "c05" && round == 0) != (ev.Evidence != nil):
				t.Errorf("round %d, %s: evidence %+v", round, ev.ActorID, ev.Evidence)
			case ev.Evidence != nil && (len(ev.Evidence.Logs) != 1 || ev.Evidence.Logs[0].Text != "allocating cache"):
				t.Errorf("evidence: %+v", ev.Evidence)
			}
		}
	}
	if d.maxFlight > 3 || d.maxFlight < 1 {
		t.Errorf("%d requests in flight, Concurrency 3", d.maxFlight)
	}
	small := make(chan event.Item, 10)
	if err := s.round(t.Context(), small); err != nil {
		t.Fatal(err)
	}
	if len(small) != 5 {
		t.Errorf("%d samples in a queue of 10, want 5 (the other half is the stream's)", len(small))
	}
	if got := counted(m, "shed"); got != 15 {
		t.Errorf("shed %v, want 15", got)
	}
	if got := counted(m, "ok"); got != 45 {
		t.Errorf("ok %v, want 45", got)
	}
}

func counted(m *metrics.Metrics, result string) float64 {
	var d dto.Metric
	_ = m.StatsSamples.WithLabelValues("h", result).Write(&d)
	return d.GetCounter().GetValue()
}

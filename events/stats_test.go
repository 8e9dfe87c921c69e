package events

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/moby/moby/api/types/container"

	"github.com/whalewatch/whalewatch/event"
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

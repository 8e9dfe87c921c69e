package main

import (
	"runtime/debug"
	"strconv"
	"strings"
)

// memoryDefaults sets the collector for a small sidecar, where the user
// has not (docs/BENCHMARKS.md has the figures):
//   - GOGC: the heap is collected when it has grown by half, not doubled:
//     6 MB less under a storm for 12 % more CPU. It is set once started:
//     start-up's garbage is short-lived, and half growth of the runtime's
//     least heap goal collected it a dozen times, 3–4 ms of every start.
//   - GOMEMLIMIT: in a container with a memory limit, three quarters of
//     it, so that the collector works harder before the kernel kills the
//     container. Without a limit none: one below the live heap makes the
//     collector run constantly.
//
// It returns the container's memory limit and the soft limit set from it
// (0 when none).
func memoryDefaults(lookup func(string) (string, bool), readFile func(string) ([]byte, error)) (container, soft int64) {
	if _, set := lookup("GOGC"); !set {
		debug.SetGCPercent(50)
	}
	if _, set := lookup("GOMEMLIMIT"); set {
		return 0, 0
	}
	container = containerMemoryLimit(readFile)
	if container == 0 {
		return 0, 0
	}
	soft = container / 4 * 3
	debug.SetMemoryLimit(soft)
	return container, soft
}

// containerMemoryLimit reads the memory limit of the cgroup whalewatch
// runs in as a container sees it (v2, then v1); 0 when there is none.
func containerMemoryLimit(readFile func(string) ([]byte, error)) int64 {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := readFile(path)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		if err != nil || n <= 0 || n >= 1<<60 { // "max", or v1's page-rounded MaxInt64
			return 0
		}
		return n
	}
	return 0
}

// sizeMiB writes a byte count as GOMEMLIMIT takes it.
func sizeMiB(b int64) string { return strconv.FormatInt(b>>20, 10) + "MiB" }

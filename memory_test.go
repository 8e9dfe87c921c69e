package main

import (
	"io/fs"
	"runtime/debug"
	"testing"
)

// A container's memory limit, as cgroup v2 or v1 shows it from inside,
// gives the heap a soft limit of three quarters of it, unless GOMEMLIMIT
// is set; without a limit there is none.
func TestMemoryDefaultsFollowTheContainersLimit(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	for _, tc := range []struct {
		desc  string
		files map[string]string
		env   map[string]string
		soft  int64
	}{
		{"v2 limit", map[string]string{"/sys/fs/cgroup/memory.max": "67108864\n"}, nil, 48 << 20},
		{"v2 unlimited", map[string]string{"/sys/fs/cgroup/memory.max": "max\n"}, nil, 0},
		{"v1 limit", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "134217728\n"}, nil, 96 << 20},
		{"v1 unlimited", map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"}, nil, 0},
		{"no cgroup files", nil, nil, 0},
		{"GOMEMLIMIT set", map[string]string{"/sys/fs/cgroup/memory.max": "67108864\n"}, map[string]string{"GOMEMLIMIT": "20MiB"}, 0},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			debug.SetMemoryLimit(1 << 62)
			read := func(name string) ([]byte, error) {
				if s, ok := tc.files[name]; ok {
					return []byte(s), nil
				}
				return nil, fs.ErrNotExist
			}
			lookup := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			_, soft := memoryDefaults(lookup, read)
			if soft != tc.soft {
				t.Errorf("soft limit %d, want %d", soft, tc.soft)
			}
			want := tc.soft
			if want == 0 {
				want = 1 << 62
			}
			if got := debug.SetMemoryLimit(-1); got != want {
				t.Errorf("runtime's limit %d, want %d", got, want)
			}
		})
	}
}

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

// validate refuses what run refuses in STATE_DIR — a whalewatch.db that
// is a directory, or that another process holds — and names the file and
// the way out, never as "configuration is not valid"; a damaged file is
// refused by validate (run would move it aside and start fresh).
func TestStateFileProblemsAreRefusedByValidateAndRun(t *testing.T) {
	cases := []struct {
		name    string
		prepare func(t *testing.T, dir string)
		want    string
		run     bool // run refuses it too (before it needs Docker)
	}{
		{"directory", func(t *testing.T, dir string) {
			if err := os.Mkdir(filepath.Join(dir, "whalewatch.db"), 0o700); err != nil {
				t.Fatal(err)
			}
		}, "is a directory", true},
		{"locked", func(t *testing.T, dir string) {
			db, err := bolt.Open(filepath.Join(dir, "whalewatch.db"), 0o600, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { db.Close() })
		}, "another whalewatch holds the state file", true},
		{"damaged", func(t *testing.T, dir string) {
			if err := os.WriteFile(filepath.Join(dir, "whalewatch.db"), bytes.Repeat([]byte("not bbolt "), 1000), 0o600); err != nil {
				t.Fatal(err)
			}
		}, "would move it aside", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.prepare(t, dir)
			env := []string{"STATE_DIR=" + dir, "HTTP_ADDR=off"}
			cmds := []string{"validate"}
			if c.run {
				cmds = append(cmds, "run")
			}
			for _, cmd := range cmds {
				var stdout, stderr bytes.Buffer
				var code int
				if cmd == "validate" {
					code = validate(env, &stdout, &stderr)
				} else {
					ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
					code = watch(ctx, env, &stdout, &stderr)
					cancel()
				}
				out := stderr.String()
				if code != exitBadConfig || !strings.Contains(out, c.want) || !strings.Contains(out, filepath.Join(dir, "whalewatch.db")) {
					t.Errorf("%s: exit %d, want 2 naming the file and saying %q:\n%s%s", cmd, code, c.want, stdout.String(), out)
				}
				if strings.Contains(out, "configuration is not valid") {
					t.Errorf("%s: a state-file problem reported as a configuration problem:\n%s", cmd, out)
				}
			}
		})
	}
}

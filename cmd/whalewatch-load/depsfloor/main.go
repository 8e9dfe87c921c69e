// Command depsfloor is the floor under whalewatch's start-up and idle
// memory (docs/BENCHMARKS.md): a program that links and initialises the
// libraries whalewatch imports, makes a Docker client and a Prometheus
// registry, and does nothing else. Build it as the image builds
// whalewatch (CGO_ENABLED=0, -ldflags=-s -w). "depsfloor exit" returns at
// once (time it from exec to exit); "depsfloor" waits a second and prints
// its resident memory as /proc/self/status has it.
package main

import (
	"fmt"
	"os"
	"strings"
	"time"

	_ "github.com/caarlos0/env/v11"
	_ "github.com/cenkalti/backoff/v5"
	_ "github.com/expr-lang/expr"
	_ "github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/client"
	_ "github.com/nicholas-fedor/shoutrrr/pkg/router"
	"github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/slack-go/slack"
	_ "github.com/slack-go/slack/socketmode"
	_ "go.etcd.io/bbolt"
	_ "golang.org/x/sync/errgroup"
	_ "golang.org/x/time/rate"
)

func main() {
	c, err := client.New(client.FromEnv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "depsfloor:", err)
		os.Exit(1)
	}
	defer c.Close()
	_ = prometheus.NewRegistry()
	if len(os.Args) > 1 && os.Args[1] == "exit" {
		return
	}
	time.Sleep(time.Second)
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		fmt.Fprintln(os.Stderr, "depsfloor:", err)
		os.Exit(1)
	}
	for _, line := range strings.Split(string(status), "\n") {
		if strings.HasPrefix(line, "VmRSS") || strings.HasPrefix(line, "RssAnon") || strings.HasPrefix(line, "RssFile") {
			fmt.Println(line)
		}
	}
}

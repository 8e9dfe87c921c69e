// Command testprog is the one program in whalewatch's test image (FROM
// scratch): it exits, sleeps, fails health checks or eats memory on demand.
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: testprog exit N | say TEXT N | flaky N [TEXT] | sickfor N | sleep | stubborn | oom | healthy | unhealthy | log N | shm N")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "exit": // exit with the given code after an optional delay
		code, _ := strconv.Atoi(os.Args[2])
		if len(os.Args) > 3 {
			d, _ := time.ParseDuration(os.Args[3])
			time.Sleep(d)
		}
		os.Exit(code)
	case "say": // a line on stdout, TEXT on stderr, then exit N
		fmt.Println("starting up")
		fmt.Fprintln(os.Stderr, os.Args[2])
		code, _ := strconv.Atoi(os.Args[3])
		os.Exit(code)
	case "flaky": // crash on the first N runs (counted in the container's own file, saying TEXT if given), then stay up
		n, _ := strconv.Atoi(os.Args[2])
		runs, _ := os.ReadFile("/runs")
		_ = os.WriteFile("/runs", append(runs, '.'), 0o644)
		if len(runs) < n {
			if len(os.Args) > 3 {
				fmt.Fprintln(os.Stderr, os.Args[3])
			}
			fmt.Fprintf(os.Stderr, "flaky: crash %d of %d\n", len(runs)+1, n)
			os.Exit(1)
		}
		fmt.Println("flaky: up for good")
		time.Sleep(time.Hour)
	case "sleep": // run until stopped; exit 0 on SIGTERM like a good service
		sig := make(chan os.Signal, 1)
		signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
		<-sig
	case "stubborn": // ignore SIGTERM: docker stop waits for its timeout
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Hour)
	case "oom": // touch memory until the kernel kills us
		var hoard [][]byte
		for {
			b := make([]byte, 1<<20)
			for i := range b {
				b[i] = 1
			}
			hoard = append(hoard, b)
			time.Sleep(time.Millisecond)
		}
	case "healthy":
		os.Exit(0)
	case "unhealthy":
		fmt.Println("probe: backend unreachable at 127.0.0.1:5432")
		os.Exit(1)
	case "shm": // hold N MiB in a /dev/shm file (memory of the cgroup) until SIGUSR1 frees it, then run until stopped
		hold(os.Args[2])
	case "sickfor": // a probe that fails its first N runs (counted in the container's own file), then passes
		n, _ := strconv.Atoi(os.Args[2])
		runs, _ := os.ReadFile("/probes")
		_ = os.WriteFile("/probes", append(runs, '.'), 0o644)
		if len(runs) < n {
			fmt.Printf("probe %d: backend unreachable at 127.0.0.1:5432\n", len(runs)+1)
			os.Exit(1)
		}
		fmt.Println("probe: ok")
	case "log": // print N numbered lines, then sleep
		n, _ := strconv.Atoi(os.Args[2])
		for i := 1; i <= n; i++ {
			fmt.Printf("line %d\n", i)
		}
		time.Sleep(time.Hour)
	}
}

// hold fills /dev/shm/hold with n MiB (tmpfs: charged to the container's
// memory), says so, and removes the file on SIGUSR1.
func hold(n string) {
	mib, _ := strconv.Atoi(n)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGUSR1, syscall.SIGTERM, syscall.SIGINT)
	f, err := os.Create("/dev/shm/hold")
	if err != nil {
		fmt.Fprintln(os.Stderr, "shm:", err)
		os.Exit(1)
	}
	chunk := make([]byte, 1<<20)
	for i := range chunk {
		chunk[i] = 1
	}
	for range mib {
		if _, err := f.Write(chunk); err != nil {
			fmt.Fprintln(os.Stderr, "shm:", err)
			os.Exit(1)
		}
	}
	f.Close()
	fmt.Printf("holding %d MiB in /dev/shm\n", mib)
	for s := range sig {
		if s != syscall.SIGUSR1 {
			return
		}
		os.Remove("/dev/shm/hold")
		fmt.Println("freed")
	}
}

package app

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/config"
)

// New says whose a failure is, so that the command can say it in those
// words: the state file's, the Docker connection's, HTTP_ADDR's. Nothing
// here reaches a daemon.
func TestNewErrorsSayWhoseTheyAre(t *testing.T) {
	stateDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(stateDir, "whalewatch.db"), 0o700); err != nil {
		t.Fatal(err)
	}
	junk := t.TempDir() // TLS files that are no certificates
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(junk, f), []byte("pem"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	for _, tc := range []struct {
		desc string
		env  []string
		want Kind
	}{
		{"state file is a directory", []string{"STATE_DIR=" + stateDir}, KindState},
		{"a daemon's TLS files", []string{"DOCKER_HOSTS=secure=tcp://127.0.0.1:1", "DOCKER_SECURE_CERT_PATH=" + junk}, KindDocker},
		{"HTTP_ADDR taken", []string{"HOST_NAME=main", "DOCKER_HOST=unix:///nonexistent.sock", "HTTP_ADDR=" + taken.Addr().String()}, KindListen},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			cfg, err := config.Load(append([]string{"HTTP_ADDR=off"}, tc.env...))
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			a, err := New(ctx, cfg, Options{Stdout: io.Discard, Log: quietLog(), Started: time.Now()})
			var e *Error
			if a != nil || !errors.As(err, &e) || e.Kind != tc.want {
				t.Errorf("got %v, %v; want an error of kind %d", a, err, tc.want)
			}
		})
	}
}

// A bot built in-process runs until its context ends and stops cleanly.
func TestNewRunClose(t *testing.T) {
	cfg, err := config.Load([]string{"HOST_NAME=main", "DOCKER_HOST=unix:///nonexistent.sock", "HTTP_ADDR=127.0.0.1:0", "STATE_DIR=" + t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(context.Background(), cfg, Options{Stdout: io.Discard, Log: quietLog(), Started: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	cancel()
	if err := <-done; err != nil {
		t.Errorf("run: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

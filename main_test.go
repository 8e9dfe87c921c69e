package main

import (
	"strings"
	"testing"
)

func TestUnknownCommand(t *testing.T) {
	var out, errOut strings.Builder
	if code := run([]string{"frobnicate"}, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), `unknown command "frobnicate"`) {
		t.Errorf("code %d, stderr %s", code, errOut.String())
	}
	if code := run([]string{"version"}, nil, &out, &errOut); code != 0 || !strings.HasPrefix(out.String(), "whalewatch ") {
		t.Errorf("version: %d %q", code, out.String())
	}
}

// test-rule on a capture: the matches and the message each would send.
func TestTestRuleOnACapture(t *testing.T) {
	var out, errOut strings.Builder
	code := run([]string{"test-rule", `Action == "die" && Labels["team"] == "payments"`, "--events", "testdata/docker-20.10-events.jsonl",
		"--template", `{{.Name}} ({{index .Labels "team"}}) exited {{.ExitCode}}`}, nil, &out, &errOut)
	if code != 0 || !strings.Contains(out.String(), "[TEST] crash-1 (payments) exited 137") || !strings.Contains(errOut.String(), "1 of 55 events matched") {
		t.Errorf("code %d\nstdout: %s\nstderr: %s", code, out.String(), errOut.String())
	}
	out.Reset()
	errOut.Reset()
	if code := run([]string{"test-rule", `Actoin == "die"`, "--events", "testdata/docker-20.10-events.jsonl"}, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "column 1: unknown name Actoin") {
		t.Errorf("bad rule: code %d, %s", code, errOut.String())
	}
}

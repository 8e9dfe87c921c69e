package event

import "testing"

func TestExitMeaning(t *testing.T) {
	for code, want := range map[int]string{
		-1: "unknown", 0: "success", 1: "application error", 3: "application error", 126: "command cannot be executed",
		127: "command not found", 137: "SIGKILL: killed, often out of memory or docker kill",
		143: "SIGTERM: asked to stop", 139: "killed by signal 11 (segmentation fault)", 255: "application error",
	} {
		if got := ExitMeaning(code); got != want {
			t.Errorf("ExitMeaning(%d) = %q, want %q", code, got, want)
		}
	}
}

func TestShortIDOnShortIDs(t *testing.T) {
	for id, want := range map[string]string{"": "", "abc": "abc", "0123456789abcdef": "0123456789ab"} {
		if got := (Event{ActorID: id}).ShortID(); got != want {
			t.Errorf("ShortID(%q) = %q, want %q", id, got, want)
		}
	}
}

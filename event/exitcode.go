package event

import (
	"fmt"
	"syscall"
)

// ExitMeaning explains a container exit code in a few words.
func ExitMeaning(code int) string {
	switch {
	case code < 0:
		return "unknown"
	case code == 0:
		return "success"
	case code == 1:
		return "application error"
	case code == 2:
		return "misuse of shell built-in or bad arguments"
	case code == 125:
		return "docker run itself failed"
	case code == 126:
		return "command cannot be executed"
	case code == 127:
		return "command not found"
	case code == 137:
		return "SIGKILL: killed, often out of memory or docker kill"
	case code == 143:
		return "SIGTERM: asked to stop"
	case code > 128 && code < 128+65:
		sig := syscall.Signal(code - 128)
		return fmt.Sprintf("killed by signal %d (%s)", code-128, sig)
	default:
		return "application error"
	}
}

package actions

import (
	"bytes"
	"io"
	"regexp"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
)

// Slack shows a section of at most 3,000 characters; keep room for the fence.
const maxLogChars = 2800

// secretPatterns find what must never be shown from a container's logs.
var secretPatterns = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`), "[redacted private key]"},
	{regexp.MustCompile(`(?i)(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)(["']?\s*[:=]\s*["']?)[^\s"',;&]+`), "${1}${2}[redacted]"},
	{regexp.MustCompile(`(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`), "${1} [redacted]"},
	{regexp.MustCompile(`xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+`), "[redacted]"},
	{regexp.MustCompile(`AKIA[0-9A-Z]{16}`), "[redacted]"},
	{regexp.MustCompile(`(://)[^/\s:@]+:[^/\s@]+@`), "${1}[redacted]@"},
}

// redactSecrets hides credentials in log text.
func redactSecrets(s string) string {
	for _, p := range secretPatterns {
		s = p.re.ReplaceAllString(s, p.with)
	}
	return s
}

// readLogs turns a logs stream into text: demultiplexed unless the
// container has a TTY, secrets redacted, the last lines kept within
// Slack's limits.
func readLogs(r io.Reader, tty bool) (string, error) {
	var buf bytes.Buffer
	var err error
	if tty {
		_, err = io.Copy(&buf, io.LimitReader(r, 4<<20))
	} else {
		_, err = stdcopy.StdCopy(&buf, &buf, io.LimitReader(r, 4<<20))
	}
	text := redactSecrets(strings.ToValidUTF8(buf.String(), "?"))
	if len(text) > maxLogChars {
		text = "…" + text[len(text)-maxLogChars:]
		text = strings.ToValidUTF8(text, "")
	}
	return text, err
}

package actions

import (
	"bytes"
	"io"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"

	"github.com/whalewatch/whalewatch/internal/redact"
)

// Slack shows a section of at most 3,000 characters; keep room for the fence.
const maxLogChars = 2800

// readLogs turns a logs stream into text: demultiplexed unless the
// container has a TTY, secrets redacted (a private key across its lines), the last lines kept within
// Slack's limits.
func readLogs(r io.Reader, tty bool) (string, error) {
	var buf bytes.Buffer
	var err error
	if tty {
		_, err = io.Copy(&buf, io.LimitReader(r, 4<<20))
	} else {
		_, err = stdcopy.StdCopy(&buf, &buf, io.LimitReader(r, 4<<20))
	}
	text := redact.Text(strings.ToValidUTF8(buf.String(), "?"))
	if len(text) > maxLogChars {
		text = "…" + text[len(text)-maxLogChars:]
		text = strings.ToValidUTF8(text, "")
	}
	return text, err
}

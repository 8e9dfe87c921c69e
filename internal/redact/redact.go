// Package redact keeps secrets out of logs and errors.
package redact

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// URL replaces an error that carries a request URL (webhook and response
// URLs are secrets) by one that keeps only what went wrong.
func URL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return fmt.Errorf("%s request failed: %w", ue.Op, ue.Err)
	}
	return err
}

// secretPatterns find what must never leave the host from a container's
// output: keys, passwords, tokens, credentials in URLs.
var secretPatterns = []struct {
	re   *regexp.Regexp
	with string
}{
	{regexp.MustCompile(`-----BEGIN ` + keyKind + `-----[\s\S]*?(-----END ` + keyKind + `-----|$)`), "[redacted private key]"},
	{regexp.MustCompile(`(?i)(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)(["']?\s*[:=]\s*["']?)[^\s"',;&]+`), "${1}${2}[redacted]"},
	{regexp.MustCompile(`(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`), "${1} [redacted]"},
	// Slack: bot, user, app, refresh (xoxe-) and rotating (xoxe.xoxp-) tokens.
	{regexp.MustCompile(`xox[abposre](\.xox[abposr])?-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+`), "[redacted]"},
	// AWS access key IDs: long-lived (AKIA) and temporary (ASIA).
	{regexp.MustCompile(`(AKIA|ASIA)[0-9A-Z]{16}`), "[redacted]"},
	{regexp.MustCompile(`github_pat_[A-Za-z0-9_]{20,}|gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9_-]{20,}`), "[redacted]"},
	// user:password@ in a URL; the user may be empty (redis://:pass@host)
	// and the password may hold @ (the last @ before the host ends it).
	{regexp.MustCompile(`(://)[^/\s:@"'<>]*:[^/\s"'<>]*@`), "${1}[redacted]@"},
}

// Secrets masks what looks like a credential in text.
func Secrets(s string) string {
	for _, p := range secretPatterns {
		s = p.re.ReplaceAllString(s, p.with)
	}
	return s
}

// keyKind matches what a PEM private key's BEGIN and END lines name ("RSA
// PRIVATE KEY", "EC PRIVATE KEY", …). Secrets and Lines share it: where
// they differed, a marker one of them missed was shown.
const keyKind = `[A-Z0-9 ]*PRIVATE KEY`

// The lines that open and close a private key printed over several lines.
var (
	keyBegin = regexp.MustCompile(`-----BEGIN ` + keyKind + `-----`)
	keyEnd   = regexp.MustCompile(`-----END ` + keyKind + `-----`)
	// keyBody: a line that may be inside a PEM block: base64, a header
	// (Proc-Type, DEK-Info), or empty.
	keyBody = regexp.MustCompile(`^\s*([A-Za-z0-9+/=]{16,}|(Proc-Type|DEK-Info|Comment): .*|)\s*$`)
)

// redactedKey stands for a private key's lines.
const redactedKey = "[redacted private key]"

// Lines masks credentials in consecutive lines of one stream of output,
// taken together: a private key printed over several lines is hidden from
// its BEGIN line to its END line (to the last line if no END comes), and
// when the BEGIN line was cut off (a log tail that starts mid-key) the
// key-like lines before an END are hidden too. It returns each line's
// masked text and whether it is shown; the first shown line of a key
// says [redacted private key]. Other lines are masked as by Secrets.
func Lines(lines []string) (out []string, shown []bool) {
	out, shown = make([]string, len(lines)), make([]bool, len(lines))
	inKey := false
	for i, l := range lines {
		if inKey {
			loc := keyEnd.FindStringIndex(l)
			if loc == nil {
				continue
			}
			inKey = false
			if rest := l[loc[1]:]; strings.TrimSpace(rest) != "" {
				out[i], shown[i] = Secrets(rest), true
			}
			continue
		}
		shown[i] = true
		begins, ends := keyBegin.FindAllStringIndex(l, -1), keyEnd.FindAllStringIndex(l, -1)
		switch {
		case len(begins) > 0 && (len(ends) == 0 || ends[len(ends)-1][0] < begins[len(begins)-1][0]):
			// A key opens on this line and goes on below it.
			last := begins[len(begins)-1][0]
			out[i] = Secrets(l[:last]) + redactedKey
			inKey = true
		case len(ends) > 0 && (len(begins) == 0 || ends[0][0] < begins[0][0]):
			// The end of a key whose beginning is not here.
			for j := i - 1; j >= 0 && shown[j] && keyBody.MatchString(lines[j]); j-- {
				shown[j] = false
			}
			out[i] = redactedKey + Secrets(l[ends[0][1]:])
		default:
			out[i] = Secrets(l)
		}
	}
	return out, shown
}

// Text masks credentials in a block of output as Lines does, leaving out
// the hidden lines.
func Text(s string) string {
	out, shown := Lines(strings.Split(s, "\n"))
	kept := out[:0]
	for i, l := range out {
		if shown[i] {
			kept = append(kept, l)
		}
	}
	return strings.Join(kept, "\n")
}

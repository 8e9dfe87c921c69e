// Package redact keeps secrets out of logs and errors.
package redact

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
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
	{regexp.MustCompile(`-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)`), "[redacted private key]"},
	{regexp.MustCompile(`(?i)(password|passwd|pwd|secret|token|api[_-]?key|access[_-]?key)(["']?\s*[:=]\s*["']?)[^\s"',;&]+`), "${1}${2}[redacted]"},
	{regexp.MustCompile(`(?i)(bearer|basic)\s+[A-Za-z0-9._~+/=-]{8,}`), "${1} [redacted]"},
	{regexp.MustCompile(`xox[abposr]-[A-Za-z0-9-]+|xapp-[A-Za-z0-9-]+`), "[redacted]"},
	{regexp.MustCompile(`AKIA[0-9A-Z]{16}`), "[redacted]"},
	{regexp.MustCompile(`gh[pousr]_[A-Za-z0-9]{20,}|glpat-[A-Za-z0-9_-]{20,}|sk-[A-Za-z0-9_-]{20,}`), "[redacted]"},
	{regexp.MustCompile(`(://)[^/\s:@]+:[^/\s@]+@`), "${1}[redacted]@"},
}

// Secrets masks what looks like a credential in text.
func Secrets(s string) string {
	for _, p := range secretPatterns {
		s = p.re.ReplaceAllString(s, p.with)
	}
	return s
}

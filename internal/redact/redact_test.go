package redact

import "testing"

func TestSecrets(t *testing.T) {
	for in, want := range map[string]string{
		"password=hunter2 ok":                                                 "password=[redacted] ok",
		`{"api_key": "abc123"}`:                                               `{"api_key": "[redacted]"}`,
		"Authorization: Bearer eyJhbGciOi.xyz.abc":                            "Authorization: Bearer [redacted]",
		"token xoxb-123-456-abc leaked":                                       "token [redacted] leaked",
		"connect postgres://app:s3cr3t@db:5432/app":                           "connect postgres://[redacted]@db:5432/app",
		"key AKIAABCDEFGHIJKLMNOP":                                            "key [redacted]",
		"-----BEGIN RSA PRIVATE KEY-----\nMII\n-----END RSA PRIVATE KEY-----": "[redacted private key]",
		"push with ghp_abcdefghijklmnopqrstuvwxyz0123 done":                   "push with [redacted] done",
		"nothing secret here":                                                 "nothing secret here",
	} {
		got := Secrets(in)
		if got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

package redact

import (
	"strings"
	"testing"
)

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
		// A password alone (no user), and one holding an @.
		"cache at redis://:s3cr3t@cache:6379/0":                                  "cache at redis://[redacted]@cache:6379/0",
		"connect postgres://u:p@ss@db:5432/app":                                  "connect postgres://[redacted]@db:5432/app",
		"dial amqp://guest:gu@st@@rabbit/ then retry":                            "dial amqp://[redacted]@rabbit/ then retry",
		"fine-grained github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz": "fine-grained [redacted]",
		"refresh xoxe-1-My0xLTEyMzQ1Njc4OTAtYWJj rotated":                        "refresh [redacted] rotated",
		"rotating xoxe.xoxp-1-Mi0yLTEyMzQ1Njc4 in use":                           "rotating [redacted] in use",
		"sts ASIAZ3EXAMPLE7KEYID1 expires":                                       "sts [redacted] expires",
		// Not credentials: stay as they are.
		"http://host:8080/path and user@example.com": "http://host:8080/path and user@example.com",
		"ssh://deploy@web1 reached":                  "ssh://deploy@web1 reached",
	} {
		got := Secrets(in)
		if got != want {
			t.Errorf("%q → %q, want %q", in, got, want)
		}
	}
}

// A private key printed over several lines leaves no line of its body,
// whether its BEGIN line is there, or was cut off (a log tail starting
// mid-key), or its END never came.
func TestLines(t *testing.T) {
	body := []string{"MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF0qNr1ADBs8rwDgcU/kpQ7ojH4jY",
		"zq9DMBMTaNbTHj3Ww7F5L2w4qQpLkfxYQ2GCUsvDkEvb5Q8Tb08kIIMZUk1fZ8G",
		"Yk4bN6zqJk0Wm1k1Ki7X3Q=="}
	key := append(append([]string{"-----BEGIN RSA PRIVATE KEY-----"}, body...), "-----END RSA PRIVATE KEY-----")
	for _, tc := range []struct {
		desc string
		in   []string
		want []string
	}{
		{"whole key between lines", append(append([]string{"loading key"}, key...), "listening on :443"),
			[]string{"loading key", "[redacted private key]", "listening on :443"}},
		{"prefix before BEGIN kept", append(append([]string{"key: -----BEGIN PRIVATE KEY-----"}, body...), "-----END PRIVATE KEY----- done"),
			[]string{"key: [redacted private key]", " done"}},
		{"BEGIN cut off by the tail", append(append([]string{"panic: bad key"}, body[1:]...), "-----END EC PRIVATE KEY-----", "exit"),
			[]string{"panic: bad key", "[redacted private key]", "exit"}},
		{"no END: the rest is hidden", append([]string{"ok", "-----BEGIN OPENSSH PRIVATE KEY-----"}, body...),
			[]string{"ok", "[redacted private key]"}},
		{"encrypted PEM headers hidden", []string{"-----BEGIN RSA PRIVATE KEY-----", "Proc-Type: 4,ENCRYPTED", "DEK-Info: AES-128-CBC,ABCDEF", "", body[0], "-----END RSA PRIVATE KEY-----", "password=x"},
			[]string{"[redacted private key]", "password=[redacted]"}},
		{"one line key", []string{"k=-----BEGIN PRIVATE KEY-----MIIabc-----END PRIVATE KEY----- next"},
			[]string{"k=[redacted private key] next"}},
		// The END's dashes are the BEGIN's (found by fuzzing): a key
		// that opens and never closes.
		{"markers sharing dashes", []string{"-----BEGIN 0000PRIVATE KEY-----END PRIVATE KEY-----"},
			[]string{"[redacted private key]"}},
		{"certificates stay", []string{"-----BEGIN CERTIFICATE-----", "MIIBszCCAVmgAwIBAgIUe", "-----END CERTIFICATE-----"},
			[]string{"-----BEGIN CERTIFICATE-----", "MIIBszCCAVmgAwIBAgIUe", "-----END CERTIFICATE-----"}},
		{"plain lines", []string{"a", "", "token=abc"}, []string{"a", "", "token=[redacted]"}},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			out, shown := Lines(tc.in)
			if len(out) != len(tc.in) || len(shown) != len(tc.in) {
				t.Fatalf("%d lines in, %d/%d out", len(tc.in), len(out), len(shown))
			}
			var got []string
			for i := range out {
				if shown[i] {
					got = append(got, out[i])
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			for _, b := range body {
				if strings.Contains(strings.Join(got, "\n"), b[:16]) {
					t.Errorf("key body %q leaked", b[:16])
				}
			}
		})
	}
	if got := Text(strings.Join(key[1:], "\n") + "\nbye\n"); got != "[redacted private key]\nbye\n" {
		t.Errorf("Text = %q", got)
	}
}

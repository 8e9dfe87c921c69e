package actions

import (
	"strings"
	"testing"
)

// /docker logs shows no line of a private key: not when the whole key is
// there, nor when the tail starts inside it (its BEGIN line cut off).
func TestReadLogsHidesPrivateKeys(t *testing.T) {
	body := "MIIEowIBAAKCAQEA0Z3VS5JJcds3xfn/ygWyF0qNr1ADBs8rwDgcU/kpQ7ojH4jY\nzq9DMBMTaNbTHj3Ww7F5L2w4qQpLkfxYQ2GCUsvDkEvb5Q==\n"
	for _, tc := range []struct{ desc, in, want string }{
		{"whole key", "start\n-----BEGIN PRIVATE KEY-----\n" + body + "-----END PRIVATE KEY-----\nready\n", "start\n[redacted private key]\nready\n"},
		{"tail inside the key", body + "-----END PRIVATE KEY-----\nready\n", "[redacted private key]\nready\n"},
		{"other secrets", "redis://:pw@cache:6379 token=abc\n", "redis://[redacted]@cache:6379 token=[redacted]\n"},
	} {
		t.Run(tc.desc, func(t *testing.T) {
			got, err := readLogs(strings.NewReader(tc.in), true)
			if err != nil {
				t.Fatal(err)
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

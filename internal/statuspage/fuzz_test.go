package statuspage

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

// untrusted fills every text the page shows from outside with s.
func untrusted(s string) *fake {
	f := sample()
	for i := range f.incidents {
		inc := &f.incidents[i]
		inc.ID, inc.Host, inc.Container, inc.Rule, inc.Status, inc.AckedBy = s, s, s, s, s, s
		inc.Evidence = &event.Evidence{Logs: []event.LogLine{{Stream: s, Text: s}}, LogsNote: s, Error: s,
			Health: []event.HealthProbe{{ExitCode: 1, Output: s}}}
	}
	for i := range f.hosts {
		f.hosts[i].Host, f.hosts[i].Version, f.hosts[i].APIVersion, f.hosts[i].Engine = s, s, s, s
	}
	f.dests[0].Name, f.dests[0].LastError = s, s
	f.mutes[0].Glob = s
	f.err = nil
	return f
}

// However hostile the text, the page's markup is the template's: the
// characters that make markup (< > " ') occur as often as with plain text
// in their place, so none came from the text.
func FuzzPageIsInert(f *testing.F) {
	for _, s := range []string{hostile, `</script><script>alert(1)</script>`, `"><svg onload=alert(1)>`, `' onmouseover='x`,
		"javascript:alert(1)", `{{.}}`, "\x00\xff<", "]]><!--", `</textarea></pre></details>`} {
		f.Add(s)
	}
	render := func(t *testing.T, s string) string {
		srv := server(untrusted(s), "")
		srv.Now = func() time.Time { return now }
		res := get(t, mux(srv), "/", nil)
		if res.StatusCode != http.StatusOK {
			t.Fatalf("%q: %d", s, res.StatusCode)
		}
		return body(t, res)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if strings.TrimSpace(s) == "" {
			return // empty texts leave parts out: another page, not an escape
		}
		plain, page := render(t, "plaintext"), render(t, s)
		for _, c := range []string{"<", ">", `"`, "'"} {
			if a, b := strings.Count(plain, c), strings.Count(page, c); a != b {
				t.Fatalf("%q: %d %q in the page, %d with plain text", s, b, c, a)
			}
		}
	})
}

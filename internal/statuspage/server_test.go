package statuspage

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/whalewatch/whalewatch/event"
)

// fake is the page's data, held in memory.
type fake struct {
	incidents []Incident
	hosts     []Host
	dests     []Destination
	mutes     []Mute
	err       error
}

func (f *fake) Incidents(since time.Time) ([]Incident, error) {
	var out []Incident
	for _, inc := range f.incidents {
		if inc.ResolvedAt.IsZero() || !inc.UpdatedAt.Before(since) {
			out = append(out, inc)
		}
	}
	return out, f.err
}
func (f *fake) Hosts() []Host                   { return f.hosts }
func (f *fake) Destinations() []Destination     { return f.dests }
func (f *fake) Mutes(time.Time) ([]Mute, error) { return f.mutes, nil }

const hostile = `<img src=x onerror=alert(1)>`

var now = time.Date(2026, 12, 2, 12, 30, 0, 0, time.UTC)

func sample() *fake {
	hour := func(h int) int64 { return now.Truncate(time.Hour).Add(time.Duration(-h) * time.Hour).Unix() }
	return &fake{
		incidents: []Incident{
			{ID: "inc-old", Host: "h1", Container: "db", Rule: "CRASHED", Status: "firing", Alerts: 1, ExitCode: 1,
				OpenedAt: now.Add(-3 * time.Hour), UpdatedAt: now.Add(-3 * time.Hour), Hours: map[int64]int{hour(3): 1}},
			{ID: "inc-new", Host: `h2"quoted'`, Container: hostile, Rule: `</script><script>alert(2)</script>`, Status: "looping",
				Alerts: 5, ExitCode: 137, AckedBy: `U123"><b>x`, OpenedAt: now.Add(-time.Hour), UpdatedAt: now.Add(-time.Minute),
				Evidence: &event.Evidence{Logs: []event.LogLine{{Stream: "stderr", Text: `panic: </pre><img src=x onerror=alert(3)>`}},
					Health: []event.HealthProbe{{ExitCode: 1, Output: `"><svg onload=alert(4)>`}}},
				Hours: map[int64]int{hour(1): 2, hour(0): 3, hour(30): 9}},
			{ID: "inc-done", Host: "h1", Container: "web", Rule: "CRASHED", Status: "resolved", Alerts: 2, ExitCode: 1,
				OpenedAt: now.Add(-5 * time.Hour), ResolvedAt: now.Add(-2 * time.Hour), UpdatedAt: now.Add(-2 * time.Hour)},
			{ID: "inc-gone", Host: "h1", Container: "ancient", Status: "resolved", ExitCode: -1,
				OpenedAt: now.Add(-50 * time.Hour), ResolvedAt: now.Add(-30 * time.Hour), UpdatedAt: now.Add(-30 * time.Hour)},
		},
		hosts: []Host{{Host: "h1", Open: true, Connected: true, Version: "20.10.24", APIVersion: "1.41", LastEvent: now.Add(-time.Second), Lag: 3 * time.Millisecond},
			{Host: `h2"quoted'`, Connected: true, DownSince: now.Add(-10 * time.Minute)}},
		dests: []Destination{{Name: "slack", Queued: 4, LastSent: now.Add(-time.Minute), LastFailed: now.Add(-30 * time.Second),
			LastError: `503 <b>Service Unavailable</b>`, FailingSince: now.Add(-30 * time.Second)}},
		mutes: []Mute{{Glob: `web-*<i>`, Until: now.Add(time.Hour)}},
	}
}

func server(d Data, token string) *Server {
	return &Server{Data: d, Version: "v1.2.3<b>", Started: now.Add(-24 * time.Hour), Token: token, Refresh: time.Second,
		Now: func() time.Time { return now }}
}

func get(t *testing.T, h http.Handler, target string, mod func(*http.Request)) *http.Response {
	t.Helper()
	r := httptest.NewRequest("GET", target, nil)
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w.Result()
}

func body(t *testing.T, res *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mux(s *Server) *http.ServeMux {
	m := http.NewServeMux()
	s.Register(m)
	return m
}

// The page shows each section, newest first, and escapes every untrusted
// text (names, rules, log lines, probe output, errors, globs).
func TestPageRendersEscaped(t *testing.T) {
	m := mux(server(sample(), ""))
	for _, target := range []string{"/", "/?part=main"} {
		res := get(t, m, target, nil)
		html := body(t, res)
		if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s", target, res.StatusCode, res.Header.Get("Content-Type"))
		}
		if csp := res.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
			t.Errorf("CSP: %q", csp)
		}
		for _, bad := range []string{"<img", "<script>alert", "<svg onload", "<b>", "<i>", `"><b>x`, "</pre><img"} {
			if strings.Contains(html, bad) {
				t.Errorf("%s: unescaped %q", target, bad)
			}
		}
		for _, want := range []string{
			"&lt;img src=x onerror=alert(1)&gt;",                    // the container's name as text
			"panic: &lt;/pre&gt;&lt;img src=x onerror=alert(3)&gt;", // its last output
			"&#34;&gt;&lt;svg onload=alert(4)&gt;",                  // probe output
			"Exit code 137: SIGKILL",                                // exit meaning
			"by U123&#34;&gt;&lt;b&gt;x",                            // acknowledged by
			"503 &lt;b&gt;Service Unavailable&lt;/b&gt;",            // a destination's error
			"<code>web-*&lt;i&gt;</code>",                           // a mute
			"down since", "20.10.24", "1.41",
		} {
			if !strings.Contains(html, want) {
				t.Errorf("%s: no %q", target, want)
			}
		}
		open, resolved := strings.Index(html, `id="open"`), strings.Index(html, `id="resolved"`)
		newer, older, done := strings.Index(html, `data-id="inc-new"`), strings.Index(html, `data-id="inc-old"`), strings.Index(html, `data-id="inc-done"`)
		if !(open < newer && newer < older && older < resolved && resolved < done) {
			t.Errorf("%s: order open %d new %d old %d resolved %d done %d", target, open, newer, older, resolved, done)
		}
		if strings.Contains(html, "inc-gone") {
			t.Errorf("%s: an incident resolved 30 h ago is shown", target)
		}
		if full := target == "/"; full != strings.Contains(html, "<script src=\"/static/page.js\"") {
			t.Errorf("%s: the script tag is there: %v", target, !full)
		}
	}
}

// The chart counts alerts per host and hour within the last 24 h.
func TestChart(t *testing.T) {
	v := view(sample(), "", time.Time{}, now)
	rows := map[string]ChartRow{}
	for _, r := range v.Chart.Rows {
		rows[r.Host] = r
	}
	if len(rows) != 2 || rows["h1"].Total != 1 || rows[`h2"quoted'`].Total != 5 || v.Chart.Max != 3 {
		t.Fatalf("chart: %+v", v.Chart)
	}
	last := rows[`h2"quoted'`].Bars[23]
	if last.Count != 3 || last.H != ChartHeight-2 || !last.Hour.Equal(now.Truncate(time.Hour)) {
		t.Errorf("last hour: %+v", last)
	}
	html := body(t, get(t, mux(server(sample(), "")), "/", nil))
	if !strings.Contains(html, `<svg viewBox="0 0 240 40"`) || strings.Count(html, "<rect ") != 48 {
		t.Errorf("svg: %d bars", strings.Count(html, "<rect "))
	}
}

// The API gives the page's data as JSON.
func TestAPI(t *testing.T) {
	m := mux(server(sample(), ""))
	var incs struct{ Open, Resolved []Incident }
	res := get(t, m, "/api/v1/incidents", nil)
	if err := json.NewDecoder(res.Body).Decode(&incs); err != nil || res.Header.Get("Content-Type") != "application/json" {
		t.Fatal(err, res.Header)
	}
	if len(incs.Open) != 2 || incs.Open[0].ID != "inc-new" || incs.Open[0].Container != hostile || incs.Open[0].ExitMeaning == "" ||
		len(incs.Resolved) != 1 || incs.Resolved[0].ID != "inc-done" {
		t.Errorf("incidents: %+v", incs)
	}
	var hosts []Host
	if err := json.NewDecoder(get(t, m, "/api/v1/hosts", nil).Body).Decode(&hosts); err != nil || len(hosts) != 2 || hosts[0].Version != "20.10.24" {
		t.Errorf("hosts: %+v %v", hosts, err)
	}
	var dests struct {
		Destinations []Destination
		Mutes        []Mute
	}
	if err := json.NewDecoder(get(t, m, "/api/v1/destinations", nil).Body).Decode(&dests); err != nil ||
		len(dests.Destinations) != 1 || dests.Destinations[0].Queued != 4 || len(dests.Mutes) != 1 {
		t.Errorf("destinations: %+v %v", dests, err)
	}
	// Nothing at all: empty lists, not null.
	empty := body(t, get(t, mux(server(&fake{}, "")), "/api/v1/incidents", nil))
	if !strings.Contains(empty, `"open": []`) || !strings.Contains(empty, `"resolved": []`) {
		t.Errorf("empty: %s", empty)
	}
}

// A history that cannot be read is said on the page, the rest still shown.
func TestUnreadableHistoryIsShown(t *testing.T) {
	f := sample()
	f.err = errors.New("page 12 <unreadable>")
	html := body(t, get(t, mux(server(f, "")), "/", nil))
	if !strings.Contains(html, "cannot read incident history: page 12 &lt;unreadable&gt;") || !strings.Contains(html, "20.10.24") {
		t.Error(html)
	}
}

const token = "s3cret-token-0123456789"

// With a token, the page, its assets and API need it: by bearer, or by
// the cookie a ?token= login sets (HttpOnly, SameSite=Strict, not the
// token itself); a wrong one is refused.
func TestAuth(t *testing.T) {
	s := server(sample(), token)
	m := mux(s)
	m.Handle("GET /metrics", s.Protect(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "metrics") })))
	m.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	bearer := func(tok string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	login := get(t, m, "/?token="+url.QueryEscape(token)+"&part=main", nil)
	var session *http.Cookie
	for _, c := range login.Cookies() {
		if c.Name == cookieName {
			session = c
		}
	}
	if login.StatusCode != http.StatusSeeOther || login.Header.Get("Location") != "/?part=main" || session == nil ||
		!session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Value == token || strings.Contains(session.Value, token) {
		t.Fatalf("login: %d %q %+v", login.StatusCode, login.Header.Get("Location"), session)
	}
	behindTLS := get(t, m, "/?token="+url.QueryEscape(token), func(r *http.Request) { r.Header.Set("X-Forwarded-Proto", "https") })
	if cs := behindTLS.Cookies(); len(cs) != 1 || !cs[0].Secure || session.Secure {
		t.Errorf("Secure behind a TLS proxy only: %+v, plain %v", cs, session.Secure)
	}
	cookie := func(v string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: cookieName, Value: v}) }
	}
	for _, tc := range []struct {
		target string
		mod    func(*http.Request)
		want   int
	}{
		{"/", nil, 401},
		{"/api/v1/incidents", nil, 401},
		{"/api/v1/hosts", nil, 401},
		{"/api/v1/destinations", nil, 401},
		{"/static/page.js", nil, 401},
		{"/metrics", nil, 401},
		{"/healthz", nil, 200},
		{"/", bearer(token), 200},
		{"/api/v1/incidents", bearer(token), 200},
		{"/metrics", bearer(token), 200},
		{"/", bearer(token + "x"), 401},
		{"/", bearer(""), 401},
		{"/", func(r *http.Request) { r.Header.Set("Authorization", token) }, 401},
		{"/", cookie(session.Value), 200},
		{"/static/style.css", cookie(session.Value), 200},
		{"/metrics", cookie(session.Value), 200},
		{"/", cookie(token), 401},
		{"/", cookie(session.Value + "0"), 401},
		{"/?token=wrong", nil, 401},
		{"/?token=", nil, 401},
	} {
		res := get(t, m, tc.target, tc.mod)
		b := body(t, res)
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.target, res.StatusCode, tc.want)
		}
		if res.StatusCode == 401 && (res.Header.Get("WWW-Authenticate") == "" || strings.Contains(b, "onerror") || strings.Contains(b, token)) {
			t.Errorf("%s: 401 answer %q %q", tc.target, res.Header, b)
		}
	}
	// No token: everything open (loopback only, as config checks).
	if res := get(t, mux(server(sample(), "")), "/", nil); res.StatusCode != 200 {
		t.Errorf("without a token: %d", res.StatusCode)
	}
}

// Only GET: nothing can be done from the page.
func TestReadOnly(t *testing.T) {
	m := mux(server(sample(), ""))
	for _, target := range []string{"/", "/api/v1/incidents"} {
		r := httptest.NewRequest("POST", target, strings.NewReader("x"))
		w := httptest.NewRecorder()
		m.ServeHTTP(w, r)
		if w.Code != http.StatusMethodNotAllowed {
			t.Errorf("POST %s: %d", target, w.Code)
		}
	}
	html := body(t, get(t, m, "/", nil))
	for _, action := range []string{"<form", "<button", "<input"} {
		if strings.Contains(html, action) {
			t.Errorf("the page has %s", action)
		}
	}
}

package events

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// sdkDecode is what the SDK's stream decoder makes of one line.
func sdkDecode(line []byte) (events.Message, error) {
	var m events.Message
	err := json.Unmarshal(line, &m)
	return m, err
}

func fixtureLines(t testing.TB) [][]byte {
	files, _ := filepath.Glob("testdata/*.jsonl")
	more, _ := filepath.Glob("../testdata/*.jsonl")
	var lines [][]byte
	for _, f := range append(files, more...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for l := range bytes.Lines(b) {
			if len(bytes.TrimSpace(l)) > 0 {
				lines = append(lines, l)
			}
		}
	}
	if len(lines) < 200 {
		t.Fatalf("only %d fixture lines", len(lines))
	}
	return lines
}

// Every recorded event decodes as the SDK decodes it, by the fast path.
func TestDecodeMatchesSDKOnFixtures(t *testing.T) {
	for _, line := range fixtureLines(t) {
		want, err := sdkDecode(line)
		if err != nil {
			t.Fatalf("fixture %s: %v", line, err)
		}
		var fast events.Message
		if p := (parser{b: line}); !p.message(&fast) {
			t.Errorf("fast path refused %s", line)
		}
		got, err := decodeMessage(line)
		if err != nil || !reflect.DeepEqual(FromMessage("h", got), FromMessage("h", want)) || !reflect.DeepEqual(fast, want) {
			t.Errorf("%s:\n got %+v (%v)\nwant %+v", line, got, err, want)
		}
	}
}

// Shapes the fast path leaves to encoding/json still come out as the SDK's.
func TestDecodeFallsBackToTheSDK(t *testing.T) {
	for _, line := range []string{
		`{"type":"container","Action":"die"}`,                               // another case
		`{"Type":"contain\u0065r","Action":"die"}`,                          // an escape
		`{"Type":"container","Type":"network"}`,                             // a repeated key
		`{"Actor":{"ID":"a","Attributes":{"name":"x"}},"Actor":{"ID":"b"}}`, // merged
		`{"Actor":null,"time":1e3}`,                                         // null, a float
		`{"Type":"container","timeNano":99999999999999999999}`,              // overflow
		`{"Type":"container"} {"Type":"network"}`,                           // two values
		`{"Type":"\xff"}`,                                                   // invalid UTF-8
		`{"ſcope":"x","scope":"local"}`,                                     // Unicode folding
		`[1,2]`, `{`, ``, `{"x":[1,{"y":null}],"Type":"a"}`,
	} {
		want, wantErr := sdkDecode([]byte(line))
		got, err := decodeMessage([]byte(line))
		if (err == nil) != (wantErr == nil) || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %+v (%v), want %+v (%v)", line, got, err, want, wantErr)
		}
	}
}

// The stream reader hands on every line as the SDK's reader would and
// ends with io.EOF.
func TestDecodeStreamReadsEveryLine(t *testing.T) {
	lines := fixtureLines(t)
	in := "\x1e" + string(bytes.Join(lines, nil)) + strings.Repeat(" ", 20<<10) + `{"Type":"network","Action":"connect"}`
	out := make(chan events.Message)
	done := make(chan error, 1)
	go func() { done <- decodeStream(context.Background(), strings.NewReader(in), out) }()
	for i, line := range append(lines, []byte(`{"Type":"network","Action":"connect"}`)) {
		want, _ := sdkDecode(line)
		if got := <-out; !reflect.DeepEqual(got, want) {
			t.Fatalf("line %d: got %+v, want %+v", i, got, want)
		}
	}
	if err := <-done; err != io.EOF {
		t.Fatalf("stream ended with %v, want io.EOF", err)
	}
}

// dialingDocker is a client that can dial its daemon, as the SDK's can.
type dialingDocker struct {
	Docker
	sock string
}

func (d dialingDocker) ClientVersion() string { return "1.41" }
func (d dialingDocker) Dialer() func(context.Context) (net.Conn, error) {
	return func(ctx context.Context) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", d.sock)
	}
}

// Docker's stream is asked for at the negotiated version with since and
// until as given, read to its end, and a refusal is an error naming it.
func TestDockerEventsReadsTheStreamItAskedFor(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "d.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	asked := make(chan string, 2)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked <- r.URL.String()
		if r.URL.Query().Get("until") == "" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		_, _ = io.WriteString(w, `{"Type":"container","Action":"start","Actor":{"ID":"a"},"timeNano":1}`+"\n"+`{"Type":"container","Action":"die","Actor":{"ID":"a"},"timeNano":2}`+"\n")
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	s := NewSource("h", dialingDocker{sock: sock}, Options{})

	res := s.dockerEvents(context.Background(), client.EventsListOptions{Since: "1.000000001", Until: "2.000000000"})
	if got := <-asked; got != "/v1.41/events?since=1.000000001&until=2.000000000" {
		t.Errorf("asked for %s", got)
	}
	for _, action := range []events.Action{"start", "die"} {
		select {
		case m := <-res.Messages:
			if m.Action != action {
				t.Errorf("got %s, want %s", m.Action, action)
			}
		case err := <-res.Err:
			t.Fatalf("stream ended early: %v", err)
		}
	}
	if err := <-res.Err; err != io.EOF {
		t.Errorf("stream ended with %v, want io.EOF", err)
	}

	res = s.dockerEvents(context.Background(), client.EventsListOptions{})
	<-asked
	if err := <-res.Err; err == nil || !strings.Contains(err.Error(), "500") {
		t.Errorf("a refused stream ended with %v", err)
	}
}

// FuzzDecodeMatchesSDK: on any input the decoder's message, event and
// error are the SDK's.
func FuzzDecodeMatchesSDK(f *testing.F) {
	for _, line := range fixtureLines(f) {
		f.Add(line)
	}
	f.Add([]byte(`{"Type":"container","Actor":{"Attributes":{}},"time":-0}`))
	f.Fuzz(func(t *testing.T, line []byte) {
		want, wantErr := sdkDecode(line)
		got, err := decodeMessage(line)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%q: error %v, the SDK's %v", line, err, wantErr)
		}
		if err != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q:\n got %#v\nwant %#v", line, got, want)
		}
		if !reflect.DeepEqual(FromMessage("h", got), FromMessage("h", want)) {
			t.Fatalf("%q: events differ", line)
		}
	})
}

// BenchmarkDecodeFast is BenchmarkDecode's line as the stream decodes it.
func BenchmarkDecodeFast(b *testing.B) {
	line := []byte(`{"Type":"container","Action":"exec_start: sh -c true","Actor":{"ID":"5734525877f57bf40aadd8c2aac5cff5618dec925ecfcda0de8ffcb97148a115","Attributes":{"image":"shop/app:1.0","name":"app-007","com.docker.compose.project":"shop","execID":"e1"}},"scope":"local","time":1795601537,"timeNano":1795601537741382096}`)
	b.ReportAllocs()
	for b.Loop() {
		m, err := decodeMessage(line)
		if err != nil {
			b.Fatal(err)
		}
		FromMessage("h", m)
	}
}

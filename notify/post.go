package notify

import (
	"bytes"
	"context"
	"io"
	"net/http"
)

// Answer is what an HTTP API answered a post with.
type Answer struct {
	Status     int    // the status code
	StatusText string // e.g. "429 Too Many Requests"
	Body       []byte // the first bytes of the body
}

// OK: a 2xx answer.
func (a Answer) OK() bool { return a.Status >= 200 && a.Status < 300 }

// PostJSON posts body (JSON) to url with the headers (later maps win) and
// reads at most limit bytes of the answer. err is the request's failure:
// retry tells whether another try may do better (a network error); it is
// unredacted, so callers take the URL out before showing it.
func PostJSON(ctx context.Context, client *http.Client, url string, body []byte, limit int64, headers ...map[string]string) (a Answer, retry bool, err error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return a, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "whalewatch")
	for _, h := range headers {
		for k, v := range h {
			req.Header.Set(k, v)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		return a, true, err
	}
	defer resp.Body.Close()
	a.Status, a.StatusText = resp.StatusCode, resp.Status
	a.Body, _ = io.ReadAll(io.LimitReader(resp.Body, limit))
	return a, false, nil
}

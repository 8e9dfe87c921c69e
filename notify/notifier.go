package notify

import (
	"context"
	"fmt"
	"time"
)

// Notifier delivers one notification to one destination. It says whether
// a failure is worth retrying; the Dispatcher decides when and how often.
type Notifier interface {
	Notify(ctx context.Context, n Notification) (retry bool, err error)
}

// RetryAfterError asks the Dispatcher to wait at least After before the
// next try (HTTP 429 with Retry-After).
type RetryAfterError struct {
	After time.Duration
	Err   error
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryableStatus tells whether an HTTP status is worth another try:
// timeouts, rate limits and server errors are; other client errors are not.
func RetryableStatus(code int) bool {
	return code == 408 || code == 429 || code >= 500
}

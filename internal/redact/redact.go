// Package redact keeps secrets out of logs and errors.
package redact

import (
	"errors"
	"fmt"
	"net/url"
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

package syncbuf

import (
	"strings"
	"sync"
	"testing"
)

func TestBufferIsSafeAndBounded(t *testing.T) {
	b := &Buffer{Max: 10}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				if n, err := b.Write([]byte("abc")); n != 3 || err != nil {
					t.Errorf("write: %d %v", n, err)
				}
				_ = b.String()
			}
		})
	}
	wg.Wait()
	if b.Len() != 10 || strings.Trim(b.String(), "abc") != "" {
		t.Errorf("kept %q", b.String())
	}
}

package actions

import (
	"testing"

	"github.com/whalewatch/whalewatch/internal/state"
)

// tempStore is a state file for one test, holding its buttons.
func tempStore(tb testing.TB) *state.Store {
	tb.Helper()
	s, err := state.Open("")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = s.Close() })
	return s
}

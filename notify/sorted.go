package notify

import (
	"iter"
	"maps"
	"slices"
)

// sortedLabels yields labels in key order, so messages are stable.
func sortedLabels(m map[string]string) iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, k := range slices.Sorted(maps.Keys(m)) {
			if !yield(k, m[k]) {
				return
			}
		}
	}
}

// Package layering holds the test that keeps docs/ARCHITECTURE.md's
// "Must not import" column true for the pure packages (rules, config,
// alert): the table is parsed, so the doc and the test cannot drift.
package layering

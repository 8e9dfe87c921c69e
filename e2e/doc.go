// Package e2e runs the real whalewatch binary (built by TestMain from the
// module root) as a user does, against real Docker daemons
// (internal/testdocker), a local Slack API and real Alertmanagers.
package e2e

#!/usr/bin/env bash
# The README's test command: the whole suite against a real Docker daemon.
# Uses the daemon of DOCKER_HOST (or the default socket) when one answers;
# otherwise installs dockerd if needed and starts a private one for the run.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v docker >/dev/null 2>&1 || ! timeout 10 docker version >/dev/null 2>&1; then
  dir=$(mktemp -d /tmp/whalewatch-dockerd.XXXXXX)
  cleanup() {
    scripts/private-dockerd.sh stop "$dir" || true
    rm -rf "$dir" 2>/dev/null || true
  }
  trap cleanup EXIT
  DOCKER_HOST=$(scripts/private-dockerd.sh start "$dir")
  export DOCKER_HOST
  # Lets the reconnect test restart this daemon (never a user's own).
  export WHALEWATCH_TEST_PRIVATE_DOCKERD="$dir"
  echo "started a private dockerd at $DOCKER_HOST"
fi
export WHALEWATCH_REQUIRE_DOCKER=1

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
go test -race -count=1 -timeout 30m "$@" ./...

# Each parser of outside input is fuzzed for a bounded time (FUZZTIME, 10s
# by default; 0 skips). A crash fails the run; go test keeps its input in
# the package's testdata/fuzz, to be fixed and kept as a seed.
fuzztime=${FUZZTIME:-10s}
if [ "$fuzztime" != "0" ]; then
  for target in ./events:FuzzReadAndReplay ./rules:FuzzMatchAnyEvent ./notify/slack:FuzzSlackTextIsInert \
    ./notify/webhook:FuzzWebhookBodyIsValidJSON ./actions:FuzzParseCommand ./actions:FuzzSignedPayloads \
    ./actions:FuzzVerifierRefusesForgeries; do
    pkg=${target%%:*} name=${target##*:}
    echo "fuzzing $name ($pkg) for $fuzztime"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$fuzztime" "$pkg"
  done
fi

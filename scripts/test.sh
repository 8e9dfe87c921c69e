#!/usr/bin/env bash
# The README's test command: the whole suite against real Docker daemons,
# each private (its own socket and data dir; a user's own daemon and
# containers are never touched):
#   1. Debian's dockerd 20.10 (API 1.41), installed with apt-get if missing;
#   2. Docker 29 (API 1.56), built once from the Go module proxy and cached
#      (scripts/docker29.sh); the packages whose tests use a daemon run again;
#   3. Podman 4.3 (Debian's, rootful, as a private `podman system service`:
#      scripts/podman.sh, which installs podman and busybox-static with
#      apt-get if missing); the packages whose tests use a daemon run again;
#   and a real Alertmanager v0.35.0 (scripts/alertmanager.sh), built once and cached.
# Then every fuzz target runs for a bounded time. DOCKER29=0 skips pass 2,
# PODMAN=0 pass 3, FUZZTIME=0 the fuzzing.
set -euo pipefail
cd "$(dirname "$0")/.."

unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...
go mod tidy -diff

started=()
cleanup() {
  for entry in "${started[@]}"; do
    script=${entry%%:*} dir=${entry#*:}
    "$script" stop "$dir" || true
    rm -rf "$dir" 2>/dev/null || true
  done
}
trap cleanup EXIT

# start SCRIPT: starts a private daemon with SCRIPT and exports its
# DOCKER_HOST. (Not in a $(…) subshell: the cleanup must see "started".)
start() {
  local dir
  dir=$(mktemp -d /tmp/whalewatch-dockerd.XXXXXX)
  started+=("$1:$dir")
  DOCKER_HOST=$("$1" start "$dir")
  export DOCKER_HOST
}

announce() {
  echo "== tests against $(DOCKER_HOST=$1 go run ./scripts/apiversion)"
}

# The ssh:// daemon test runs a private sshd on 127.0.0.1.
if [ ! -x /usr/sbin/sshd ]; then
  echo "installing openssh-server (for the ssh:// daemon test; no service is started)…" >&2
  export DEBIAN_FRONTEND=noninteractive
  norc=""
  if [ ! -e /usr/sbin/policy-rc.d ]; then # keep apt from starting an sshd on port 22
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d && norc=1
  fi
  apt-get update -qq >&2 && apt-get install -y -qq openssh-server >&2
  if [ -n "$norc" ]; then rm -f /usr/sbin/policy-rc.d; fi
fi

# The status page's browser test drives Debian's chromium, headless.
if ! command -v chromium >/dev/null; then
  echo "installing chromium (for the status page's browser test)…" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2 && apt-get install -y -qq chromium >&2
fi
# Where tests leave what people look at (the status page's screenshots).
export WHALEWATCH_ARTEFACTS=${WHALEWATCH_ARTEFACTS:-/tmp/whalewatch-artefacts}

export WHALEWATCH_REQUIRE_DOCKER=1
# A real Prometheus Alertmanager for the alertmanager destination's tests,
# built once from the Go module proxy and cached (scripts/alertmanager.sh).
WHALEWATCH_ALERTMANAGER=$(scripts/alertmanager.sh build)
export WHALEWATCH_ALERTMANAGER
start scripts/private-dockerd.sh
announce "$DOCKER_HOST"
go test -race -count=1 -timeout 30m "$@" ./...

# Only the packages whose tests talk to a daemon.
daemon_pkgs=$(go list -f '{{.ImportPath}} {{join .TestImports " "}} {{join .XTestImports " "}}' ./... |
  awk '{for (i = 2; i <= NF; i++) if ($i ~ /internal\/testdocker$/) {print $1; break}}')
if [ "${DOCKER29:-1}" != 0 ]; then
  start scripts/docker29.sh
  announce "$DOCKER_HOST"
  # Tests that start daemons of their own (restarts, several hosts, TLS,
  # Swarm) get Docker 29 ones too.
  WHALEWATCH_PRIVATE_DOCKERD=docker29.sh go test -race -count=1 -timeout 30m "$@" $daemon_pkgs
fi

if [ "${PODMAN:-1}" != 0 ]; then
  start scripts/podman.sh
  announce "$DOCKER_HOST"
  # Tests that start daemons of their own get private podmans too (those
  # that need dockerd's flags, Swarm or TLS skip, saying so). One package
  # at a time (-p 1): podman's /info walks its vfs storage, and with two
  # packages' containers and image builds at once it took over 10 s.
  t0=$SECONDS
  WHALEWATCH_PRIVATE_DOCKERD=podman.sh go test -race -count=1 -p 1 -timeout 30m "$@" $daemon_pkgs
  echo "== the podman pass took $((SECONDS - t0))s"
fi

# Each parser of outside input is fuzzed for a bounded number of
# executions (a few seconds each here). A count, not a duration: with a
# duration, Go 1.26's fuzz coordinator can fail a target with "context
# deadline exceeded" at the end on a loaded machine (go.dev/issue/75804,
# fixed in Go 1.27). FUZZTIME overrides every budget (e.g. 60s); 0 skips.
# A crash fails the run; go test keeps its input in the package's
# testdata/fuzz, to be fixed and kept as a seed.
if [ "${FUZZTIME:-}" != "0" ]; then
  for target in ./events:FuzzReadAndReplay:60000x ./events:FuzzDecodeMatchesSDK:60000x ./events:FuzzLogsEvidence:40000x ./events:FuzzComputeStats:100000x ./rules:FuzzMatchAnyEvent:100000x \
    ./notify/slack:FuzzSlackTextIsInert:100000x ./notify/webhook:FuzzWebhookBodyIsValidJSON:3000x \
    ./actions:FuzzParseCommand:80000x ./actions:FuzzSignedPayloads:20000x \
    ./actions:FuzzVerifierRefusesForgeries:50000x ./internal/statuspage:FuzzPageIsInert:5000x; do
    IFS=: read -r pkg name budget <<<"$target"
    budget=${FUZZTIME:-$budget}
    echo "fuzzing $name ($pkg): $budget"
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$budget" "$pkg"
  done
fi

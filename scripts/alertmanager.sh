#!/usr/bin/env bash
# Builds (once, cached) a real Prometheus Alertmanager from the Go module
# proxy and prints the binary's path. Upstream's web UI (ui/app/dist, built
# with npm) is not in the module zip; placeholder pages stand in for it, so
# only the UI differs: the HTTP API, routing, receivers and clustering are
# the real ones.
#   alertmanager.sh build   → prints the path of the cached binary
# The binary is kept in $WHALEWATCH_CACHE (default /var/cache/whalewatch)
# /alertmanager/$VERSION/alertmanager for the next run. Tests find it with
# WHALEWATCH_ALERTMANAGER (scripts/test.sh sets it).
set -euo pipefail
cmd=${1:-build}
VERSION=${ALERTMANAGER_VERSION:-v0.35.0}
cache=${WHALEWATCH_CACHE:-/var/cache/whalewatch}/alertmanager/$VERSION
bin=$cache/alertmanager

case "$cmd" in
build)
  if [ ! -x "$bin" ]; then
    mkdir -p "$cache"
    t0=$SECONDS
    echo "building Alertmanager $VERSION (once; cached in $cache)…" >&2
    src=$(mktemp -d /tmp/whalewatch-am-src.XXXXXX)
    trap 'chmod -R u+w "$src" 2>/dev/null; rm -rf "$src"' EXIT
    dir=$(cd /tmp && GOFLAGS=-mod=mod go mod download -json "github.com/prometheus/alertmanager@$VERSION" |
      sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    [ -n "$dir" ] || { echo "go mod download gave no Dir" >&2; exit 1; }
    cp -r "$dir/." "$src/"
    chmod -R u+w "$src"
    for ui in elm mantine; do
      mkdir -p "$src/ui/app/dist/$ui"
      echo '<!doctype html><title>Alertmanager</title><p>UI not built (whalewatch test build)' >"$src/ui/app/dist/$ui/index.html"
    done
    if ! (cd "$src" && CGO_ENABLED=0 nice -n 10 go build -o "$bin.tmp" \
      -ldflags "-X github.com/prometheus/common/version.Version=${VERSION#v}" ./cmd/alertmanager) >"$cache/build.log" 2>&1; then
      echo "build of Alertmanager failed:" >&2
      tail -20 "$cache/build.log" >&2
      exit 1
    fi
    mv "$bin.tmp" "$bin"
    echo "built Alertmanager in $((SECONDS - t0))s" >&2
  fi
  echo "$bin"
  ;;
*)
  echo "usage: $0 build" >&2
  exit 2
  ;;
esac

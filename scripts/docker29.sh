#!/usr/bin/env bash
# Builds (once, cached) and starts or stops a private Docker 29 daemon
# (moby/moby/v2, API 1.56) with its own containerd 2 and runc, on its own
# socket and data dir, beside any other daemon; nothing of a system daemon
# is touched.
#   docker29.sh start DIR   → prints the DOCKER_HOST to use
#   docker29.sh stop DIR           dockerd, then its containerd and shims
#   docker29.sh stop-dockerd DIR   dockerd only: with --live-restore its
#                                  containers live on, as across a dockerd restart
# DOCKERD_FLAGS adds flags (e.g. --live-restore), as for private-dockerd.sh.
# The binaries are built from the Go module proxy into $WHALEWATCH_CACHE
# (default /var/cache/whalewatch/docker29) and kept for the next run.
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}

MOBY_VERSION=v2.0.0-beta.24 # Docker 29.8 (go list -m -versions github.com/moby/moby/v2)
CONTAINERD_VERSION=v2.4.2   # Debian's containerd 1.6 shim does not work with it
RUNC_VERSION=v1.5.1         # Debian's runc 1.1.5 knows no time namespace; Docker 29 uses one
cache=${WHALEWATCH_CACHE:-/var/cache/whalewatch}/docker29
bin=$cache/$MOBY_VERSION-$CONTAINERD_VERSION-$RUNC_VERSION

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_pid() { # stop_pid PIDFILE
  local pid
  [ -f "$1" ] || return 0
  pid=$(cat "$1")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$1"
}

build() { # build NAME CGO TAGS PACKAGE... ; logs to the cache
  local name=$1 cgo=$2 tags=$3 t0=$SECONDS
  shift 3
  echo "building $name for Docker 29 (once; cached in $bin)…" >&2
  if ! env CGO_ENABLED="$cgo" GOFLAGS=-mod=mod GOBIN="$bin" nice -n 10 go install -tags "$tags" "$@" >"$cache/build-$name.log" 2>&1; then
    echo "build of $name failed:" >&2
    tail -20 "$cache/build-$name.log" >&2
    exit 1
  fi
  echo "built $name in $((SECONDS - t0))s" >&2
}

case "$cmd" in
start)
  mkdir -p "$bin" "$dir"
  need=()
  command -v gcc >/dev/null || need+=(gcc libc6-dev)
  [ -e /usr/include/seccomp.h ] || need+=(libseccomp-dev)
  command -v pkg-config >/dev/null || need+=(pkg-config)
  command -v docker >/dev/null || need+=(docker.io) # the CLI, to wait for the daemon
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} with apt-get…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${need[@]}" >&2
  fi
  [ -x "$bin/dockerd" ] || build dockerd 0 'exclude_graphdriver_btrfs exclude_graphdriver_devicemapper no_btrfs' \
    -ldflags "-X github.com/moby/moby/v2/dockerversion.Version=29.8.0-moby-$MOBY_VERSION" \
    "github.com/moby/moby/v2/cmd/dockerd@$MOBY_VERSION"
  [ -x "$bin/containerd-shim-runc-v2" ] || build containerd 0 'no_btrfs no_devmapper no_zfs no_cri' \
    "github.com/containerd/containerd/v2/cmd/containerd@$CONTAINERD_VERSION" \
    "github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2@$CONTAINERD_VERSION"
  [ -x "$bin/runc" ] || build runc 1 seccomp "github.com/opencontainers/runc@$RUNC_VERSION"

  # Ours first in PATH: containerd finds its shim there, the shim finds runc.
  export PATH=$bin:$PATH
  mkdir -p "$dir/containerd/root" "$dir/containerd/state" "$dir/data" "$dir/exec"
  cat >"$dir/containerd.toml" <<TOML
version = 3
root = "$dir/containerd/root"
state = "$dir/containerd/state"
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
TOML
  if ! alive "$dir/containerd.pid"; then # still running after stop-dockerd
    "$bin/containerd" --config "$dir/containerd.toml" >>"$dir/containerd.log" 2>&1 </dev/null &
    echo $! >"$dir/containerd.pid"
  fi
  for _ in $(seq 50); do [ -S "$dir/containerd.sock" ] && break; sleep 0.2; done
  [ -S "$dir/containerd.sock" ] || { echo "containerd did not start:" >&2; tail -20 "$dir/containerd.log" >&2; exit 1; }
  "$bin/dockerd" --host "unix://$dir/docker.sock" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/docker.pid" --containerd "$dir/containerd.sock" \
    --iptables=false --ip6tables=false --bridge=none ${DOCKERD_FLAGS:-} >>"$dir/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 100); do
    if DOCKER_HOST="unix://$dir/docker.sock" docker version >/dev/null 2>&1; then
      echo "unix://$dir/docker.sock"
      exit 0
    fi
    sleep 0.3
  done
  echo "Docker 29 dockerd did not come up; its log:" >&2
  tail -30 "$dir/dockerd.log" >&2
  exit 1
  ;;
stop-dockerd)
  stop_pid "$dir/docker.pid"
  ;;
stop)
  stop_pid "$dir/docker.pid"
  # Shims of our containerd left by containers that outlived dockerd.
  for p in /proc/[0-9]*; do
    case $( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) in
    *containerd-shim-runc-v2*"-address $dir/containerd.sock"*) kill "${p#/proc/}" 2>/dev/null || true ;;
    esac
  done
  stop_pid "$dir/containerd.pid"
  # The daemon leaves mounts under its dir (its data root, network namespaces).
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  ;;
*)
  echo "usage: $0 start|stop|stop-dockerd DIR" >&2
  exit 2
  ;;
esac

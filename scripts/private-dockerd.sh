#!/usr/bin/env bash
# Starts or stops a private Docker daemon on its own socket and data dir,
# so tests never touch the host's own daemon or containers.
#   private-dockerd.sh start DIR   → prints the DOCKER_HOST to use
#   private-dockerd.sh stop DIR      (stop-dockerd: the same, for docker29.sh's sake)
# DOCKERD_FLAGS adds flags (e.g. --live-restore).
set -euo pipefail
cmd=${1:?start|stop}
dir=${2:?directory}

case "$cmd" in
start)
  mkdir -p "$dir"
  if ! command -v dockerd >/dev/null 2>&1; then
    echo "installing docker.io (dockerd) with apt-get…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq docker.io >&2
  fi
  dockerd --host "unix://$dir/docker.sock" --data-root "$dir/data" --exec-root "$dir/exec" \
    --pidfile "$dir/docker.pid" --iptables=false --ip-masq=false --bridge=none ${DOCKERD_FLAGS:-} \
    >>"$dir/dockerd.log" 2>&1 </dev/null &
  for _ in $(seq 1 60); do
    if DOCKER_HOST="unix://$dir/docker.sock" docker version >/dev/null 2>&1; then
      echo "unix://$dir/docker.sock"
      exit 0
    fi
    sleep 0.5
  done
  echo "private dockerd did not come up; its log:" >&2
  tail -n 30 "$dir/dockerd.log" >&2
  exit 1
  ;;
stop | stop-dockerd)
  if [ -f "$dir/docker.pid" ]; then
    pid=$(cat "$dir/docker.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 60); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.5
    done
    rm -f "$dir/docker.pid"
  fi
  # The daemon leaves mounts under its dir (its data root, network namespaces).
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  ;;
*)
  echo "usage: $0 start|stop DIR" >&2
  exit 2
  ;;
esac

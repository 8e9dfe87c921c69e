#!/usr/bin/env bash
# Starts or stops a private rootful Podman (Debian's 4.3) serving the
# Docker-compatible API on its own socket, with its own storage, run, lock
# and temporary directories and its own containers.conf/storage.conf: the
# system's podman configuration and containers are never touched.
#   podman.sh start DIR   → prints the DOCKER_HOST to use
#   podman.sh stop DIR           the service, then its containers' conmons
#   podman.sh stop-dockerd DIR   the service only (its containers live on)
#   podman.sh podman DIR ARGS…  the podman CLI against it (its own storage
#                           and config), e.g. healthcheck run NAME: there
#                           are no systemd timers here to run probes
#   podman.sh env DIR     → that CLI's environment (eval it)
# It installs podman and busybox-static with apt-get when missing.
set -euo pipefail
cmd=${1:?start|stop|env}
dir=${2:?directory}
dir=$(realpath -m "$dir")

env_of() { # the variables that point podman at this directory only
  cat <<ENV
export CONTAINERS_CONF=$dir/containers.conf
export CONTAINERS_STORAGE_CONF=$dir/storage.conf
export CONTAINERS_REGISTRIES_CONF=$dir/registries.conf
export CONTAINERS_POLICY_CONF=$dir/policy.json
export TMPDIR=$dir/tmp
export XDG_CONFIG_HOME=$dir/config
export XDG_RUNTIME_DIR=$dir/run
# Docker's image format: OCI images (buildah's default) drop HEALTHCHECK.
export BUILDAH_FORMAT=docker
ENV
}

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

stop_service() {
  local pid
  [ -f "$dir/podman.pid" ] || return 0
  pid=$(cat "$dir/podman.pid")
  if kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid"
  fi
  rm -f "$dir/podman.pid"
}

case "$cmd" in
env)
  env_of
  ;;
podman)
  shift 2
  eval "$(env_of)"
  cd "$dir"
  exec podman --root "$dir/root" --runroot "$dir/runroot" --tmpdir "$dir/tmp" \
    --cgroup-manager cgroupfs --events-backend file --runtime runc --storage-driver vfs "$@"
  ;;
start)
  need=()
  command -v podman >/dev/null || need+=(podman)
  [ -x /bin/busybox ] || need+=(busybox-static) # the test image's shell
  if [ ${#need[@]} -gt 0 ]; then
    echo "installing ${need[*]} with apt-get…" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq "${need[@]}" >&2
  fi
  mkdir -p "$dir"/{root,runroot,tmp,config,run,volumes}
  # The sandbox lacks CAP_SYS_RESOURCE: podman's default ulimits fail with
  # "error setting rlimit type 7". systemd is absent: cgroupfs, file events.
  cat >"$dir/containers.conf" <<CONF
[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
log_driver = "k8s-file"
[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
events_logfile_path = "$dir/events.log"
runtime = "runc"
# Locks of its own (in tmp_dir/locks): the default shm locks are one
# segment for every rootful podman on the machine.
lock_type = "file"
tmp_dir = "$dir/tmp"
volume_path = "$dir/volumes"
static_dir = "$dir/root/libpod"
[engine.service_destinations]
[network]
network_config_dir = "$dir/networks"
CONF
  cat >"$dir/storage.conf" <<CONF
[storage]
driver = "vfs"
graphroot = "$dir/root"
runroot = "$dir/runroot"
CONF
  printf 'unqualified-search-registries = []\n' >"$dir/registries.conf"
  printf '{"default":[{"type":"insecureAcceptAnything"}]}\n' >"$dir/policy.json"
  eval "$(env_of)"
  # conmon 2.1.6 writes its oom file into its working directory (podman
  # 4.3.1 looks for it in the container's): keep that directory ours.
  cd "$dir"
  if ! alive "$dir/podman.pid"; then
    # --time=0: the service never exits when idle (socket activation is
    # what would restart it; here nothing would).
    podman --root "$dir/root" --runroot "$dir/runroot" --tmpdir "$dir/tmp" \
      --cgroup-manager cgroupfs --events-backend file --runtime runc --storage-driver vfs \
      system service --time=0 "unix://$dir/podman.sock" >>"$dir/podman.log" 2>&1 </dev/null &
    echo $! >"$dir/podman.pid"
  fi
  for _ in $(seq 100); do
    if curl -fsS --unix-socket "$dir/podman.sock" http://d/_ping >/dev/null 2>&1; then
      # As podman.socket's SocketMode=0660 (the service alone makes it
      # 0600): a container given the socket's group can use it.
      chmod 0660 "$dir/podman.sock"
      echo "unix://$dir/podman.sock"
      exit 0
    fi
    sleep 0.2
  done
  echo "podman system service did not come up; its log:" >&2
  tail -30 "$dir/podman.log" >&2
  exit 1
  ;;
stop-dockerd)
  stop_service
  ;;
stop)
  stop_service
  # Containers outlive the service (conmon keeps them): stop ours.
  if [ -f "$dir/containers.conf" ]; then
    eval "$(env_of)"
    podman --root "$dir/root" --runroot "$dir/runroot" rm -af -t 0 >/dev/null 2>&1 || true
  fi
  for p in /proc/[0-9]*; do
    case $( { tr '\0' ' ' <"$p/cmdline"; } 2>/dev/null) in
    *conmon*"$dir/"*) kill "${p#/proc/}" 2>/dev/null || true ;;
    esac
  done
  awk -v d="$dir/" 'index($2, d) == 1 {print $2}' /proc/mounts | sort -r | xargs -r -n1 umount -l
  ;;
*)
  echo "usage: $0 start|stop|stop-dockerd|env DIR" >&2
  exit 2
  ;;
esac

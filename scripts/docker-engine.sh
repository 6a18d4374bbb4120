#!/usr/bin/env bash
# Install (Debian's docker.io, docker-compose, debootstrap) and start a Docker engine for the container
# tests, or stop the one this script started. Root only.   scripts/docker-engine.sh start|stop
set -euo pipefail
fail() { echo "docker-engine: $*" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || fail "needs root (it installs packages and starts dockerd)"
pidfile=/run/aeserve-dockerd.pid
case ${1:-} in
  start)
    missing=()
    command -v dockerd >/dev/null || missing+=(docker.io)
    command -v docker-compose >/dev/null || missing+=(docker-compose)
    command -v debootstrap >/dev/null || missing+=(debootstrap)
    if [ ${#missing[@]} -gt 0 ]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    docker info >/dev/null 2>&1 && exit 0  # one runs already
    dockerd >/var/log/aeserve-dockerd.log 2>&1 &
    echo $! >"$pidfile"
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && exit 0; sleep 0.5; done
    tail -5 /var/log/aeserve-dockerd.log >&2
    fail "dockerd did not start (above, from /var/log/aeserve-dockerd.log)"
    ;;
  stop)
    [ -f "$pidfile" ] || exit 0
    kill "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 60); do kill -0 "$(cat "$pidfile")" 2>/dev/null || break; sleep 0.5; done
    rm -f "$pidfile"
    ;;
  *) fail "usage: scripts/docker-engine.sh start|stop" ;;
esac

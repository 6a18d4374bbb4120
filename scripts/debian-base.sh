#!/usr/bin/env bash
# Make a Debian bookworm image with Python 3.11 from Debian's own packages, for machines that cannot
# pull python:3.11-slim-bookworm (no Docker Hub): debootstrap into a folder, then `docker import`.
#   scripts/debian-base.sh [TAG]        (default aeserve-base:bookworm; DEBIAN_MIRROR overrides the mirror)
set -euo pipefail

tag=${1:-aeserve-base:bookworm}
fail() { echo "debian-base: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || fail "debootstrap needs root: run it with sudo"
command -v docker >/dev/null || fail "no docker command: install Docker (Debian: apt-get install docker.io)"
docker info >/dev/null 2>&1 || fail "cannot reach the Docker engine: start dockerd, or check the socket's permissions"
if ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null \
    || fail "debootstrap is not installed and apt-get could not install it"
fi
# the mirror this machine's apt already reaches
mirror=${DEBIAN_MIRROR:-$(apt-get indextargets --format '$(REPO_URI) $(RELEASE)' 2>/dev/null \
  | awk '$2 == "bookworm" { print $1; exit }')}
mirror=${mirror:-http://deb.debian.org/debian/}

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
echo "debian-base: debootstrap bookworm from $mirror" >&2
if ! debootstrap --variant=minbase --include=python3,python3-venv bookworm "$root" "$mirror" >"$root.log" 2>&1; then
  why=$(grep -m 1 '^E:' "$root.log" || tail -n 1 "$root.log")
  rm -f "$root.log"
  fail "debootstrap could not make the base from $mirror (${why#E: }): set DEBIAN_MIRROR to a Debian mirror"
fi
rm -f "$root.log"
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/tmp/*
tar -C "$root" -c . | docker import \
  --change 'ENV LANG=C.UTF-8 PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'CMD ["python3"]' - "$tag" >/dev/null
echo "$tag"

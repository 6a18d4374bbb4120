#!/usr/bin/env bash
# Build an aeserve image on any machine with a Docker engine. `make image` runs it bare: the service,
# CPU torch, tagged aeserve:latest.
#   scripts/image.sh [--target service|train] [--tag NAME] [--extras ray] [--torch-index URL]
#                    [--base IMAGE] [--online [--ca-bundle FILE]] [--no-cache]
# The base is python:3.11-slim-bookworm when it can be pulled, else one made from Debian's packages
# (scripts/debian-base.sh). The wheels come from a wheelhouse that this machine's pip makes (its indexes,
# its local wheels, its CA), so the build itself needs no network. --online installs everything but torch
# from PyPI inside the build instead; --ca-bundle (default: pip's configured cert) is for networks that
# inspect TLS, and stays out of the final image.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() { echo "image: $*" >&2; exit 2; }
value() { [ $# -ge 2 ] && [ -n "$2" ] && [ "${2#--}" = "$2" ] || fail "$1 needs a value"; }

target=service tag="" extras="" torch_index=https://download.pytorch.org/whl/cpu base="" ca="" online="" no_cache=""
while [ $# -gt 0 ]; do
  case $1 in
    --target) value "$@"; target=$2; shift 2 ;;
    --tag) value "$@"; tag=$2; shift 2 ;;
    --extras) value "$@"; extras=$2; shift 2 ;;
    --torch-index) value "$@"; torch_index=$2; shift 2 ;;
    --base) value "$@"; base=$2; shift 2 ;;
    --ca-bundle) value "$@"; ca=$2; shift 2 ;;
    --online) online=1; shift ;;
    --no-cache) no_cache=1; shift ;;
    -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) fail "unknown option '$1': see scripts/image.sh --help" ;;
  esac
done
case $target in
  service) tag=${tag:-aeserve:latest} ;;
  train) tag=${tag:-aeserve:train} ;;
  *) fail "unknown target '$target': service or train" ;;
esac
python=python3
[ -x .venv/bin/python ] && python=.venv/bin/python
$python -c 'import tomllib' 2>/dev/null || fail "needs Python 3.11 or newer as python3 here (it reads pyproject.toml)"
$python -m pip --version >/dev/null 2>&1 || fail "needs pip for $python to make the wheelhouse (Debian: apt-get install python3-pip)"
known_extras=$($python -c 'import tomllib; print(*tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"])')
for extra in ${extras//,/ }; do
  [[ " $known_extras " == *" $extra "* ]] || fail "unknown extra '$extra': one of $known_extras"
done
[ -z "$ca" ] || [ -r "$ca" ] || fail "cannot read the CA bundle $ca"
if [ -z "$ca" ] && [ -n "$online" ]; then  # the CA this machine's pip trusts, if it names one
  ca=${PIP_CERT:-$($python -m pip config list 2>/dev/null | sed -n "s/^[^=]*cert='\(.*\)'$/\1/p" | head -n 1)}
fi

command -v docker >/dev/null || fail "no docker command: install Docker (Debian: apt-get install docker.io) and start dockerd"
if ! problem=$(docker info 2>&1 >/dev/null); then
  case $problem in
    *"permission denied"*) fail "no permission to the Docker socket: run as root or as a member of the docker group" ;;
    *) fail "cannot reach the Docker engine (is dockerd running?): ${problem##*$'\n'}" ;;
  esac
fi

if [ -z "$base" ]; then
  base=python:3.11-slim-bookworm
  if ! docker image inspect "$base" >/dev/null 2>&1 && ! docker pull -q "$base" >/dev/null 2>&1; then
    base=aeserve-base:bookworm
    echo "image: python:3.11-slim-bookworm cannot be pulled; using $base from Debian's packages" >&2
    docker image inspect "$base" >/dev/null 2>&1 || bash scripts/debian-base.sh "$base" >/dev/null \
      || fail "no base image: python:3.11-slim-bookworm cannot be pulled and scripts/debian-base.sh failed (above)"
  fi
fi

# The wheelhouse: binary wheels for the image's Python (3.11, glibc 2.36), whatever this machine runs. The
# service's and the trainer's in wheels/, the extras' in wheels-extra/ (so extras leave the first layers
# cached); each part made once and reused.
wheels=build/image/wheels extra_wheels=build/image/wheels-extra
mkdir -p "$wheels" "$extra_wheels"
arch=$(uname -m)
for_image=(--only-binary=:all: --python-version 3.11 --implementation cp --abi cp311 --platform "manylinux2014_$arch")
for glibc in $(seq 17 36); do for_image+=(--platform "manylinux_2_${glibc}_$arch"); done
stamp=$(cat pyproject.toml; echo "$torch_index|$online|$arch")
requirements() {  # the requirement lines of the named parts of pyproject.toml
  $python -c 'import sys, tomllib
project = tomllib.load(open("pyproject.toml", "rb"))
extras, lines = project["project"]["optional-dependencies"], []
for part in sys.argv[1:]:
    lines += {"build": project["build-system"]["requires"], "core": project["project"]["dependencies"]}.get(part) or extras[part]
print(*lines, sep="\n")' "$@" >build/image/requirements.txt
}
if [ "$(cat "$wheels/.done" 2>/dev/null)" != "$stamp" ]; then
  rm -f "$wheels/.done"
  echo "image: making the wheelhouse in $wheels" >&2
  # torch first, from its index beside this machine's own indexes and wheels (a +cpu build outranks PyPI's)
  $python -m pip download -q --no-deps --retries 1 --dest "$wheels" --extra-index-url "$torch_index" \
    "${for_image[@]}" "torch==2.13.0" || fail "pip could not download torch 2.13.0 from $torch_index"
  if [ -z "$online" ]; then
    requirements build core train
    $python -m pip download -q --dest "$wheels" --find-links "$wheels" "${for_image[@]}" -r build/image/requirements.txt \
      || fail "pip could not download the project's dependencies (above)"
  fi
  if [[ $torch_index != *cu[0-9]* ]] && compgen -G "$wheels/nvidia_*" >/dev/null; then
    fail "the wheelhouse took torch's CUDA build; pass the CPU index with --torch-index"
  fi
  echo "$stamp" >"$wheels/.done"
fi
if [ -n "$extras" ] && [ -z "$online" ] && [ "$(cat "$extra_wheels/.done-$extras" 2>/dev/null)" != "$stamp" ]; then
  requirements ${extras//,/ }
  $python -m pip download -q --dest "$extra_wheels" --find-links "$wheels" "${for_image[@]}" \
    -r build/image/requirements.txt || fail "pip could not download the dependencies of $extras (above)"
  echo "$stamp" >"$extra_wheels/.done-$extras"
fi
# the Dockerfile installs with no index at all from a complete wheelhouse
if [ -z "$online" ]; then touch "$wheels/offline"; else rm -f "$wheels/offline"; fi

rm -f build/image/ca-bundle.crt
trap 'rm -f build/image/ca-bundle.crt' EXIT
[ -z "$online" ] || [ -z "$ca" ] || cp "$ca" build/image/ca-bundle.crt
args=(--target "$target" --tag "$tag" --build-arg "BASE=$base" --build-arg "TORCH_INDEX=$torch_index")
[ -z "$extras" ] || args+=(--build-arg "EXTRAS=$extras")
[ -z "$no_cache" ] || args+=(--no-cache)
# the classic builder: BuildKit's buildx is not everywhere (and not in Debian's docker.io)
DOCKER_BUILDKIT=0 docker build "${args[@]}" . >&2 || fail "docker build failed (above)"
echo "$tag"

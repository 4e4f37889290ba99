#!/usr/bin/env bash
# Local stand-ins for the official base images that deploy/Dockerfile and deploy/compose use, for
# CI and machines that reach no image registry (only Debian's mirror). deploy/Dockerfile itself
# stays as a user writes it: it builds FROM these tags as it would FROM the registry's.
#
#   node:20-bookworm-slim  Debian bookworm (minbase) with this machine's Node.js 20 and npm, and
#                          this machine's CA bundle (npm reaches its registry through the same
#                          TLS-inspecting proxy as here, if there is one)
#   nats:2.9-alpine        Debian's nats-server binary (entrypoint nats-server, wget for healthchecks)
#   prom/prometheus:v2.42.0  Debian's prometheus binary (runs as nobody, data in /prometheus)
#
# Usage: DOCKER_HOST=unix:///path/docker.sock deploy/ci/base-images.sh
# Needs mmdebstrap (Debian's mirror), docker, node, nats-server and prometheus on this machine.
# The Debian root filesystem is cached in $GEOREG_ROOTFS_CACHE (default
# /tmp/georeg-rootfs-bookworm.tar) and reused by later runs; images that exist already are kept.
set -euo pipefail

ROOTFS=${GEOREG_ROOTFS_CACHE:-/tmp/georeg-rootfs-bookworm.tar}
BASE=georeg-ci/debian:bookworm-minbase
export DOCKER_BUILDKIT=0 # Debian's docker.io has the classic builder only

need() { command -v "$1" >/dev/null || { echo "base-images: $1 not found (Debian package: $2)" >&2; exit 1; }; }
need mmdebstrap mmdebstrap
need docker docker.io
need node nodejs
need nats-server nats-server
need prometheus prometheus

exists() { docker image inspect "$1" >/dev/null 2>&1; }

if [ ! -s "$ROOTFS" ]; then
  echo "base-images: building a Debian bookworm root filesystem into $ROOTFS" >&2
  # busybox: wget for healthchecks, as the official alpine and busybox based images have it.
  rm -rf "$ROOTFS.tmp" # a run stopped midway
  mmdebstrap --quiet --format=tar --variant=minbase --include=busybox bookworm "$ROOTFS.tmp" http://deb.debian.org/debian
  mv "$ROOTFS.tmp" "$ROOTFS"
fi
exists "$BASE" || docker import "$ROOTFS" "$BASE" >/dev/null

ctx=$(mktemp -d)
trap 'rm -rf "$ctx"' EXIT

# Build image $1 from a context holding the files listed after the Dockerfile text ($2).
build() {
  local tag=$1 dockerfile=$2
  shift 2
  exists "$tag" && return 0
  rm -rf "${ctx:?}"/* && mkdir -p "$ctx/files"
  for f in "$@"; do cp -a "$f" "$ctx/files/"; done
  printf '%s\n' "$dockerfile" >"$ctx/Dockerfile"
  docker build --quiet -t "$tag" "$ctx" >/dev/null
  echo "base-images: built $tag" >&2
}

node_bin=$(readlink -f "$(command -v node)")
npm_dir=$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")
ca_bundle=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}
build node:20-bookworm-slim "FROM $BASE
COPY files/node /usr/local/bin/node
COPY files/npm /usr/local/lib/node_modules/npm
COPY files/$(basename "$ca_bundle") /etc/ssl/certs/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
RUN mkdir -p /usr/local/etc && printf 'cafile=/etc/ssl/certs/ca-certificates.crt\\nupdate-notifier=false\\n' >/usr/local/etc/npmrc \\
 && ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \\
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \\
 && echo 'node:x:1000:1000::/home/node:/bin/sh' >>/etc/passwd && echo 'node:x:1000:' >>/etc/group \\
 && mkdir -p /home/node && chown 1000:1000 /home/node
ENV NODE_VERSION=$(node --version | tr -d v)
CMD [\"node\"]" "$node_bin" "$npm_dir" "$ca_bundle"

build nats:2.9-alpine "FROM $BASE
COPY files/nats-server /usr/local/bin/nats-server
RUN ln -s /bin/busybox /usr/local/bin/wget
EXPOSE 4222 6222 8222
ENTRYPOINT [\"nats-server\"]
CMD [\"--help\"]" "$(readlink -f "$(command -v nats-server)")"

build prom/prometheus:v2.42.0 "FROM $BASE
COPY files/prometheus /bin/prometheus
RUN ln -s /bin/busybox /usr/local/bin/wget && mkdir -p /prometheus /etc/prometheus && chown nobody:nogroup /prometheus
USER nobody
WORKDIR /prometheus
VOLUME /prometheus
EXPOSE 9090
ENTRYPOINT [\"/bin/prometheus\"]
CMD [\"--config.file=/etc/prometheus/prometheus.yml\", \"--storage.tsdb.path=/prometheus\"]" "$(readlink -f "$(command -v prometheus)")"

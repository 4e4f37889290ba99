#!/usr/bin/env bash
# Throwaway secrets for docker-compose.secure.yml, into DIR (default: secrets/ beside this file,
# which git ignores; compose reads it from GEOREG_SECRETS, default ./secrets):
#   certs/      `georeg certs dev`: a CA, the nodes' HTTPS certificate and the peer certificate of
#               mutual TLS between regions, for localhost and the georeg-<region> services
#   auth-signing.key   the token signing key every region shares
#   nats-password, nats.env   the NATS password (georeg reads the file, nats-server the variable)
# Run it once from a built checkout (npm ci builds): deploy/compose/secrets.sh [DIR]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/secrets}
georeg=$here/../../cli/dist/src/main.js
[ -f "$georeg" ] || { echo "secrets.sh: $georeg is missing: run npm ci (or npx tsc -b) in the repository first" >&2; exit 1; }
umask 077
mkdir -p "$out"
node "$georeg" certs dev --force --days 30 --out "$out/certs" \
  --hosts localhost,127.0.0.1,::1,georeg-eu,georeg-us,georeg-ap >/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/auth-signing.key"
password=$(openssl rand -hex 24)
printf '%s' "$password" >"$out/nats-password"
printf 'NATS_PASSWORD=%s\n' "$password" >"$out/nats.env"
# The containers run as uid 1000 (georeg: the image's user node) and nobody (Prometheus reads
# only ca.pem, which is public).
chmod 0644 "$out/certs/ca.pem"
if [ "$(id -u)" = 0 ]; then
  chown -R 1000:1000 "$out"
elif [ "$(id -u)" != 1000 ]; then
  chmod -R a+rX "$out"
  echo "secrets.sh: $out made readable by everyone here, so that uid 1000 in the containers can read it" >&2
fi
echo "secrets.sh: throwaway secrets in $out; now: docker compose -f docker-compose.yml -f docker-compose.secure.yml up -d" >&2

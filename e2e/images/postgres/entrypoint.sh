#!/bin/sh
# The official postgres image's start, in short (e2e/images/postgres/Dockerfile): on an empty data
# directory, initdb with POSTGRES_PASSWORD for the superuser postgres (password auth over TCP from
# anywhere, trust on the local socket), then the scripts in /docker-entrypoint-initdb.d (*.sh run
# if executable, else sourced; *.sql through psql) against a server on a private socket, so that
# pg_isready (the healthcheck) answers only once the initialised server is up; then the command.
set -eu
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD must be set}"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb --username=postgres --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 -D "$PGDATA" >/dev/null
  rm -f "$pwfile"
  echo 'host all all all scram-sha-256' >>"$PGDATA/pg_hba.conf"
  echo "listen_addresses = '*'" >>"$PGDATA/postgresql.conf"
  init_socket=$(mktemp -d)
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=$init_socket" -w -s start
  export PGHOST="$init_socket"
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) if [ -x "$f" ]; then "$f"; else . "$f"; fi ;;
      *.sql) psql -v ON_ERROR_STOP=1 --username postgres --no-password -q -f "$f" ;;
    esac
  done
  unset PGHOST
  pg_ctl -D "$PGDATA" -m fast -w -s stop
  rmdir "$init_socket"
  echo 'entrypoint: database initialised'
fi
exec "$@"

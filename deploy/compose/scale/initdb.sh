#!/bin/sh
# Run once by the postgres image on an empty data volume (docker-compose.scale.yml): the role
# georeg, with the superuser's password (POSTGRES_PASSWORD), and a database of its own per region.
set -eu
psql -v ON_ERROR_STOP=1 -v password="$POSTGRES_PASSWORD" --username postgres <<'SQL'
CREATE ROLE georeg LOGIN PASSWORD :'password';
CREATE DATABASE georeg_eu OWNER georeg;
CREATE DATABASE georeg_us OWNER georeg;
CREATE DATABASE georeg_ap OWNER georeg;
SQL

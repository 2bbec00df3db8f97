#!/usr/bin/env bash
# Makes SQL Playground's administrative role and database, once, on the first start of the compose
# file's PostgreSQL (the official image runs /docker-entrypoint-initdb.d/*.sh as the superuser).
#
# The role gets exactly the privileges README.md's "PostgreSQL" section names: LOGIN, CREATEROLE,
# CREATEDB (never SUPERUSER), a database of its own that PUBLIC may not connect to, CONNECT revoked
# from PUBLIC on the maintenance database too (sandbox roles can log in), pg_signal_backend (Reset
# ends a running query at once) and SET on temp_file_limit (a temporary-file cap per sandbox).
#
# Settings (the environment): PLAYGROUND_ADMIN_PASSWORD (required; it goes into a URL, so letters,
# digits and . _ ~ - only), PLAYGROUND_ADMIN_ROLE (playground_admin), PLAYGROUND_ADMIN_DATABASE
# (playground), PLAYGROUND_MAINTENANCE_DATABASE (postgres); POSTGRES_USER and POSTGRES_DB say where
# the superuser connects, as in the official image. Any libpq variable (PGHOST...) applies too.
set -euo pipefail

if [[ -z "${PLAYGROUND_ADMIN_PASSWORD:-}" ]]; then
    echo "playground: PLAYGROUND_ADMIN_PASSWORD is not set (see .env.example)" >&2
    exit 1
fi
if [[ ! "$PLAYGROUND_ADMIN_PASSWORD" =~ ^[A-Za-z0-9._~-]+$ ]]; then
    echo "playground: PLAYGROUND_ADMIN_PASSWORD may hold only letters, digits and . _ ~ - (it goes into a URL)" >&2
    exit 1
fi
export PLAYGROUND_ADMIN_PASSWORD

# Names are passed as psql variables and quoted by psql (:"name"); the password is read by psql
# itself from the environment (\getenv), so that it never appears on a command line.
psql --no-psqlrc --set ON_ERROR_STOP=1 \
    --username "${POSTGRES_USER:-postgres}" --dbname "${POSTGRES_DB:-postgres}" \
    --set admin_role="${PLAYGROUND_ADMIN_ROLE:-playground_admin}" \
    --set admin_database="${PLAYGROUND_ADMIN_DATABASE:-playground}" \
    --set maintenance_database="${PLAYGROUND_MAINTENANCE_DATABASE:-postgres}" <<'SQL'
\getenv admin_password PLAYGROUND_ADMIN_PASSWORD
CREATE ROLE :"admin_role" LOGIN PASSWORD :'admin_password' CREATEROLE CREATEDB;
CREATE DATABASE :"admin_database" OWNER :"admin_role";
REVOKE CONNECT ON DATABASE :"admin_database" FROM PUBLIC;
REVOKE CONNECT ON DATABASE :"maintenance_database" FROM PUBLIC;
GRANT pg_signal_backend TO :"admin_role";
SELECT current_setting('server_version_num')::int >= 150000 AS parameter_grants \gset
\if :parameter_grants
GRANT SET ON PARAMETER temp_file_limit TO :"admin_role";
\else
-- Before PostgreSQL 15 the cap cannot be delegated: one cap for the whole server.
ALTER SYSTEM SET temp_file_limit = '1GB';
\endif
SQL
echo "playground: made the role ${PLAYGROUND_ADMIN_ROLE:-playground_admin} and its database ${PLAYGROUND_ADMIN_DATABASE:-playground}"

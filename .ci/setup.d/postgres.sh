# Sourced by .ci/run: makes sure PostgreSQL runs on 127.0.0.1:5432 and
# exports SEALPOST_TEST_POSTGRES, a DSN to a freshly created database
# sealpost_test (the directory's PostgreSQL conformance tests create and
# drop one schema per test inside it).
# Needs root (as CI and the developer machines have). Trust auth for
# local TCP connections as user postgres is assumed, as on these machines;
# otherwise set PGPASSWORD.

sealpost_pg_setup() {
  if ! command -v psql >/dev/null 2>&1 || ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "postgres.sh: installing postgresql"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null || return 1
  fi
  local psql=(env PGOPTIONS="-c client_min_messages=warning" psql -h 127.0.0.1 -p 5432 -U postgres -v ON_ERROR_STOP=1 -qAt)
  if ! "${psql[@]}" -c 'SELECT 1' >/dev/null 2>&1; then
    local v
    for v in $(ls /etc/postgresql 2>/dev/null); do
      pg_ctlcluster --skip-systemctl-redirect "$v" main start 2>/dev/null || true
    done
    if [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
      echo "postgres.sh: no PostgreSQL cluster in /etc/postgresql" >&2
      return 1
    fi
  fi
  local i
  for i in $(seq 1 60); do
    "${psql[@]}" -c 'SELECT 1' >/dev/null 2>&1 && break
    sleep 0.5
  done
  if ! "${psql[@]}" -c 'SELECT 1' >/dev/null 2>&1; then
    echo "postgres.sh: PostgreSQL on 127.0.0.1:5432 does not answer as user postgres" >&2
    return 1
  fi
  "${psql[@]}" -c 'DROP DATABASE IF EXISTS sealpost_test WITH (FORCE)' >/dev/null || return 1
  "${psql[@]}" -c 'CREATE DATABASE sealpost_test' >/dev/null || return 1
  export SEALPOST_TEST_POSTGRES="postgres://postgres@127.0.0.1:5432/sealpost_test?sslmode=disable"
  echo "postgres.sh: SEALPOST_TEST_POSTGRES=$SEALPOST_TEST_POSTGRES"
}
sealpost_pg_setup || { echo "postgres.sh: setup failed" >&2; return 1 2>/dev/null || exit 1; }

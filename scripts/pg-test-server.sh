#!/usr/bin/env bash
# Starts (once) a throwaway PostgreSQL server for the tests on 127.0.0.1:${CLAIMS_PG_PORT:-55432}
# and prints its URL. Installs Debian's postgresql package when missing (as root). Prints
# nothing, with the reason on stderr, when no server can be started; the PostgreSQL tests
# then skip outside CI and fail inside CI.
set -uo pipefail
port="${CLAIMS_PG_PORT:-55432}"
data="${CLAIMS_PG_DATA:-/tmp/claims-ops-pg-$port}"
url="postgres://postgres@127.0.0.1:$port/postgres"
say() { echo "pg-test-server: $*" >&2; }
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
if [ -z "$pgbin" ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    say "installing postgresql"
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } >&2 || { say "apt-get install postgresql failed"; exit 0; }
    pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
  fi
  [ -n "$pgbin" ] || { say "no PostgreSQL server binaries (apt-get install postgresql)"; exit 0; }
fi
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if ! as_pg "$pgbin/pg_ctl" -D "$data" status >/dev/null 2>&1; then
  rm -rf "$data" && mkdir -p "$data"
  [ "$(id -u)" = 0 ] && chown postgres "$data"
  as_pg "$pgbin/initdb" -D "$data" -A trust -U postgres >/dev/null 2>&1 || { say "initdb failed in $data"; exit 0; }
  # TLS for the sslmode tests: a throwaway CA ($data/ca.crt, key ca.key for the client
  # certificate test) and a server certificate it signed for localhost and 127.0.0.1.
  # Without openssl the server runs without TLS and those tests say they skipped.
  ssl=""
  if command -v openssl >/dev/null; then
    if ( cd "$data" \
        && openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 3650 -subj /CN=claims-test-ca \
        && openssl req -newkey rsa:2048 -nodes -keyout server.key -out server.csr -subj /CN=localhost \
        && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > san.ext \
        && openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out server.crt -days 3650 -extfile san.ext \
        && chmod 600 server.key && chmod 644 ca.crt \
        && { [ "$(id -u)" != 0 ] || chown postgres server.key server.crt; } ) >/dev/null 2>&1; then
      ssl="-c ssl=on -c ssl_cert_file=$data/server.crt -c ssl_key_file=$data/server.key -c ssl_ca_file=$data/ca.crt"
      # Role claims_cert logs in with a client certificate only (CN=claims_cert, signed
      # by the test CA): the first matching pg_hba line wins, so it goes on top.
      as_pg sed -i '1i hostssl all claims_cert 127.0.0.1/32 cert' "$data/pg_hba.conf" \
        || say "could not add the client-certificate line to pg_hba.conf"
    else
      say "could not make a test certificate: the server runs without TLS"
    fi
  fi
  as_pg "$pgbin/pg_ctl" -D "$data" -w -l "$data/server.log" \
    -o "-p $port -c listen_addresses=127.0.0.1 -k $data -c fsync=off $ssl" start >/dev/null 2>&1 \
    || { say "server did not start (see $data/server.log)"; exit 0; }
fi
echo "$url"

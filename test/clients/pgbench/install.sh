#!/usr/bin/env bash
# Installs what test/clients/pgbench.test.ts drives: pgbench, which Debian 12 ships in the server
# package postgresql-15 (/usr/lib/postgresql/15/bin/pgbench, run through /usr/bin/pgbench).
# The package's own cluster is not needed: policy-rc.d keeps apt from starting it, and a cluster
# it created anyway is stopped. Run as root by .ci/run (after apt-get update). Idempotent; fails loudly.
set -euo pipefail
# Other installers may hold the dpkg lock: wait for it rather than fail.
export DEBIAN_FRONTEND=noninteractive

PGBENCH=/usr/lib/postgresql/15/bin/pgbench

if [ ! -x "$PGBENCH" ]; then
  echo "pgbench/install.sh: apt-get install postgresql-15"
  policy=/usr/sbin/policy-rc.d
  created_policy=""
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy"
    chmod +x "$policy"
    created_policy=1
  fi
  apt_install() {
    apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends postgresql-15 postgresql-client-15
  }
  status=0
  apt_install || { apt-get update -qq && apt_install; } || status=$?
  if [ -n "$created_policy" ]; then rm -f "$policy"; fi
  [ "$status" -eq 0 ] || { echo "pgbench/install.sh: FAILED: apt-get install postgresql-15 (exit $status)" >&2; exit 1; }
  # Stop a cluster the package may have started (it is not used; the tests run their own Postgres).
  if command -v pg_ctlcluster >/dev/null 2>&1; then pg_ctlcluster 15 main stop >/dev/null 2>&1 || true; fi
fi

if [ ! -x "$PGBENCH" ] || ! "$PGBENCH" --version >/dev/null 2>&1; then
  echo "pgbench/install.sh: FAILED: $PGBENCH is missing or broken after install" >&2
  exit 1
fi
echo "pgbench/install.sh: ok ($("$PGBENCH" --version), $(dpkg -S "$PGBENCH"))"

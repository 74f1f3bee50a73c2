#!/usr/bin/env bash
# Installs what test/clients/psql.test.ts drives: psql from Debian's postgresql-client.
# Run as root by .ci/run (after apt-get update). Idempotent; fails loudly.
set -euo pipefail
# Other installers may hold the dpkg lock: wait for it rather than fail.
export DEBIAN_FRONTEND=noninteractive

if ! command -v psql >/dev/null 2>&1; then
  echo "psql/install.sh: apt-get install postgresql-client"
  if ! apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends postgresql-client; then
    apt-get update -qq
    apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends postgresql-client
  fi
fi

if ! command -v psql >/dev/null 2>&1 || ! psql --version >/dev/null 2>&1; then
  echo "psql/install.sh: FAILED: psql is missing or broken after install" >&2
  exit 1
fi
echo "psql/install.sh: ok ($(psql --version))"

#!/usr/bin/env bash
# Installs what the python client suite (test/clients/python.test.ts) drives, from Debian's packages.
# Run as root by .ci/run (after apt-get update). Fails loudly when a package cannot be installed.
set -euo pipefail
# Other installers may hold the dpkg lock: wait for it rather than fail.
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends python3 python3-psycopg2 python3-psycopg

#!/usr/bin/env bash
# Installs what test/clients/odbc.test.ts drives: psqlODBC (odbc-postgresql) through unixODBC
# (unixodbc: isql, odbcinst) and pyodbc for Debian's /usr/bin/python3. Idempotent; fails loudly.
set -euo pipefail
# Other installers may hold the dpkg lock: wait for it rather than fail.
export DEBIAN_FRONTEND=noninteractive

need=()
for pkg in odbc-postgresql unixodbc python3-pyodbc; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need+=("$pkg")
done

if [ "${#need[@]}" -gt 0 ]; then
  echo "odbc/install.sh: apt-get install ${need[*]}"
  if ! apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${need[@]}"; then
    apt-get update -qq
    apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${need[@]}"
  fi
fi

fail=0
command -v isql >/dev/null 2>&1 || { echo "odbc/install.sh: isql is missing after install" >&2; fail=1; }
/usr/bin/python3 -c 'import pyodbc' || { echo "odbc/install.sh: /usr/bin/python3 cannot import pyodbc" >&2; fail=1; }
grep -q '^\[PostgreSQL Unicode\]' /etc/odbcinst.ini 2>/dev/null ||
  { echo "odbc/install.sh: driver [PostgreSQL Unicode] is not registered in /etc/odbcinst.ini" >&2; fail=1; }
if [ "$fail" -ne 0 ]; then
  echo "odbc/install.sh: FAILED to install the psqlODBC client suite's tools" >&2
  exit 1
fi
echo "odbc/install.sh: ok (pyodbc $(/usr/bin/python3 -c 'import pyodbc; print(pyodbc.version)'))"

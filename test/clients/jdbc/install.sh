#!/usr/bin/env bash
# Installs what test/clients/jdbc.test.ts drives: pgjdbc from Debian (libpostgresql-jdbc-java,
# /usr/share/java/postgresql.jar) and a JDK for javac. Idempotent; fails loudly.
set -euo pipefail
# Other installers may hold the dpkg lock: wait for it rather than fail.
export DEBIAN_FRONTEND=noninteractive

need=()
dpkg -s libpostgresql-jdbc-java >/dev/null 2>&1 || need+=(libpostgresql-jdbc-java)
command -v javac >/dev/null 2>&1 || need+=(default-jdk-headless)

if [ "${#need[@]}" -gt 0 ]; then
  echo "jdbc/install.sh: apt-get install ${need[*]}"
  if ! apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${need[@]}"; then
    apt-get update -qq
    apt-get install -y -qq -o DPkg::Lock::Timeout=600 --no-install-recommends "${need[@]}"
  fi
fi

fail=0
command -v javac >/dev/null 2>&1 || { echo "jdbc/install.sh: javac is missing after install" >&2; fail=1; }
command -v java >/dev/null 2>&1 || { echo "jdbc/install.sh: java is missing after install" >&2; fail=1; }
[ -f /usr/share/java/postgresql.jar ] || { echo "jdbc/install.sh: /usr/share/java/postgresql.jar is missing after install" >&2; fail=1; }
if [ "$fail" -ne 0 ]; then
  echo "jdbc/install.sh: FAILED to install the pgjdbc client suite's tools" >&2
  exit 1
fi
echo "jdbc/install.sh: ok ($(javac -version 2>&1), $(readlink -f /usr/share/java/postgresql.jar))"

#!/usr/bin/env bash
# System packages that the test suite drives for real: Debian's Chromium (browser tests) and
# redis-server (scale-out tests start their own). PostgreSQL tests use PROCTOR_TEST_PG or the
# server at 127.0.0.1:5432. Installs only what is missing; needs root or sudo to install.
set -euo pipefail

need=()
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || need+=(chromium)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v psql >/dev/null 2>&1 || need+=(postgresql)
[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
  echo "setup: missing system packages: ${need[*]}; install them with apt-get (needs root)" >&2
  exit 2
fi
echo "setup: installing ${need[*]} with apt-get" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null

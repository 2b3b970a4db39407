#!/usr/bin/env bash
# System packages the tests use for real: PostgreSQL (a throwaway cluster per test session),
# headless Chromium (page rendering tests) and a C compiler (the loader's gather kernel, 08_kernels;
# without one the loader falls back to torch, and the kernel tests say so). Installed from Debian when
# missing and we are root. Not node/npm: the JavaScript of offline widget pages ships in the package
# (ai_trading_framework/widget-js), so neither the tests nor users need the npm registry.
set -euo pipefail
need=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need+=(postgresql)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
[ ${#need[@]} -eq 0 ] && { echo "ok: system packages present"; exit 0; }
if [ "$(id -u)" != 0 ]; then
  echo "missing system packages: ${need[*]} (install them with apt-get as root)"; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
echo "ok: installed ${need[*]}"

#!/usr/bin/env bash
# Run a test command inside a fresh temporary folder, removed afterwards whatever the outcome:
#   TMPDIR=<it>/tmp         every tempfile/mktemp folder a notebook or test makes lands here, so one it forgets
#                           to remove is removed with it (and named below, so it can be fixed at its source)
#   ATF_CACHE_DIR=<it>/cache the compiled loader kernel (08_kernels): never ~/.cache/ai_trading_framework, never a
#                           library an earlier run left there
# Usage: tools/with_tmp.sh CMD [ARGS...]   (exits with CMD's status)
set -uo pipefail
root=$(mktemp -d "${TMPDIR:-/tmp}/atf-test.XXXXXX") || exit 1
trap 'rm -rf "$root"' EXIT
mkdir "$root/tmp" "$root/cache"
# traversable by other users (not writable): the PostgreSQL tests hand a folder inside to the postgres user
chmod 755 "$root" "$root/tmp"
TMPDIR="$root/tmp" ATF_CACHE_DIR="$root/cache" "$@"
rc=$?
# pytest keeps its last few tmp_path folders on purpose (pytest-of-<user>): not a leak
left=$(cd "$root/tmp" && ls -A | grep -v '^pytest-of-' | head -20 | tr '\n' ' ')
[ -n "$left" ] && echo "note: temporary files left behind by '$*' (removed now): $left"
exit $rc

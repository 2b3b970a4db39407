#!/usr/bin/env bash
# nbdev_test as `make test` runs it: the flags given (e.g. `slow`), plus `gpu` where the venv's torch sees a CUDA
# device (said either way), inside a fresh temporary folder (tools/with_tmp.sh).
# It also writes a JUnit XML report, one test case per notebook, to $ATF_REPORTS/nbtest[-FLAG...].xml
# (default .reports/, git-ignored; ATF_REPORTS= writes none), which the Memory Bank's testResults.md reads.
# Usage: VENV=.venv tools/nbtest.sh [FLAG...] [-- nbdev_test options]
set -euo pipefail
venv=${VENV:-.venv}
flags=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do flags+=("$1"); shift; done
reports=${ATF_REPORTS-.reports}
report=""
[ -n "$reports" ] && report="$reports/nbtest$(printf -- '-%s' "${flags[@]}" | sed 's/^-$//').xml"
[ "${1:-}" = -- ] && shift
if dev=$("$venv/bin/python" -c 'import torch, sys; torch.cuda.is_available() or sys.exit(1); print(torch.cuda.get_device_name(0))' 2>/dev/null); then
  flags+=(gpu); echo "CUDA: $dev: nbdev_test runs the #| gpu cells"
else
  echo "CUDA: no device (torch.cuda.is_available() is False in $venv): the #| gpu cells are NOT run; run make test on a GPU machine for them"
fi
args=()
[ ${#flags[@]} -gt 0 ] && args=(--flags "${flags[*]}")
echo "nbdev_test ${args[*]} $*${report:+ (JUnit report: $report)}"
# nbdev's own nbdev_test, through a wrapper that records each notebook's outcome and time (tools/nbtest_junit.py)
ATF_JUNIT="$report" exec bash "$(dirname "$0")/with_tmp.sh" "$venv/bin/python" "$(dirname "$0")/nbtest_junit.py" "${args[@]}" "$@"

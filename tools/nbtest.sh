#!/usr/bin/env bash
# nbdev_test as `make test` runs it: the flags given (e.g. `slow`), plus `gpu` where the venv's torch sees a CUDA
# device (said either way), inside a fresh temporary folder (tools/with_tmp.sh).
# Usage: VENV=.venv tools/nbtest.sh [FLAG...] [-- nbdev_test options]
set -euo pipefail
venv=${VENV:-.venv}
flags=()
while [ $# -gt 0 ] && [ "$1" != -- ]; do flags+=("$1"); shift; done
[ "${1:-}" = -- ] && shift
if dev=$("$venv/bin/python" -c 'import torch, sys; torch.cuda.is_available() or sys.exit(1); print(torch.cuda.get_device_name(0))' 2>/dev/null); then
  flags+=(gpu); echo "CUDA: $dev: nbdev_test runs the #| gpu cells"
else
  echo "CUDA: no device (torch.cuda.is_available() is False in $venv): the #| gpu cells are NOT run; run make test on a GPU machine for them"
fi
args=()
[ ${#flags[@]} -gt 0 ] && args=(--flags "${flags[*]}")
echo "nbdev_test ${args[*]} $*"
exec bash "$(dirname "$0")/with_tmp.sh" "$venv/bin/nbdev_test" "${args[@]}" "$@"

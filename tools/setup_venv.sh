#!/usr/bin/env bash
# Create (if missing) and fill the project venv: the project editable with its extras.
# torch: keep a torch already in the venv when it satisfies settings.ini's range (a CUDA build on a
# GPU machine); otherwise pin $TORCH (torch==2.13.0, the CPU wheel this machine has on disk) in the
# same pip call, so the resolver never pulls a multi-GB CUDA build.
set -euo pipefail
venv=${1:-.venv}
extras=${EXTRAS:-dev}
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
py="$venv/bin/python"
"$py" -m pip install -q --upgrade 'pip>=24' >/dev/null
torch_arg="${TORCH:-torch==2.13.0}"
if "$py" - <<'PY' 2>/dev/null; then torch_arg=""; fi
import torch, re, sys
v = tuple(int(x) for x in re.findall(r'\d+', torch.__version__)[:2])
sys.exit(0 if (2, 2) <= v < (2, 15) else 1)
PY
echo "installing .[$extras] ${torch_arg:-(keeping installed torch)}"
"$py" -m pip install -q -e ".[$extras]" $torch_arg
"$py" -m pip check || echo "warning: pip check reported conflicts (see above)"

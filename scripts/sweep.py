"""Run an Optuna sweep from a YAML config: the `atf_sweep` console script, runnable from a checkout without installing it.

    python scripts/sweep.py configs/sweep_supervised.yaml --set train.epochs=5
    python scripts/sweep.py --help

Same arguments, outputs and exit codes as `atf_sweep` (see ai_trading_framework.cli, notebook nbs/33_cli.ipynb).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1])) # the checkout's package when it is not installed
from ai_trading_framework.cli import atf_sweep

if __name__ == '__main__':
    sys.exit(atf_sweep())

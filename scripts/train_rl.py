"""Train a reinforcement-learning agent from a YAML config: the `atf_train_rl` console script, runnable from a checkout without installing it.

    python scripts/train_rl.py configs/rl_ppo.yaml --set train.epochs=5
    python scripts/train_rl.py --help

Same arguments, outputs and exit codes as `atf_train_rl` (see ai_trading_framework.cli, notebook nbs/33_cli.ipynb).
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1])) # the checkout's package when it is not installed
from ai_trading_framework.cli import atf_train_rl

if __name__ == '__main__':
    sys.exit(atf_train_rl())

"""Reinforcement learning: the market simulator, its wrappers and the agents."""
from . import market_env  # registers TradingEnv with gymnasium (see nbs/20_rl.ipynb)

"""Cross-layer tests of the market simulator (`rl_agents.*`): what a notebook cell cannot hold.

- the env and the backtester agree: target weights decided by an agent (random here, long/short with
  reversals), replayed through `TradingEnv` and through `backtest()` (numba engine, next-open and next-close
  fills, every cost on, both fee conventions), give the same equity to 1e-12 on every bar, single and multi-asset;
- the data layer end to end: `make_datasets` -> `RLDataset` on the test block -> `TradingEnv`, observations
  scaled by the training normaliser only;
- registration: a fresh interpreter that imports `ai_trading_framework.rl_agents` builds the env with
  `gymnasium.make(ENV_ID, ...)`.
"""
import subprocess, sys

import numpy as np
import pytest

from ai_trading_framework.portfolio.costs import CostModel
from ai_trading_framework.synthetic import synthetic_market
from ai_trading_framework.features import FeatureSpec
from ai_trading_framework.panel import make_panel
from ai_trading_framework.datasets import RLDataset, make_datasets
from ai_trading_framework.rl_agents.market_env import TradingEnv, synthetic_rl_dataset
from ai_trading_framework.rl_agents.vec_env import VecTradingEnv
from ai_trading_framework.backtest.engine import backtest

ALL_COSTS = dict(commission_rate=1e-3, commission_min=2e-4, slippage_bps=5, spread_bps=4, borrow_rate=0.08)


def _episode(env, seed, n_steps=None):
    "Run one episode with seeded random actions (levels, or continuous weights); returns the env."
    rng = np.random.default_rng(seed); env.reset(seed=seed); done, n = False, 0
    while not done and (n_steps is None or n < n_steps):
        if env.action == 'continuous': a = rng.uniform(-1, 1, env.n_assets)
        else: a = rng.integers(0, len(env.levels), env.n_assets)
        *_, te, tr, _ = env.step(a); done = te or tr; n += 1
    return env


@pytest.mark.parametrize('n_assets', [1, 4])
@pytest.mark.parametrize('action', ['discrete', 'continuous'])
@pytest.mark.parametrize('fee_convention', ['value', 'broker'])
@pytest.mark.parametrize('execution', ['next_open', 'next_close'])
@pytest.mark.parametrize('rebalance', ['on_change', 'always'])
def test_env_equals_backtest(n_assets, action, fee_convention, execution, rebalance):
    ds = synthetic_rl_dataset(400, n_assets=n_assets, lookback=10, seed=n_assets)
    costs = CostModel(**ALL_COSTS, fee_convention=fee_convention)
    env = _episode(TradingEnv(ds, costs=costs, action=action, n_levels=5, max_leverage=1.5, execution=execution,
                              rebalance=rebalance, random_start=False, margin_floor=0.01, initial_cash=1e4), seed=11)
    tg = env.episode_targets()
    assert (np.diff(np.sign(tg.values), axis=0) != 0).sum() > 20 and (tg.values < 0).any()  # long/short with reversals
    res = backtest(**env.backtest_inputs(), engine='numba')
    eq = env.equity_curve()
    assert len(eq) == len(res.equity) == ds.n_steps + 1
    np.testing.assert_allclose(res.equity.values, eq.values, rtol=1e-12, atol=0)
    assert res.metrics['total_costs'] > 0


def test_training_episodes_replay_too():
    "A random-start training episode (not from the period's first bar) replays the same way."
    ds = synthetic_rl_dataset(400, n_assets=2, episode_length=60, seed=5)
    env = _episode(TradingEnv(ds, costs=CostModel(**ALL_COSTS), n_levels=3), seed=3)
    assert env._first > ds.start
    res = backtest(**env.backtest_inputs())
    np.testing.assert_allclose(res.equity.values, env.equity_curve().values, rtol=1e-12, atol=0)


def test_data_layer_to_env():
    "make_datasets -> RLDataset on the test block -> TradingEnv and VecTradingEnv: windows scaled by the training normaliser."
    frame = synthetic_market(600, 3, seed=2); spec = FeatureSpec(['signal', 'close'], horizon=1)
    b = make_datasets(frame, spec, lookback=16, valid=0.2, test=0.2)
    ds = RLDataset(b.panel, 16, rows=b.split.test, episode_length=32)
    env = TradingEnv(ds, costs=CostModel(**ALL_COSTS), random_start=False)
    obs, _ = env.reset(seed=0)
    t = ds.start
    expected = b.normalizer.transform(b.raw).x[t - 15:t + 1]
    np.testing.assert_allclose(obs['window'], expected, rtol=0, atol=1e-6)
    venv = VecTradingEnv(ds, 8, costs=CostModel(**ALL_COSTS))
    obs, _ = venv.reset(seed=0)
    for _ in range(100): obs, *_ = venv.step(np.ones((8, 3), np.int64))
    assert np.isfinite(obs['window']).all() and np.isfinite(obs['account']).all()


def test_gymnasium_make_in_a_fresh_interpreter():
    code = ("import gymnasium, ai_trading_framework.rl_agents\n"
            "from ai_trading_framework.rl_agents.market_env import ENV_ID, synthetic_rl_dataset\n"
            "env = gymnasium.make(ENV_ID, dataset=synthetic_rl_dataset(120, episode_length=20))\n"
            "obs, info = env.reset(seed=0); print(type(env.unwrapped).__name__, obs['window'].shape)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'TradingEnv (10, 1, 2)'

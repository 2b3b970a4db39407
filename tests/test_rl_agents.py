"""Cross-layer tests of the market simulator (`rl_agents.*`): what a notebook cell cannot hold.

- the env and the backtester agree: target weights decided by an agent (random here, long/short with
  reversals), replayed through `TradingEnv` and through `backtest()` (numba engine, next-open and next-close
  fills, every cost on, both fee conventions), give the same equity to 1e-12 on every bar, single and multi-asset;
- the data layer end to end: `make_datasets` -> `RLDataset` on the test block -> `TradingEnv`, observations
  scaled by the training normaliser only;
- calendars: a ragged two-asset file (`tests/data/vendor_hourly.csv`: BBB misses two hours and ends 20 hours
  early) on the union calendar: no fill on a held bar, BBB flat from its last tradable bar on, and the same
  equity as `backtest()` and as a plain loop over `fill_bar` written here;
- registration: a fresh interpreter that imports `ai_trading_framework.rl_agents` builds the env with
  `gymnasium.make(ENV_ID, ...)`.
"""
import subprocess, sys
from pathlib import Path

import numpy as np
import pytest

from ai_trading_framework.portfolio.costs import CostModel
from ai_trading_framework.synthetic import synthetic_market
from ai_trading_framework.features import FeatureSpec
from ai_trading_framework.panel import make_panel
from ai_trading_framework.datasets import RLDataset, make_datasets
from ai_trading_framework.sources import load_csv
from ai_trading_framework.portfolio.execution import fill_bar, new_account
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


def _replay_by_hand(env):
    "The episode's equity from a plain loop over `fill_bar`, with the calendar rules spelled out: a decision on a held bar "
    "does not count, an order for a held bar waits, a delisted asset is closed at its last tradable bar."
    tg, f0, trad = env.episode_targets().to_numpy(), env._first, env.tradable
    last = len(trad) - 1 - np.argmax(trad[::-1], 0); delisted = last < len(trad) - 1
    acct, prev, dec, eq = new_account(env.n_assets, env.initial_cash), np.full(env.n_assets, np.nan), np.full(env.n_assets, np.nan), [env.initial_cash]
    for k in range(len(tg) - 1):
        d, q = f0 + k, f0 + k + 1; x = np.empty(env.n_assets)
        for a in range(env.n_assets):
            if trad[d, a]: dec[a] = tg[k, a]
            v = np.nan if not trad[q, a] else (0.0 if delisted[a] and q == last[a] and q < f0 + len(tg) - 1 else dec[a])
            x[a] = np.nan if env.rebalance == 'on_change' and v == prev[a] else v; prev[a] = v
        acct, out = fill_bar(acct, x, env.fill_price[q], env.mark_price[q], env.costs, True, env.periods_per_year, env.max_leverage)
        eq.append(out.equity[1])
    return np.array(eq)


@pytest.mark.parametrize('execution', ['next_open', 'next_close'])
@pytest.mark.parametrize('rebalance', ['on_change', 'always'])
def test_ragged_calendar(execution, rebalance):
    "Union calendar on a ragged file: no fill on a held bar, closed out at delisting, equal to backtest() and to a fill_bar loop."
    p = make_panel(load_csv(Path(__file__).parent / 'data' / 'vendor_hourly.csv'), FeatureSpec(['close']), calendar='union')
    assert p.calendar == 'union' and p.assets == ('AAA', 'BBB') and (~p.tradable[:, 1]).sum() == 22
    env = TradingEnv(RLDataset(p, 8), costs=CostModel(**ALL_COSTS), n_levels=5, random_start=False, execution=execution,
                     rebalance=rebalance, margin_floor=0.01, periods_per_year=24 * 252)
    rng = np.random.default_rng(4); env.reset(seed=0); done, bars, units = False, [], []
    while not done:
        *_, te, tr, info = env.step(rng.integers(0, 5, 2)); done = te or tr; bars.append(info['bar']); units.append(info['units'])
    bars, units = np.array(bars), np.array(units)
    held = ~env.tradable[bars[1:], 1]; last = np.flatnonzero(env.tradable[:, 1])[-1]
    assert held.sum() == 22 and (np.diff(units[:, 1])[held] == 0).all()            # no fill on a held bar
    assert (units[bars >= last, 1] == 0).all() and (units[bars < last, 1] != 0).any()  # flat from the last tradable bar on
    eq = env.equity_curve().values
    np.testing.assert_array_equal(_replay_by_hand(env), eq)
    res = backtest(**env.backtest_inputs())
    np.testing.assert_allclose(res.equity.values, eq, rtol=1e-12, atol=0)


def test_gymnasium_make_in_a_fresh_interpreter():
    code = ("import gymnasium, ai_trading_framework.rl_agents\n"
            "from ai_trading_framework.rl_agents.market_env import ENV_ID, synthetic_rl_dataset\n"
            "env = gymnasium.make(ENV_ID, dataset=synthetic_rl_dataset(120, episode_length=20))\n"
            "obs, info = env.reset(seed=0); print(type(env.unwrapped).__name__, obs['window'].shape)")
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == 'TradingEnv (10, 1, 2)'

"""Cross-layer tests of the backtest engine: synthetic market (data layer) -> predictions -> backtest -> metrics and tearsheet.

Unit tests (hand-computed equity, costs, errors, numba == NumPy) live in nbs/50_backtest.ipynb; these runs are
larger and tie the engine's timing to the synthetic market's planted signal.
"""
import numpy as np
import pandas as pd
import pytest
from ai_trading_framework.synthetic import synthetic_market
from ai_trading_framework.portfolio.costs import CostModel
from ai_trading_framework.backtest.engine import backtest

@pytest.fixture(scope='module')
def one_asset() -> pd.DataFrame:
    return synthetic_market(4000, seed=3, signal_ic=0.2)

def test_timing_earns_only_what_a_decision_can_know(one_asset):
    "signal_t predicts close t -> t+1; a decision at t fills at t+1's close, so only a leaked future signal earns."
    df = one_asset
    honest = backtest(df[['close']].rename(columns={'close': 'X'}), predictions=df['signal'].rename('X'), costs=CostModel())
    leaked = backtest(df[['close']].rename(columns={'close': 'X'}), predictions=df['signal'].shift(-1).rename('X'), costs=CostModel())
    test_ic = honest.metrics['ic']
    assert 0.15 < test_ic < 0.25, test_ic                      # planted IC of the prediction at t vs the return t -> t+1
    se = np.sqrt(honest.metrics['periods_per_year'] / len(df))  # standard error of an annualised Sharpe of zero
    assert abs(honest.metrics['sharpe']) < 4 * se, honest.metrics['sharpe']
    assert leaked.metrics['sharpe'] > 8 * se, leaked.metrics['sharpe']

def test_ohlc_frame_fills_at_next_open(one_asset):
    "An OHLC frame brings its own open prices: fills default to the next open, at exactly that price (one fill per trade)."
    res = backtest(one_asset, predictions=one_asset['signal'], costs=CostModel(commission_rate=0.001), rebalance='on_change')
    assert res.config['execution'] == 'next_open'
    tr = res.trades.iloc[:20]
    opens = one_asset['open'].reindex(tr['entry_time']).to_numpy()
    np.testing.assert_allclose(tr['entry_price'].to_numpy(), opens, rtol=1e-15)
    assert res.metrics['n_trades'] > 100 and res.metrics['total_costs'] > 0

def test_long_ragged_panel_topk_numba_equals_numpy():
    "A long (timestamp, asset) frame with assets listed late: top-k weights, shared cash, both engines agree."
    df = synthetic_market(600, n_assets=6, seed=5, ragged=True, signal_ic=0.15)
    kw = dict(predictions=df['signal'], signal='topk', signal_kw=dict(k=2), costs=CostModel(0.0005, 0.0, 2.0, 2.0, 0.02),
              rebalance_threshold=0.01)
    a, b = backtest(df, **kw), backtest(df, engine='numpy', **kw)
    np.testing.assert_allclose(a.equity.to_numpy(), b.equity.to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(a.positions.to_numpy(), b.positions.to_numpy(), rtol=1e-12, atol=1e-15)
    close = df['close'].unstack('asset')
    assert (a.positions.to_numpy()[close.isna().to_numpy()] == 0).all()          # nothing held before an asset lists
    assert a.weights.abs().sum(axis=1).max() < 1.05                              # gross about 1 (drift below the 1 % threshold)
    assert 0.05 < a.metrics['ic'] < 0.25 and a.metrics['rank_ic'] > 0.05

def test_tearsheet_html_of_a_long_run(tmp_path, one_asset):
    res = backtest(one_asset, predictions=one_asset['signal'], signal='vol_target', signal_kw=dict(target_vol=0.1, lookback=20),
                   max_leverage=2, benchmark=one_asset['close'], costs=CostModel(commission_rate=0.0005))
    assert res.weights.abs().sum(axis=1).max() <= 2 + 1e-9
    path = tmp_path / 'tearsheet.html'
    res.to_html(path, max_points=2000, include_plotlyjs='cdn')   # the figure's data alone (plotly.js embedded by default: +4.6 MB)
    text = path.read_text()
    assert 'benchmark' in text and 'monthly returns' in text and path.stat().st_size < 1_000_000

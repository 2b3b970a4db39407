"""Our metrics against empyrical-reloaded 0.7.1 (dev extra), whose conventions quantstats shares (rf = 0): Sharpe
mean/std(ddof=1) x sqrt(252), Sortino with the downside deviation over all returns, CAGR on N / 252 years, max drawdown
anchored at the start, Calmar = CAGR / |max drawdown|. The engine's compiled statistics must match too.

The equity cross-checks against backtesting.py and vectorbt live in bench/bench_backtest.py (bench extra).
"""
import numpy as np
import pandas as pd
import pytest
from ai_trading_framework.backtest.engine import backtest, random_case
from ai_trading_framework.portfolio.metrics import compute_metrics
from ai_trading_framework.portfolio.costs import CostModel

def _empyrical():
    try: import empyrical
    except ImportError: pytest.fail('empyrical-reloaded is not installed: it is in the dev extra (pip install -e ".[dev]")')
    return empyrical

PAIRS = {'sharpe': 'sharpe_ratio', 'sortino': 'sortino_ratio', 'annual_return': 'annual_return', 'volatility': 'annual_volatility',
         'max_drawdown': 'max_drawdown', 'calmar': 'calmar_ratio', 'total_return': 'cum_returns_final'}

@pytest.mark.parametrize('seed', [0, 1, 2])
def test_metrics_match_empyrical(seed):
    ep = _empyrical()
    r = pd.Series(np.random.default_rng(seed).normal(3e-4, 0.012, 1500), index=pd.bdate_range('2015-01-01', periods=1500))
    m = compute_metrics(r)
    for ours, theirs in PAIRS.items():
        assert m[ours] == pytest.approx(float(getattr(ep, theirs)(r)), rel=1e-12, abs=1e-15), ours

def test_backtest_metrics_match_empyrical():
    "The compiled return statistics of a real backtest against empyrical on the same returns."
    ep = _empyrical()
    close, opn, w = random_case(7, 800, 5)
    res = backtest(close, weights=w, open=opn, costs=CostModel(0.001, 0.01, 2.0, 2.0, 0.02), initial_cash=10_000)
    assert res.equity.min() > 0
    assert res.metrics['periods_per_year'] == 252
    after = res.equity.pct_change().iloc[1:]          # what quantstats/empyrical users compute from the equity
    np.testing.assert_allclose(after.to_numpy(), res.returns.iloc[1:].to_numpy(), rtol=1e-12, atol=1e-15)
    for ours, theirs in PAIRS.items():
        assert res.metrics[ours] == pytest.approx(float(getattr(ep, theirs)(after)), rel=1e-10, abs=1e-14), ours


def test_metrics_start_after_the_first_fill_opportunity():
    "A known equity: CAGR, volatility, Sharpe, Sortino written out here on the returns from bar 1 on (bar 0 cannot trade)."
    idx = pd.bdate_range('2024-01-01', periods=6)
    close = pd.Series([100., 102, 101, 104, 103, 106], idx)
    res = backtest(close, weights=pd.Series(1.0, idx), costs=CostModel(), execution='next_close')
    eq = np.array([1, 1, 101 / 102, 104 / 102, 103 / 102, 106 / 102])     # in at bar 1's close, held to the end
    np.testing.assert_allclose(res.equity.to_numpy(), eq, rtol=1e-14)
    r = eq[1:] / eq[:-1] - 1; n = len(r)                                   # 5 returns: bar 0's (always 0) is not one
    m = res.metrics
    assert m['annual_return'] == pytest.approx(eq[-1] ** (252 / n) - 1, rel=1e-12)
    assert m['volatility'] == pytest.approx(r.std(ddof=1) * np.sqrt(252), rel=1e-12)
    assert m['sharpe'] == pytest.approx(r.mean() / r.std(ddof=1) * np.sqrt(252), rel=1e-12)
    assert m['sortino'] == pytest.approx(r.mean() / np.sqrt((np.minimum(r, 0) ** 2).mean()) * np.sqrt(252), rel=1e-12)
    d = r - r.mean()
    assert m['skew'] == pytest.approx((d ** 3).mean() / (d ** 2).mean() ** 1.5, rel=1e-12)            # population estimator
    assert m['excess_kurtosis'] == pytest.approx((d ** 4).mean() / (d ** 2).mean() ** 2 - 3, rel=1e-12)
    assert m['sharpe'] != pytest.approx(np.r_[0, r].mean() / np.r_[0, r].std(ddof=1) * np.sqrt(252), rel=1e-3)  # the old convention
    assert "rebalance='always'" in repr(res) and "fee_convention='value'" in repr(res) and 'initial_cash=1' in repr(res)

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
    for ours, theirs in PAIRS.items():
        assert res.metrics[ours] == pytest.approx(float(getattr(ep, theirs)(res.returns)), rel=1e-10, abs=1e-14), ours

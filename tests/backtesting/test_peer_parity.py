"""Equity parity with the peers, asserted (issue 11): a few thousand bars, long/short with reversals, next-open fills.

- 'value' fee convention (the fee on the traded value, paid from cash, on top of the target): vectorbt 1.2
  `Portfolio.from_orders(size_type='targetpercent')` filled at the next open (`price=open`, sizes decided at the previous
  close), one asset and shared cash over several.
- 'broker' convention (the fee inside the budget, units = cash / (open (1 + fee))): backtesting.py's
  `FractionalBacktest`, with reversals closed first (tests/backtesting/test_reversals.py checks that case bar by bar on
  400 bars and the trades); here a longer run with flat spells and a second fee rate.
Both peers are in the dev extra (vectorbt installs in seconds on top of the project's venv).
"""
import numpy as np
import pandas as pd
import pytest
from ai_trading_framework.backtest.engine import backtest
from ai_trading_framework.portfolio.costs import CostModel
from test_reversals import _market, _backtesting_py
import test_reversals

N = 3000


def _vectorbt():
    try: import vectorbt
    except ImportError: pytest.fail('vectorbt is not installed: it is in the dev extra (pip install -e ".[dev]")')
    return vectorbt



@pytest.mark.parametrize('seed,fee', [(0, 0.001), (1, 0.0025)])
def test_value_convention_matches_vectorbt_from_orders(seed, fee):
    vbt = _vectorbt()
    df, sig = _market(N, seed)
    w = pd.Series(sig * 0.5, df.index)                                     # reversals between +0.5 and -0.5 of equity
    assert (sig[1:] * sig[:-1] < 0).sum() >= 30
    res = backtest(df, weights=w, costs=CostModel(commission_rate=fee), initial_cash=10_000.0)
    assert res.config['execution'] == 'next_open'
    pf = vbt.Portfolio.from_orders(df['Close'], w.shift(1), size_type='targetpercent', price=df['Open'], fees=fee,
                                   init_cash=10_000.0, freq='1D')
    np.testing.assert_allclose(res.equity.to_numpy(), pf.value().to_numpy(), rtol=1e-9)
    assert len(res.fills) == int(pf.orders.count())


def test_value_convention_shared_cash_matches_vectorbt():
    "Three assets, one cash account, long/short weights that reverse: vectorbt with cash_sharing and sells first."
    vbt = _vectorbt()
    frames = [_market(N, s) for s in (3, 4, 5)]
    idx = frames[0][0].index
    close = pd.DataFrame({f'A{i}': f['Close'].to_numpy() for i, (f, _) in enumerate(frames)}, idx)
    opn = pd.DataFrame({f'A{i}': f['Open'].to_numpy() for i, (f, _) in enumerate(frames)}, idx)
    w = pd.DataFrame({f'A{i}': s * 0.3 for i, (_, s) in enumerate(frames)}, idx)
    res = backtest(close, weights=w, open=opn, costs=CostModel(commission_rate=0.001), initial_cash=10_000.0)
    pf = vbt.Portfolio.from_orders(close, w.shift(1), size_type='targetpercent', price=opn, fees=0.001, init_cash=10_000.0,
                                   cash_sharing=True, group_by=True, call_seq='auto', freq='1D')
    np.testing.assert_allclose(res.equity.to_numpy(), pf.value().to_numpy(), rtol=1e-9)


@pytest.mark.parametrize('seed,fee', [(6, 0.0005), (7, 0.003)])
def test_broker_convention_matches_backtesting_py(seed, fee, monkeypatch):
    df, sig = _market(N, seed)
    monkeypatch.setattr(test_reversals, 'FEE', fee)
    res = backtest(df, weights=pd.Series(sig, df.index), rebalance='on_change',
                   costs=CostModel(commission_rate=fee, fee_convention='broker'), initial_cash=test_reversals.CASH)
    st = _backtesting_py(df, sig)
    np.testing.assert_allclose(res.equity.to_numpy(), st['_equity_curve']['Equity'].to_numpy(), rtol=1e-9)
    assert (~res.trades['is_open']).sum() == len(st['_trades']) > 50

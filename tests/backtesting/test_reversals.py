"""Long/short reversals in the broker fee convention against backtesting.py 0.6.6 (dev extra) and a plain loop.

backtesting.py books a reversal as a close then an open, both at the next bar's open: the exit commission is paid
first and the new position is sized from the cash that remains, units = cash / (open x (1 + fee)) (PEER-CONVENTIONS.md).
`backtest(..., costs=CostModel(commission_rate=fee, fee_convention='broker'), rebalance='on_change')` must give the
same equity at every close, to 1e-9 relative, and the same closed trades.
"""
import warnings
import numpy as np
import pandas as pd
import pytest
from ai_trading_framework.portfolio.costs import CostModel
from ai_trading_framework.backtest.engine import backtest

FEE, CASH = 0.002, 10_000.0

def _market(n=400, seed=0):
    "OHLC bars and a long/flat/short signal in runs of 5 to 30 bars, with direct long <-> short reversals."
    rng = np.random.default_rng(seed)
    close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    opn = np.r_[100.0, close[:-1]] * np.exp(rng.normal(0, 0.003, n))
    idx = pd.bdate_range('2020-01-01', periods=n)
    df = pd.DataFrame(dict(Open=opn, High=np.maximum(opn, close) * 1.002, Low=np.minimum(opn, close) * 0.998, Close=close, Volume=1e6), idx)
    sig, t, side = np.zeros(n), 2, 1.0
    while t < n:
        k = int(rng.integers(5, 31)); sig[t:t + k] = side; t += k
        side = -side if rng.random() < 0.8 else (0.0 if side else 1.0)  # mostly straight reversals, sometimes via flat
    return df, sig  # sig[0] = sig[1] = 0: backtesting.py's first decision is on bar 1

def _loop(opn, close, sig, fee=FEE, cash=CASH):
    "The broker convention written out: on a signal change, close (paying the exit fee), then buy or sell cash / (open (1 + fee))."
    units, out = 0.0, []
    for t in range(len(close)):
        if t > 1 and sig[t - 1] != sig[t - 2]:
            if units:
                cash += units * opn[t] - fee * abs(units) * opn[t]; units = 0.0
            if sig[t - 1]:
                units = sig[t - 1] * cash / (opn[t] * (1 + fee)); cash -= units * opn[t] + fee * abs(units) * opn[t]
        out.append(cash + units * close[t])
    return np.array(out)

def _backtesting_py(df, sig):
    try:
        from backtesting import Strategy
        from backtesting.lib import FractionalBacktest
    except ImportError: pytest.fail('backtesting is not installed: it is in the dev extra (pip install -e ".[dev]")')
    class Flip(Strategy):
        def init(self): self.s = self.I(lambda: sig, name='signal', overlay=False)
        def next(self):
            s, pos = self.s[-1], self.position
            if s > 0 and not pos.is_long: pos.close(); self.buy()
            elif s < 0 and not pos.is_short: pos.close(); self.sell()
            elif s == 0 and pos: pos.close()
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        return FractionalBacktest(df, Flip, cash=CASH, commission=FEE, fractional_unit=1e-11, finalize_trades=False).run()

@pytest.fixture(scope='module', params=[0, 1, 2])
def case(request):
    df, sig = _market(seed=request.param)
    res = backtest(df.rename(columns=str.lower), weights=pd.Series(sig, df.index), rebalance='on_change',
                   costs=CostModel(commission_rate=FEE, fee_convention='broker'), initial_cash=CASH)
    return df, sig, res

def test_case_has_reversals(case):
    _, sig, res = case
    flips = np.flatnonzero(sig[1:] * sig[:-1] < 0)
    assert len(flips) >= 5 and res.config['execution'] == 'next_open'
    assert (res.fills['units'].abs() > res.positions.abs().max().iloc[0] * 0.5).sum() >= len(flips)  # reversals trade through zero

def test_equity_matches_plain_loop(case):
    df, sig, res = case
    np.testing.assert_allclose(res.equity.to_numpy(), _loop(df['Open'].to_numpy(), df['Close'].to_numpy(), sig), rtol=1e-12)

def test_equity_and_trades_match_backtesting_py(case):
    df, sig, res = case
    st = _backtesting_py(df, sig)
    np.testing.assert_allclose(res.equity.to_numpy(), st['_equity_curve']['Equity'].to_numpy(), rtol=1e-9)
    ours, theirs = res.trades[~res.trades['is_open']], st['_trades']
    assert len(ours) == len(theirs) > 5
    np.testing.assert_allclose(ours['units'].to_numpy(), theirs['Size'].to_numpy(), rtol=1e-9)
    np.testing.assert_allclose(ours['entry_price'].to_numpy(), theirs['EntryPrice'].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours['exit_price'].to_numpy(), theirs['ExitPrice'].to_numpy(), rtol=1e-12)
    np.testing.assert_allclose(ours['pnl'].to_numpy(), theirs['PnL'].to_numpy(), rtol=1e-9, atol=1e-9 * CASH)
    assert (ours['entry_time'].to_numpy() == theirs['EntryTime'].to_numpy()).all()

"""Your own data in the backtest layer (issue 10): a frame as read with plain pandas (capitalised OHLCV names, a `Date`
column or index, a `SYMBOL` column) enters `backtest`, `walk_forward` and the widgets as the datasets read it, and the one
calendar policy of `trading_calendar` is honoured by all three on a ragged two-asset file: no fill on a held bar, and a
delisted asset closed out at its last tradable bar.
"""
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from ai_trading_framework.backtest.engine import backtest, last_tradable
from ai_trading_framework.backtest.validation import walk_forward
from ai_trading_framework.backtest.widgets import WidgetSettings, interactive_backtest, run_settings, widget_figure
from ai_trading_framework.features import FeatureSpec
from ai_trading_framework.panel import make_panel
from ai_trading_framework.portfolio.costs import CostModel
from ai_trading_framework.sources import load_csv
from ai_trading_framework.trading_calendar import aligned_prices

DATA = Path(__file__).parents[1] / 'data'
COSTS = CostModel(0.001)

READS = {
    'read_csv': lambda: pd.read_csv(DATA / 'yahoo_daily.csv'),                                       # Date a column
    'index_col': lambda: pd.read_csv(DATA / 'yahoo_daily.csv', index_col=0, parse_dates=True),       # Date the index
    'unnamed_index': lambda: pd.read_csv(DATA / 'yahoo_daily.csv', index_col=0, parse_dates=True).rename_axis(None),
    'upper': lambda: pd.read_csv(DATA / 'yahoo_daily.csv').rename(columns=str.upper),
}


def _reference():
    "The same file through the loader, with canonical names, as a plain close and open Series."
    f = load_csv(DATA / 'yahoo_daily.csv')
    return f['close'], f['open']


def _signal(index):
    "A deterministic long/short signal on the file's dates."
    return pd.Series(np.sign(np.sin(np.arange(len(index)) / 7.0)) + 0.0, index)


@pytest.mark.parametrize('read', list(READS), ids=list(READS))
def test_backtest_reads_capitalised_frames(read):
    "One asset, read four ways: the same fills at the next open as the canonical close and open Series."
    frame = READS[read]()
    close, opn = _reference()
    pred = _signal(close.index)
    res = backtest(frame, predictions=pred, costs=COSTS)
    ref = backtest(close, open=opn, predictions=pred, costs=COSTS)
    assert res.prices.shape == (300, 1) and res.config['execution'] == 'next_open'   # not a wide frame of 5-6 "assets"
    np.testing.assert_allclose(res.equity.to_numpy(), ref.equity.to_numpy(), rtol=1e-13)
    assert len(res.fills) == len(ref.fills) > 10


def test_long_capitalised_frame_is_one_backtest_per_asset():
    "A long file (SYMBOL column, capitalised OHLCV) enters backtest and walk_forward with no renaming."
    raw = pd.read_csv(DATA / 'vendor_hourly.csv')
    res = backtest(raw, weights=0.5 * np.ones((200, 2)), costs=COSTS)
    assert list(res.prices.columns) == ['AAA', 'BBB'] and res.config['calendar'] == 'union'
    wf = walk_forward(raw, lambda tr, te: np.ones(len(te)), train_size=60, test_size=40, costs=COSTS, progress=False)
    assert len(wf.folds) == 4 and list(wf.folds[0].result.prices.columns) == ['AAA', 'BBB']


def _held_fills(res, tradable):
    f = res.fills
    return int((~tradable.reindex(index=f.time, columns=['AAA', 'BBB']).to_numpy()[np.arange(len(f)), (f.asset == 'BBB').to_numpy().astype(int)]).sum())


@pytest.mark.parametrize('calendar', [None, 'union', 'intersect'])
def test_calendar_policy_in_backtest_and_walk_forward(calendar):
    "On the ragged file (BBB misses two hours and ends 20 hours early): the datasets' bars and flags, no fill on a held bar, BBB flat after its last bar."
    raw = pd.read_csv(DATA / 'vendor_hourly.csv')
    panel = make_panel(raw, FeatureSpec(['CLOSE'], exec_price_cols=('OPEN', 'CLOSE')), calendar=calendar)
    tradable = aligned_prices(raw, calendar=calendar)['tradable']
    np.testing.assert_array_equal(tradable.to_numpy(), panel.tradable)
    n = len(panel.timestamps)
    res = backtest(raw, weights=np.full((n, 2), 0.5), costs=COSTS, calendar=calendar, rebalance='always')
    assert list(res.equity.index) == list(panel.timestamps)                  # the datasets' calendar
    assert _held_fills(res, tradable) == 0                                   # no fill on a held bar
    bbb = res.fills[res.fills.asset == 'BBB']
    if calendar != 'intersect':
        last = last_tradable(tradable)['BBB']
        assert last == tradable.index[179] and bbb.time.max() == last          # closed out at its last tradable bar ...
        assert (res.positions.loc[res.positions.index >= last, 'BBB'] == 0).all()  # ... and flat after it
        assert res.positions.loc[:last, 'BBB'].iloc[:-1].abs().max() > 0
        held = tradable.index[~tradable['BBB'].to_numpy()][:2]                  # the two missing hours: the position is held
        pos = res.positions['BBB']
        for t in held: assert pos.loc[t] == pos.shift().loc[t] != 0
    wf = walk_forward(raw, lambda tr, te: np.ones(len(te)), train_size=40, test_size=30, costs=COSTS, calendar=calendar, progress=False)
    assert list(wf.equity.index) == list(panel.timestamps[40:40 + 30 * len(wf.folds)])
    assert sum(_held_fills(f.result, tradable) for f in wf.folds) == 0
    if calendar != 'intersect':
        after = [f.result.positions.loc[f.result.positions.index >= last, 'BBB'] for f in wf.folds]
        assert all((a == 0).all() for a in after) and sum(len(a) for a in after) >= 19


def test_order_waits_for_the_next_tradable_bar():
    "A decision taken before a held bar fills on the next tradable bar; a decision taken on a held bar does not count."
    idx = pd.date_range('2024-01-01', periods=6, freq='h')
    close = pd.DataFrame({'X': [10., 11, 12, 13, 14, 15]}, idx)
    trad = pd.DataFrame({'X': [True, True, False, False, True, True]}, idx)
    w = pd.DataFrame({'X': [0., 1, -1, -1, 1, 1]}, idx)                   # decided on 1: fills on 4 (2, 3 held); the -1s were taken on held bars
    res = backtest(close, weights=w, tradable=trad, costs=CostModel(), execution='next_close', freq=24 * 252)
    assert list(res.fills.time) == [idx[4]] and res.fills.units.iloc[0] > 0


def test_widgets_take_capitalised_frames():
    "run_settings and interactive_backtest read a frame as read; the widget's date axis holds dates."
    frame = pd.read_csv(DATA / 'yahoo_daily.csv')
    close, opn = _reference()
    pred = _signal(close.index)
    s = WidgetSettings(start=close.index[50], version='v', commission_bps=10)   # COSTS' 0.001
    res = run_settings(frame, {'v': pred}, s, COSTS)
    ref = backtest(close.iloc[50:], open=opn.iloc[50:], predictions=pred.iloc[50:], costs=COSTS)
    np.testing.assert_allclose(res.equity.to_numpy(), ref.equity.to_numpy(), rtol=1e-13)
    ib = interactive_backtest(frame, pred, costs=COSTS)
    full = backtest(close, open=opn, predictions=pred, costs=COSTS)
    assert ib.error is None and ib.result.equity.iloc[-1] == pytest.approx(full.equity.iloc[-1], rel=1e-13)
    x = widget_figure(res).data[0].x
    assert isinstance(x[0], str) and x[0].startswith(str(close.index[50].date()))

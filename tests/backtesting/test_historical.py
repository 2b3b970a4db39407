"""The engine, walk-forward analysis, CPCV and the lookahead detector on real prices.

Data: the GOOGL daily and EUR/USD hourly CSV files shipped in gym-anytrading 2.0.0's package data (dev extra),
read with the project's `sources.load_csv`. The EUR/USD file has day-first times ("13.01.2017 00:00:00.000"),
which `load_csv` reads through pandas' own `parse_dates`/`date_format` options.
"""
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
from ai_trading_framework.core import LookaheadError
from ai_trading_framework.portfolio.costs import CostModel
from ai_trading_framework.sources import load_csv
from ai_trading_framework.synthetic import add_returns, rolling_volatility, rolling_zscore
from ai_trading_framework.backtest.engine import backtest
from ai_trading_framework.portfolio.metrics import sharpe_ratio
from ai_trading_framework.leakage import check_lookahead
from ai_trading_framework.splits import CombinatorialPurgedCV
from ai_trading_framework.backtest.validation import walk_forward, cpcv_path_sharpes

OHLCV = ['open', 'high', 'low', 'close', 'volume']

def _data_dir() -> Path:
    try: import gym_anytrading
    except ImportError: pytest.fail('gym-anytrading is not installed: it is in the dev extra (pip install -e ".[dev]")')
    return Path(gym_anytrading.__file__).parent / 'datasets' / 'data'

@pytest.fixture(scope='module')
def googl() -> pd.DataFrame:
    return load_csv(_data_dir() / 'STOCKS_GOOGL.csv').rename(columns=str.lower)[OHLCV]

@pytest.fixture(scope='module')
def eurusd() -> pd.DataFrame:
    df = load_csv(_data_dir() / 'FOREX_EURUSD_1H_ASK.csv', parse_dates=['Time'], date_format='%d.%m.%Y %H:%M:%S.%f')
    return df.rename(columns=str.lower)[OHLCV]

def test_loaded_shapes(googl, eurusd):
    assert len(googl) == 2335 and googl.index[0] == pd.Timestamp('2009-05-22') and googl.index.is_monotonic_increasing
    assert len(eurusd) == 6225 and eurusd.index[0] == pd.Timestamp('2017-01-01 22:00')
    assert (eurusd.index.to_series().diff().dropna() == pd.Timedelta('1h')).mean() > 0.98

@pytest.mark.parametrize('execution', ['next_close', 'next_open'])
def test_buy_and_hold_is_the_price_ratio(googl, eurusd, execution):
    "Weight 1 from the first bar, no costs: equity at every close is close / fill price of bar 1, exactly."
    for df in (googl, eurusd):
        res = backtest(df, weights=pd.Series(1.0, df.index), execution=execution, initial_cash=1.0, costs=CostModel())
        fill = df['close' if execution == 'next_close' else 'open'].iloc[1]
        np.testing.assert_allclose(res.equity.iloc[1:], df['close'].iloc[1:] / fill, rtol=1e-12)
        assert res.equity.iloc[0] == 1.0 and len(res.trades) == 1 and res.trades['is_open'].all()
    r = backtest(googl['close'], weights=pd.Series(1.0, googl.index), costs=CostModel())
    assert r.equity.iloc[-1] == pytest.approx(googl['close'].iloc[-1] / googl['close'].iloc[1], rel=1e-12)

def test_costs_on_real_prices(googl):
    "A daily sign rule pays commission on every fill: the total cost equals the sum of rate x traded value."
    mom = np.sign(googl['close'].pct_change(20)).fillna(0)
    free = backtest(googl, predictions=mom, execution='next_close', costs=CostModel())
    paid = backtest(googl, predictions=mom, execution='next_close', costs=CostModel(commission_rate=0.001))
    n_fills = (paid.positions.diff().abs().sum(axis=1) > 0).sum()
    assert n_fills > 20 and paid.equity.iloc[-1] < free.equity.iloc[-1]
    traded = (paid.positions.diff().fillna(paid.positions).abs() * googl[['close']].to_numpy()).sum(axis=1)
    assert paid.metrics['total_costs'] == pytest.approx(0.001 * traded.sum(), rel=1e-9)

LOOKBACKS = (5, 20, 60)

def momentum_features(df: pd.DataFrame) -> pd.DataFrame:
    "Trailing momentum over several lookbacks: causal (checked below)."
    return pd.DataFrame({f'mom_{n}': df['close'].pct_change(n) for n in LOOKBACKS}, index=df.index)

def pick_momentum(train: pd.DataFrame, test: pd.DataFrame) -> pd.Series:
    "Retrained each fold: keep the lookback whose sign rule had the best Sharpe on the (purged) training rows."
    nxt = train['close'].pct_change().shift(-1)  # next-bar return, known inside the training window only
    score = {c: sharpe_ratio((np.sign(train[c]) * nxt).dropna()) for c in train if c.startswith('mom_')}
    pick_momentum.chosen.append((train.index[-1], max(score, key=score.get)))
    return test[max(score, key=score.get)]
pick_momentum.chosen = []

def test_features_are_causal_on_real_data(googl, eurusd):
    for df in (googl, eurusd):
        assert len(check_lookahead(momentum_features, df)) == 0
        proj = lambda d: add_returns(d, [1, 5]).assign(vol=lambda o: rolling_volatility(o, 20), z=lambda o: rolling_zscore(o, 'close', 20))
        assert len(check_lookahead(proj, df, name='project_features')) == 0

def test_detector_flags_future_feature_on_googl(googl):
    cut = googl.index[1500]
    rep = check_lookahead(lambda d: d['close'].shift(-1).rename('next_close'), googl, cut_points=[cut], strict=False)
    assert rep['column'].tolist() == ['next_close'] and rep.loc[0, 'first_diff'] == cut
    with pytest.raises(LookaheadError, match="'leaky' looks ahead.*'zclose': first differing timestamp 2009-05-22"):
        check_lookahead(lambda d: ((d['close'] - d['close'].mean()) / d['close'].std()).rename('zclose'), googl, name='leaky')
    assert len(check_lookahead(lambda d: d['close'].shift(1).rename('prev_close'), googl)) == 0

def _check_walk_forward(wf, df, train_size, test_size, horizon):
    oos = df.index[train_size:]
    assert wf.equity.index.equals(oos) and wf.returns.index.equals(oos)  # only out-of-sample bars, each once
    for a, b in zip(wf.folds, wf.folds[1:]):  # continuous: each fold starts from the previous fold's ending equity
        assert b.result.config['initial_cash'] == a.result.equity.iloc[-1]
        assert b.result.equity.iloc[0] == a.result.equity.iloc[-1]  # nothing fills on a fold's first bar
    assert wf.equity.iloc[-1] == pytest.approx(np.prod(1 + wf.returns.to_numpy()), rel=1e-10)
    for f in wf.folds:  # purged: no training label reaches the test window
        assert f.train_idx.max() + horizon < f.test_idx[0] and len(f.test_idx) <= test_size
    assert len(wf.folds) == int(np.ceil((len(df) - train_size) / test_size))

def test_walk_forward_googl(googl):
    data = googl.join(momentum_features(googl))
    pick_momentum.chosen.clear()
    wf = walk_forward(googl, pick_momentum, data=data, train_size=504, test_size=126, horizon=1, execution='next_open',
                      costs=CostModel(commission_rate=0.0005), progress=False)
    _check_walk_forward(wf, googl, 504, 126, 1)
    assert [t for t, _ in pick_momentum.chosen] == [googl.index[f.test_idx[0] - 2] for f in wf.folds]
    f = wf.folds[3]  # a fold's result is a direct backtest of its window with that fold's predictions
    win = googl.index[f.test_idx]
    direct = backtest(googl.loc[win], predictions=data.loc[win, pick_momentum.chosen[3][1]], execution='next_open',
                      costs=CostModel(commission_rate=0.0005), initial_cash=wf.folds[2].result.equity.iloc[-1], freq=252)
    np.testing.assert_allclose(f.result.equity, direct.equity, rtol=1e-12)
    assert np.isfinite(wf.metrics['sharpe']) and wf.summary().shape[0] == len(wf.folds)

def test_walk_forward_eurusd_hourly(eurusd):
    data = eurusd.join(momentum_features(eurusd))
    wf = walk_forward(eurusd, pick_momentum, data=data, train_size=24 * 60, test_size=24 * 20, window='expanding', horizon=1,
                      execution='next_open', costs=CostModel(spread_bps=1.0), progress=False)
    _check_walk_forward(wf, eurusd, 24 * 60, 24 * 20, 1)
    assert sum(f.result.metrics['total_costs'] for f in wf.folds) > 0
    assert wf.metrics['periods_per_year'] > 5000  # hourly bars are annualised as such

def test_cpcv_paths_on_googl(googl):
    "CPCV on daily GOOGL with 5-day labels: every path covers every bar once, and yields a finite Sharpe."
    h = 5; feats = momentum_features(googl).fillna(0); nxt = googl['close'].pct_change().shift(-1).fillna(0).to_numpy()
    t0 = googl.index; t1 = pd.Series(t0[np.minimum(np.arange(len(t0)) + h, len(t0) - 1)], index=t0)
    cv = CombinatorialPurgedCV(6, 2, embargo=5, t1=t1)
    split_returns = []
    for train, test in cv.split():
        assert not np.isin(train, test).any() and len(train) < len(t0) - len(test)  # purged and embargoed
        score = {c: sharpe_ratio(np.sign(feats[c].to_numpy()[train]) * nxt[train]) for c in feats}
        split_returns.append(np.sign(feats[max(score, key=score.get)].to_numpy()[test]) * nxt[test])
    sh = cpcv_path_sharpes(cv, split_returns, index=t0)
    assert len(sh) == cv.n_test_paths == 5 and np.isfinite(sh).all()

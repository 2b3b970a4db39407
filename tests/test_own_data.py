"""Your own data, end to end: files shaped the way users have them, through the loaders, `make_panel` and `make_datasets`.

The files are in tests/data (made by tests/data/make_own_data.py; a truncated Parquet file is made here). Each block
tests one promise of issue 10's data part: column names as people have them, checks on the names the spec declares,
unreadable files named with their fix, day-first timestamps, and one calendar policy set on the data.
The real GOOGL daily and EUR/USD hourly files of gym-anytrading (dev extra) check the level-jump warning for false
positives, as tests/backtesting/test_historical.py does.
"""
import warnings
from pathlib import Path
import numpy as np
import pandas as pd
import pytest

from ai_trading_framework.core import ATFWarning, DataValidationError
from ai_trading_framework.frames import canonical_frame, validate_frame
from ai_trading_framework.trading_calendar import align_calendar, aligned_prices, calendar_policy
from ai_trading_framework.sources import load_csv, load_frame, load_parquet, iter_parquet
from ai_trading_framework.features import FeatureSpec
from ai_trading_framework.panel import make_panel
from ai_trading_framework.datasets import make_datasets

DATA = Path(__file__).parent / 'data'
OHLCV = ['open', 'high', 'low', 'close', 'volume']
SPEC = FeatureSpec(['Close', 'Volume'], price_col='Close', exec_price_cols=('Open', 'Close'))


def _gym_file(name) -> Path:
    try: import gym_anytrading
    except ImportError: pytest.fail('gym-anytrading is not installed: it is in the dev extra (pip install -e ".[dev]")')
    return Path(gym_anytrading.__file__).parent / 'datasets' / 'data' / name


def _no_warning(f):
    "Run f() with every warning an error."
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        return f()


def _warnings(f) -> list:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        f()
    return [o for o in w if o.category is ATFWarning]


# ---- column names as people have them ------------------------------------------------------------------------

@pytest.mark.parametrize('read', [
    lambda: load_csv(DATA / 'yahoo_daily.csv'),
    lambda: load_frame(str(DATA / 'yahoo_daily.csv')),
    lambda: pd.read_csv(DATA / 'yahoo_daily.csv'),                                        # plain pandas, Date a column
    lambda: pd.read_csv(DATA / 'yahoo_daily.csv', index_col=0),                           # Date the (text) index
    lambda: pd.read_csv(DATA / 'yahoo_daily.csv', index_col=0, parse_dates=True),         # Date a DatetimeIndex
    lambda: pd.read_csv(DATA / 'yahoo_daily.csv', index_col=0, parse_dates=True).rename_axis(None),  # unnamed
], ids=['load_csv', 'load_frame', 'read_csv', 'index_col', 'parse_dates', 'unnamed_index'])
def test_yahoo_shapes_reach_the_datasets(read):
    "A yfinance export, however it was read, gives the canonical frame and the same datasets, with no renaming by hand."
    frame = read()
    canon = canonical_frame(frame)
    assert list(canon.columns) == ['open', 'high', 'low', 'close', 'adj_close', 'volume'] and canon.index.name == 'timestamp'
    b = make_datasets(frame, SPEC, lookback=10)
    ref = make_datasets(load_csv(DATA / 'yahoo_daily.csv'), FeatureSpec(['close', 'volume']), lookback=10)
    np.testing.assert_array_equal(b.raw.x, ref.raw.x)
    np.testing.assert_array_equal(b.raw.target, ref.raw.target)
    assert b.raw.feature_names == ('close', 'volume') and len(b.train) == len(ref.train) > 100


def test_pandas_to_csv_unnamed_index():
    "`DataFrame.to_csv` writes an unnamed index, read back as `Unnamed: 0`: it is the time; a written RangeIndex is dropped."
    raw = pd.read_csv(DATA / 'pandas_to_csv.csv')
    assert raw.columns[0] == 'Unnamed: 0'
    for frame in (raw, load_csv(DATA / 'pandas_to_csv.csv')):
        v = validate_frame(frame)
        assert list(v.columns) == OHLCV and v.index.get_level_values('timestamp')[0] == pd.Timestamp('2023-01-02')
    rows = raw.rename(columns={'Unnamed: 0': 'Date'}).reset_index(names='Unnamed: 0')   # to_csv() of a RangeIndex frame
    assert list(validate_frame(rows).columns) == OHLCV
    assert len(make_datasets(raw, FeatureSpec(['Close']), lookback=8).train) > 100


def test_vendor_hourly_upper_case():
    "`timestamp,SYMBOL,OPEN,...`: OHLCV matched in any case, the symbol found as the asset."
    f = load_csv(DATA / 'vendor_hourly.csv')
    assert f.index.names == ['timestamp', 'asset'] and list(f.columns) == OHLCV
    assert sorted(f.index.get_level_values('asset').unique()) == ['AAA', 'BBB']
    p = make_panel(pd.read_csv(DATA / 'vendor_hourly.csv'), FeatureSpec(['CLOSE'], price_col='CLOSE'))
    assert p.assets == ('AAA', 'BBB') and p.feature_names == ('close',)
    assert list(load_csv(DATA / 'vendor_hourly.csv', columns=['close']).columns) == ['close']   # columns= by canonical name


def test_ambiguous_and_explicit_names(tmp_path):
    frame = pd.read_csv(DATA / 'yahoo_daily.csv')
    with pytest.raises(DataValidationError, match=r"columns \['Close', 'close'\] all mean 'close'.*rename=") as e:
        make_datasets(frame.assign(close=frame.Close), FeatureSpec(['close']), lookback=8)
    assert e.value.where['column'] == 'close'
    with pytest.raises(DataValidationError, match=r"columns \['Date', 'Time'\] all look like the time; pass time_col='Date'"):
        canonical_frame(frame.assign(Time='00:00'))
    # an explicit mapping, and the time column under any name
    bb = frame.rename(columns={'Close': 'PX_LAST', 'Date': 'As Of'})
    with pytest.raises(DataValidationError, match=r"columns whose values look like times: \['As Of'\]; pass time_col='As Of'"):
        canonical_frame(bb)
    want = canonical_frame(frame)
    pd.testing.assert_frame_equal(canonical_frame(bb, rename={'PX_LAST': 'close'}, time_col='As Of'), want)
    bb.to_csv(tmp_path / 'bb.csv', index=False)
    got = load_csv(tmp_path / 'bb.csv', rename={'PX_LAST': 'close'}, time_col='As Of', columns=['close'])
    pd.testing.assert_frame_equal(got, want[['close']])


def test_yfinance_multi_ticker_csv(tmp_path):
    "yfinance's download of several tickers, saved with to_csv: (field, ticker) header lines become one row per ticker."
    a, b = load_csv(DATA / 'yahoo_daily.csv'), load_csv(DATA / 'pandas_to_csv.csv')
    wide = pd.concat({'AAA': a[OHLCV], 'BBB': b[OHLCV]}, axis=1).swaplevel(axis=1).rename(columns=str.title, level=0).dropna()
    wide.columns.names, wide.index.name = ['Price', 'Ticker'], 'Date'
    wide.to_csv(tmp_path / 'yf.csv')
    with pytest.raises(DataValidationError, match=r'read it with header=\[0, 1\], index_col=0'):
        load_csv(tmp_path / 'yf.csv')
    f = load_csv(tmp_path / 'yf.csv', header=[0, 1], index_col=0)
    assert f.index.names == ['timestamp', 'asset'] and list(f.columns) == OHLCV and len(f) == 2 * len(wide)
    for ticker, src in (('AAA', a), ('BBB', b)):   # each ticker's rows are its own file's bars, field by field
        got = f.xs(ticker, level='asset')
        assert list(got.index) == list(wide.index)
        np.testing.assert_array_equal(got[OHLCV].to_numpy(), src.loc[wide.index, OHLCV].to_numpy())
    assert len(make_datasets(f, FeatureSpec(['close']), lookback=8).train) > 300


def test_close_never_falls_back_to_adj_close():
    adj_only = pd.read_csv(DATA / 'yahoo_daily.csv').drop(columns=['Close', 'Open', 'High', 'Low'])
    with pytest.raises(DataValidationError, match=r"the frame has 'adj_close', and close never falls back to it: pass price_col='adj_close'"):
        make_datasets(adj_only, FeatureSpec(['Volume']), lookback=8)
    b = make_datasets(adj_only, FeatureSpec(['Volume'], price_col='Adj Close', exec_price_cols=('Adj Close',)), lookback=8)
    assert b.raw.spec.price_col == 'adj_close' and b.raw.price_names == ('adj_close',)


# ---- checks on the names the spec declares ------------------------------------------------------------------

@pytest.mark.parametrize('case', [str.title, str.upper, str.lower])
@pytest.mark.parametrize('fault, message', [
    (lambda d, c: d.__setitem__(c('close'), -d[c('close')]), "non-positive price"),
    (lambda d, c: d.__setitem__(c('high'), d[c('low')] * 0.9), "inconsistent OHLC bar"),
    (lambda d, c: d.__setitem__(c('open'), d[c('high')] * 1.1), "open="),
], ids=['negative_close', 'high_below_low', 'open_above_high'])
def test_invalid_prices_rejected_in_any_case(case, fault, message):
    "A bad bar is rejected whether the file and the spec spell the prices Close, CLOSE or close."
    frame = pd.read_csv(DATA / 'yahoo_daily.csv').rename(columns=lambda c: case(c) if c != 'Date' else c)
    bad = frame.copy()
    row = bad.iloc[[37]].copy(); fault(row, case); bad.iloc[37] = row.iloc[0]
    spec = FeatureSpec([case('close'), case('volume')], price_col=case('close'), exec_price_cols=(case('open'), case('close')))
    with pytest.raises(DataValidationError, match=message) as e:
        make_datasets(bad, spec, lookback=8)
    assert e.value.where['row'] == 37
    make_datasets(frame, spec, lookback=8)  # the good frame passes


def test_other_declared_prices_checked():
    "A price the spec declares outside OHLC (a mid price) is checked positive too."
    frame = pd.read_csv(DATA / 'yahoo_daily.csv')
    frame['Mid'] = (frame.High + frame.Low) / 2
    frame.loc[12, 'Mid'] = 0.0
    with pytest.raises(DataValidationError, match=r"non-positive price 0.0 in column 'Mid'"):
        make_datasets(frame, FeatureSpec(['Volume'], price_col='Mid', exec_price_cols=('Mid',)), lookback=8)


# ---- files that cannot be read ------------------------------------------------------------------------------

def _fails(load, path, *expected, cause=Exception):
    "load(path) raises a DataValidationError naming the file, with every `expected` text, chained to the reader's error."
    with pytest.raises(DataValidationError) as e:
        load(path)
    msg = str(e.value)
    assert str(path) in msg and e.value.where['source'] == str(path), msg
    for x in expected: assert x in msg, msg
    assert isinstance(e.value.__cause__, cause), repr(e.value.__cause__)
    return e.value


def test_empty_file():
    _fails(load_csv, DATA / 'empty.csv', 'is empty: it has no header and no rows', cause=pd.errors.EmptyDataError)
    _fails(load_frame, DATA / 'empty.csv', 'is empty')


def test_row_with_too_many_fields():
    e = _fails(load_csv, DATA / 'ragged_row.csv', 'has 7 fields on line 5 where the header has 6', "on_bad_lines='skip'",
               cause=pd.errors.ParserError)
    assert e.where['row'] == 3                      # the frame's row: line 5 of a file with a header
    assert len(load_csv(DATA / 'ragged_row.csv', on_bad_lines='skip')) == 9


def test_wrong_encoding():
    _fails(load_csv, DATA / 'latin1.csv', "is not utf-8 text: byte b'\\xe9' on line 2", "pass encoding='latin-1'", cause=UnicodeDecodeError)
    f = load_csv(DATA / 'latin1.csv', encoding='latin-1')
    assert sorted(f.index.get_level_values('asset').unique()) == ['Crédit Agricole', 'Société Générale']
    assert len(make_datasets(f, FeatureSpec(['close']), lookback=8).train) > 50


def test_wrong_separator():
    _fails(load_csv, DATA / 'semicolon.csv', "its fields are separated by ';', not ','; pass sep=';'", "decimal=','", cause=type(None))
    with pytest.raises(DataValidationError, match=r"value '\d+,\d+'.*it has a decimal comma: pass decimal=','"):
        validate_frame(load_csv(DATA / 'semicolon.csv', sep=';'))
    f = load_csv(DATA / 'semicolon.csv', sep=';', decimal=',')
    assert list(f.columns) == OHLCV and f['close'].dtype == np.float64
    _fails(lambda p: load_csv(p, sep=';'), DATA / 'yahoo_daily.csv', "separated by ',', not ';'; pass sep=','", cause=type(None))


def test_truncated_and_corrupt_parquet(tmp_path):
    import pyarrow as pa
    good = tmp_path / 'bars.parquet'
    load_csv(DATA / 'yahoo_daily.csv').reset_index().to_parquet(good)
    cut, junk, lake = tmp_path / 'cut.parquet', tmp_path / 'junk.parquet', tmp_path / 'lake'
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    junk.write_bytes(b'PAR1' + bytes(range(256)) * 8)
    for p in (cut, junk):
        _fails(load_parquet, p, 'the file is truncated, corrupt or not Parquet', cause=pa.ArrowException)
        _fails(load_frame, p, 'the file is truncated, corrupt or not Parquet')
        _fails(lambda q: list(iter_parquet(q)), p, 'truncated, corrupt or not Parquet')
    lake.mkdir(); (lake / 'part-0.parquet').write_bytes(good.read_bytes()); (lake / 'part-1.parquet').write_bytes(cut.read_bytes())
    _fails(load_parquet, lake, 'truncated, corrupt or not Parquet', cause=pa.ArrowException)
    pd.testing.assert_frame_equal(load_parquet(good), load_csv(DATA / 'yahoo_daily.csv'), check_freq=False)


# ---- timestamps ---------------------------------------------------------------------------------------------

def test_day_first_dates():
    with pytest.raises(DataValidationError, match=r"cannot parse timestamp '15/01/2024' in column 'Date' at row 9 "
                                                  r"\(the first values are '%m/%d/%Y'\); pass time_format=") as e:
        load_csv(DATA / 'dayfirst.csv')
    assert (e.value.where['column'], e.value.where['row'], e.value.where['value']) == ('Date', 9, '15/01/2024')
    a, b = load_csv(DATA / 'dayfirst.csv', time_format='%d/%m/%Y'), load_csv(DATA / 'dayfirst.csv', dayfirst=True)
    pd.testing.assert_frame_equal(a, b)
    assert a.index[0] == pd.Timestamp('2024-01-02') and a.index.is_monotonic_increasing
    assert len(make_datasets(a, SPEC, lookback=8).train) > 50
    with pytest.raises(DataValidationError, match=r"cannot parse timestamp '02/01/2024' in column 'Date' at row 0 with time_format='%Y-%m-%d'"):
        load_csv(DATA / 'dayfirst.csv', time_format='%Y-%m-%d')


# ---- one calendar policy ------------------------------------------------------------------------------------

def test_ragged_calendar_union_and_intersect():
    "BBB misses two hours and ends 20 hours early: the union holds its price there, never trades it, and closes it out."
    f = load_csv(DATA / 'vendor_hourly.csv')
    u = align_calendar(f)
    bbb = u.xs('BBB', level='asset')
    assert len(bbb) == 200 and (~bbb.tradable).sum() == 2 + 20 and u.attrs['calendar'] == {'how': 'union'}
    held = bbb[~bbb.tradable]
    assert (held.volume == 0).all() and (held[['open', 'high', 'low']].to_numpy() == held[['close']].to_numpy()).all()
    i = align_calendar(f, 'intersect')
    assert i.tradable.all() and i.index.get_level_values('timestamp').nunique() == 178
    # datasets honour the policy: the one recorded on the frame, or calendar=
    p_u, p_i = make_panel(u, FeatureSpec(['close'])), make_panel(i, FeatureSpec(['close']))
    assert (p_u.calendar, p_i.calendar) == ('union', 'intersect')
    assert p_u.mask[:, 1].sum() == 180 and p_u.tradable[:, 1].sum() == 178 and not p_u.mask[-20:, 1].any()
    assert p_i.n_bars == 178 and p_i.mask.all()
    assert make_panel(f, FeatureSpec(['close']), calendar='intersect').n_bars == 178
    assert make_panel(i, FeatureSpec(['close']), calendar='union').calendar == 'union'   # an explicit policy wins
    b = make_datasets(u, FeatureSpec(['close']), lookback=12)
    held_bars = np.flatnonzero(b.raw.mask[:, 1] & ~b.raw.tradable[:, 1])
    for ds in (b.train, b.valid, b.test): assert not np.isin(ds.t_idx[ds.a_idx == 1], held_bars).any()
    assert calendar_policy(u) == 'union' and calendar_policy(i) == 'intersect' and calendar_policy(f) == 'union'


@pytest.mark.parametrize('calendar', [None, 'union', 'intersect'])
def test_datasets_and_backtest_prices_share_one_calendar(calendar):
    "On one ragged two-asset file, the panel the datasets read and the price matrices a backtest reads have the same bars and flags."
    raw = pd.read_csv(DATA / 'vendor_hourly.csv')                        # as a user has it: capitalised, SYMBOL, text times
    p = make_panel(raw, FeatureSpec(['CLOSE'], exec_price_cols=('OPEN', 'CLOSE')), calendar=calendar)
    wide = aligned_prices(raw, ('open', 'close'), calendar=calendar)
    assert list(wide['close'].index) == list(p.timestamps) and tuple(wide['close'].columns) == p.assets
    np.testing.assert_array_equal(wide['tradable'].to_numpy(), p.tradable)
    for j, c in enumerate(p.price_names):
        np.testing.assert_array_equal(wide[c].to_numpy()[p.mask], p.prices[..., j][p.mask])
    after = ~p.mask & wide['close'].notna().to_numpy()                    # held after the last bar: in the matrix, not in the panel
    assert not wide['tradable'].to_numpy()[after].any()
    assert after.sum() == (20 if calendar in (None, 'union') else 0)


def test_mixed_frequencies_warn():
    daily = load_csv(DATA / 'dayfirst.csv', dayfirst=True).assign(asset='DAILY').set_index('asset', append=True)   # Jan-Jun 2024
    hourly = load_csv(DATA / 'vendor_hourly.csv', assets=['AAA'])
    mixed = pd.concat([daily[OHLCV], hourly])
    w = _warnings(lambda: make_datasets(mixed, FeatureSpec(['close']), lookback=8))
    assert len(w) == 1 and 'different bar frequencies' in str(w[0].message) and "'DAILY': '1 days" in str(w[0].message)
    assert w[0].filename == __file__                 # the warning points at the caller's line


def test_asset_without_overlap_warns():
    early = load_csv(DATA / 'yahoo_daily.csv', end='2023-06-30').assign(asset='OLD').set_index('asset', append=True)
    late = load_csv(DATA / 'pandas_to_csv.csv', start='2023-08-01').assign(asset='NEW').set_index('asset', append=True)
    frame = pd.concat([early[OHLCV], late[OHLCV]])
    w = _warnings(lambda: make_datasets(frame, FeatureSpec(['close']), lookback=8))
    assert len(w) == 1 and "asset(s) ['NEW', 'OLD'] share no time span with any other asset" in str(w[0].message)
    assert w[0].filename == __file__
    with pytest.raises(DataValidationError, match='the assets share no bar, so their intersection is empty'):
        make_datasets(frame, FeatureSpec(['close']), lookback=8, calendar='intersect')


def test_two_instruments_in_one_series_warn():
    "No asset column, and the level jumps like two files joined end to end: a warning naming the bar."
    a = load_csv(DATA / 'yahoo_daily.csv')[OHLCV]
    b = load_csv(_gym_file('FOREX_EURUSD_1H_ASK.csv'), time_format='%d.%m.%Y %H:%M:%S.%f')[OHLCV].iloc[:200]
    b.index = pd.bdate_range(a.index[-1] + pd.Timedelta(days=1), periods=len(b), name='timestamp')
    joined = pd.concat([a, b])
    w = _warnings(lambda: make_datasets(joined, FeatureSpec(['close']), lookback=8, source='joined.csv'))
    assert len(w) == 1 and f'at {b.index[0]} (row 300)' in str(w[0].message) and 'joined.csv' in str(w[0].message)
    assert w[0].filename == __file__
    # ...and with an asset column, two instruments are just two assets
    both = pd.concat({'STOCK': a, 'FX': b}, names=['asset', 'timestamp'])
    assert not [x for x in _warnings(lambda: validate_frame(both)) if 'jumps' in str(x.message)]


@pytest.mark.parametrize('name, kw', [('STOCKS_GOOGL.csv', {}), ('FOREX_EURUSD_1H_ASK.csv', dict(time_format='%d.%m.%Y %H:%M:%S.%f'))])
def test_real_series_do_not_warn(name, kw):
    "Real daily and hourly prices, crashes and weekend gaps included, give no level-jump warning (nor any other)."
    f = load_csv(_gym_file(name), **kw)
    assert list(f.columns)[:5] == ['open', 'high', 'low', 'close', 'adj_close'][:5] or list(f.columns) == OHLCV
    _no_warning(lambda: validate_frame(f))
    _no_warning(lambda: make_datasets(f, FeatureSpec(['close', 'volume']), lookback=16))

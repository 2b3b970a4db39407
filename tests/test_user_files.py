"""Files as users really have them, written here (no network) and read through the loaders, the frame checks and the calendar.

Each test is one shape people bring (a Yahoo or Stooq download, Binance klines, a European export, an Excel CSV, a long file of
many assets...). Either it loads to the right values, or it fails with a `DataValidationError` naming the file, column, row and
value at fault, or it warns; never a silent change of the data, and a gap is only ever filled forward.
tests/test_own_data.py covers the names, encodings, separators and day-first dates of tests/data; this file the rest.
"""
import warnings
import numpy as np
import pandas as pd
import pytest

from ai_trading_framework.core import ATFWarning, DataValidationError
from ai_trading_framework.frames import canonical_frame, validate_frame
from ai_trading_framework.trading_calendar import align_calendar
from ai_trading_framework.sources import load_csv, load_dataframe, load_frame, load_parquet

OHLCV = ['open', 'high', 'low', 'close', 'volume']


def bars(n=60, start='2024-01-02', seed=0, freq='B', price=100.0) -> pd.DataFrame:
    "A random-walk OHLCV frame (capitalised columns, DatetimeIndex 'Date'): consistent bars, positive prices."
    rng = np.random.default_rng(seed)
    close = price * np.exp(np.cumsum(rng.normal(0, 0.01, n)))
    open_ = close * np.exp(rng.normal(0, 0.003, n))
    high, low = np.maximum(open_, close) * 1.004, np.minimum(open_, close) * 0.996
    vol = rng.integers(1_000_000, 5_000_000, n)
    idx = pd.date_range(start, periods=n, freq=freq, name='Date')
    return pd.DataFrame({'Open': open_.round(4), 'High': high.round(4), 'Low': low.round(4), 'Close': close.round(4), 'Volume': vol}, index=idx)


def fails(f, *texts, **where) -> DataValidationError:
    "f() raises a DataValidationError whose message holds every text and whose `where` has every field given."
    with pytest.raises(DataValidationError) as e: f()
    msg = str(e.value)
    for t in texts: assert t in msg, msg
    for k, v in where.items(): assert e.value.where.get(k) == v, (k, e.value.where)
    return e.value


def atf_warnings(f) -> list:
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        f()
    return [str(o.message) for o in w if o.category is ATFWarning]


def same_values(got, want, cols=OHLCV):
    np.testing.assert_allclose(got[cols].to_numpy(float), want[[c.title() for c in cols]].to_numpy(float), rtol=0, atol=1e-9)


# ---- vendor downloads ---------------------------------------------------------------------------------------

def test_yahoo_csv_with_null_rows(tmp_path):
    "Old Yahoo CSVs write 'null' in every field of a holiday row: NaN on load, refused by row, or carried forward (never back)."
    df = bars(40).assign(**{'Adj Close': lambda d: d.Close * 0.98})[['Open', 'High', 'Low', 'Close', 'Adj Close', 'Volume']]
    text = df.to_csv(float_format='%.6f').splitlines()
    text[11] = text[11].split(',')[0] + ',null,null,null,null,null,null'          # row 10
    p = tmp_path / 'AAPL.csv'; p.write_text('\n'.join(text) + '\n')
    f = load_csv(p)
    assert list(f.columns) == ['open', 'high', 'low', 'close', 'adj_close', 'volume'] and f.iloc[10].isna().all() and len(f) == 40
    fails(lambda: validate_frame(f), "NaN in column 'open'", "nan_policy='ffill'", source=str(p), row=10, column='open')
    v = validate_frame(f, nan_policy='ffill')
    np.testing.assert_array_equal(v.iloc[10].to_numpy(), v.iloc[9].to_numpy())   # yesterday's bar, not tomorrow's
    same_values(v.drop(v.index[10]), df.drop(df.index[10]))


def test_stooq_daily(tmp_path):
    df = bars(50)
    p = tmp_path / 'spy_us_d.csv'; df.to_csv(p)
    v = validate_frame(load_frame(str(p)))
    assert list(v.columns) == OHLCV and v.index.get_level_values('timestamp')[0] == pd.Timestamp('2024-01-02')
    same_values(v, df)


def test_stooq_intraday_date_and_time_columns(tmp_path):
    "Stooq's intraday files split the time over Date and Time: the error says how to join them."
    df = bars(20, start='2024-03-01 09:00', freq='h').reset_index()
    df.insert(1, 'Time', df.Date.dt.strftime('%H:%M:%S')); df['Date'] = df.Date.dt.strftime('%Y-%m-%d')
    p = tmp_path / 'aapl_us_h.csv'; df.to_csv(p, index=False)
    fails(lambda: load_csv(p), "columns ['Date', 'Time'] all look like the time", "df['timestamp'] = df['Date'] + ' ' + df['Time']", source=str(p))


BINANCE = ['open_time', 'open', 'high', 'low', 'close', 'volume', 'close_time', 'quote_volume', 'trades',
           'taker_buy_base', 'taker_buy_quote', 'ignore']


def _klines(n=30, unit_ms=1000) -> pd.DataFrame:
    b = bars(n, start='2024-01-01', freq='h', price=42000).reset_index(drop=True)
    t0 = int(pd.Timestamp('2024-01-01').timestamp()) * unit_ms
    k = pd.DataFrame({'open_time': t0 + np.arange(n) * 3600 * unit_ms, **{c.lower(): b[c] for c in ['Open', 'High', 'Low', 'Close', 'Volume']}})
    k['close_time'] = k.open_time + 3600 * unit_ms - 1
    k['quote_volume'], k['trades'], k['taker_buy_base'], k['taker_buy_quote'], k['ignore'] = k.volume * k.close, 100, k.volume / 2, 1.0, 0
    return k[BINANCE]


def test_binance_klines_no_header(tmp_path):
    "Binance klines have no header line and open times in epoch milliseconds."
    k = _klines()
    p = tmp_path / 'BTCUSDT-1h-2024-01.csv'; k.to_csv(p, index=False, header=False)
    fails(lambda: load_csv(p), 'header=None', 'names=', source=str(p))
    e = fails(lambda: load_csv(p, header=None, names=BINANCE, time_col='open_time'), "time_unit='ms'", column='open_time', row=0)
    assert e.where['value'] == k.open_time[0]
    f = load_csv(p, header=None, names=BINANCE, time_col='open_time', time_unit='ms')
    assert f.index[0] == pd.Timestamp('2024-01-01 00:00') and f.index[-1] == pd.Timestamp('2024-01-02 05:00') and f.index.tz is None
    assert list(validate_frame(f, features=OHLCV).columns) == OHLCV
    np.testing.assert_array_equal(f['close'].to_numpy(), k['close'].to_numpy())


def test_binance_microseconds_and_wrong_unit(tmp_path):
    "Binance spot data switched to microseconds in 2025: the wrong unit is refused, not read as the year 56000 or 1970."
    k = _klines(unit_ms=1_000_000)
    p = tmp_path / 'k.csv'; k.to_csv(p, index=False, header=False)
    kw = dict(header=None, names=BINANCE, time_col='open_time')
    fails(lambda: load_csv(p, **kw), "time_unit='us'", row=0, column='open_time')
    fails(lambda: load_csv(p, **kw, time_unit='ms'), "time_unit='ms'", "time_unit='us'", row=0, column='open_time')
    fails(lambda: load_csv(p, **kw, time_unit='s'), "time_unit='us'", row=0)
    assert load_csv(p, **kw, time_unit='us').index[1] == pd.Timestamp('2024-01-01 01:00')
    from ai_trading_framework.core import ConfigError
    with pytest.raises(ConfigError, match=r"time_unit='sec' is unknown"): load_csv(p, **kw, time_unit='sec')


def test_crypto_unix_seconds(tmp_path):
    df = bars(24, start='2024-01-01', freq='h').reset_index()
    df['timestamp'] = df.pop('Date').astype('int64') // 10**9 if df.Date.dt.unit == 'ns' else (df.pop('Date') - pd.Timestamp(0)) // pd.Timedelta('1s')
    p = tmp_path / 'eth.csv'; df.to_csv(p, index=False)
    fails(lambda: load_csv(p), "time_unit='s'", column='timestamp', row=0, source=str(p))
    f = load_csv(p, time_unit='s', tz='UTC')
    assert f.index[0] == pd.Timestamp('2024-01-01', tz='UTC') and f.index.freq is None and f.index.is_monotonic_increasing
    assert load_dataframe(df, time_unit='s').index[23] == pd.Timestamp('2024-01-01 23:00')
    fails(lambda: load_dataframe(df.assign(timestamp=df.timestamp.astype(float).where(df.index != 5)), time_unit='s'), 'row 5', row=5)


def test_intraday_offsets_across_dst(tmp_path):
    "New York bars written with their offsets: -05:00 before the March DST switch, -04:00 after (and one +00:00 feed)."
    ny = pd.date_range('2024-03-08 15:00', '2024-03-11 10:00', freq='h', tz='America/New_York')
    df = bars(len(ny)).reset_index(drop=True); df.insert(0, 'Datetime', ny.strftime('%Y-%m-%d %H:%M:%S%z').str.replace(r'(\d\d)$', r':\1', regex=True))
    p = tmp_path / 'spy_1h.csv'; df.to_csv(p, index=False)
    e = fails(lambda: load_csv(p), 'mixed time zones', "tz='UTC'", column='Datetime', source=str(p))
    assert e.where['row'] == int(np.argmax(ny.strftime('%z') == '-0400'))
    f = load_csv(p, tz='America/New_York')
    assert (f.index == ny).all() and str(f.index.tz) == 'America/New_York'
    assert (load_csv(p, tz='UTC').index == ny.tz_convert('UTC')).all()
    mixed = df.assign(Datetime=df.Datetime.where(df.index != 3, '2024-03-08 23:00:00+00:00'))  # a UTC row among New York ones
    mixed.to_csv(p, index=False)
    assert load_csv(p, tz='UTC').index[3] == pd.Timestamp('2024-03-08 23:00', tz='UTC')


def test_european_csv(tmp_path):
    "Semicolons, decimal commas, dots for thousands and DD.MM.YYYY dates: read with sep, decimal, thousands and dayfirst."
    df = bars(40, start='2024-01-02')
    lines = ['Datum;Eröffnung;Hoch;Tief;Schluss;Volumen'] + [
        f"{t:%d.%m.%Y};" + ';'.join(f'{x:.4f}'.replace('.', ',') for x in r[:4]) + f";{int(r[4]):,}".replace(',', '.')
        for t, r in zip(df.index, df.to_numpy())]
    p = tmp_path / 'dax.csv'; p.write_text('\n'.join(lines) + '\n', encoding='utf-8')
    names = {'Datum': 'timestamp', 'Eröffnung': 'open', 'Hoch': 'high', 'Tief': 'low', 'Schluss': 'close', 'Volumen': 'volume'}
    fails(lambda: load_csv(p), "pass sep=';'", source=str(p))
    fails(lambda: load_csv(p, sep=';', rename=names), "cannot parse timestamp '15.01.2024'", 'dayfirst=True', column='timestamp', value='15.01.2024')
    f = load_csv(p, sep=';', decimal=',', thousands='.', dayfirst=True, rename=names)
    assert f.index[0] == pd.Timestamp('2024-01-02') and f.index.is_monotonic_increasing
    same_values(validate_frame(f), df)
    fails(lambda: validate_frame(load_csv(p, sep=';', decimal=',', dayfirst=True, rename=names)), "thousands='.'", column='volume', row=0)


def test_bom_crlf_thousands_trailing_rows(tmp_path):
    "An Excel CSV: a UTF-8 BOM, CRLF line ends, quoted '1,234,567' volumes, and empty rows at the end."
    df = bars(30)
    body = df.to_csv(lineterminator='\r\n').split('\r\n')
    body = [l if i == 0 or not l else ','.join(l.split(',')[:-1]) + f',"{int(l.split(",")[-1]):,}"' for i, l in enumerate(body)]
    p = tmp_path / 'excel.csv'; p.write_bytes(('\ufeff' + '\r\n'.join(body[:-1]) + '\r\n,,,,,\r\n,,,,,\r\n').encode('utf-8'))
    f = load_csv(p)
    assert f.index.name == 'timestamp' and len(f) == 30, f.tail()
    e = fails(lambda: validate_frame(f), "column 'volume' is not numeric", "thousands=','", column='volume', row=0, source=str(p))
    assert e.where['value'] == f"{df.Volume.iloc[0]:,}"
    same_values(validate_frame(load_csv(p, thousands=',')), df)


def test_empty_row_in_the_middle(tmp_path):
    "A blank row inside the data is a missing bar, not a time: it is refused by its line, unlike the trailing ones."
    p = tmp_path / 'gap.csv'
    lines = bars(10).to_csv().splitlines(); lines.insert(5, ',,,,,')
    p.write_text('\n'.join(lines) + '\n')
    fails(lambda: load_csv(p), 'missing timestamp', row=4, source=str(p))


def test_duplicate_and_unsorted_rows(tmp_path):
    df = bars(20).reset_index()
    p = tmp_path / 'dup.csv'; pd.concat([df.iloc[:8], df.iloc[[7]], df.iloc[8:]]).to_csv(p, index=False)
    fails(lambda: validate_frame(load_csv(p)), 'duplicate timestamp 2024-01-11', 'rows 7 and 8', row=8, source=str(p))
    q = tmp_path / 'newest_first.csv'; df.iloc[::-1].to_csv(q, index=False)    # many sites export newest first
    fails(lambda: validate_frame(load_csv(q)), 'go back in time', 'sort=True', row=1, source=str(q))
    same_values(validate_frame(load_csv(q), sort=True), df.set_index('Date'))


# ---- yfinance frames ----------------------------------------------------------------------------------------

def _yf(tickers=('AAPL', 'MSFT')) -> pd.DataFrame:
    "yfinance.download(tickers) as of 0.2.5x: (Price, Ticker) columns, a 'Date' DatetimeIndex."
    wide = pd.concat({t: bars(30, seed=i) for i, t in enumerate(tickers)}, axis=1).swaplevel(axis=1)
    wide.columns.names = ['Price', 'Ticker']
    return wide.sort_index(axis=1, level=0)


def test_yfinance_in_memory():
    wide = _yf()
    f = load_dataframe(wide)
    assert f.index.names == ['timestamp', 'asset'] and sorted(f.columns) == sorted(OHLCV) and len(f) == 60
    np.testing.assert_array_equal(f.xs('MSFT', level='asset')['close'].to_numpy(), wide[('Close', 'MSFT')].to_numpy())
    one = load_dataframe(_yf(('AAPL',)))                                           # one ticker keeps its name too
    assert one.index.get_level_values('asset').unique().tolist() == ['AAPL']
    by_ticker = wide.swaplevel(axis=1)                                             # group_by='ticker'
    pd.testing.assert_frame_equal(load_dataframe(by_ticker).sort_index(), f.sort_index())


def test_yfinance_csv_two_header_rows(tmp_path):
    wide = _yf()
    p = tmp_path / 'yf.csv'; wide.to_csv(p)
    fails(lambda: load_csv(p), 'header=[0, 1], index_col=0', source=str(p))
    f = load_csv(p, header=[0, 1], index_col=0)
    np.testing.assert_allclose(f.xs('AAPL', level='asset')['high'].to_numpy(), wide[('High', 'AAPL')].to_numpy())


# ---- long multi-asset files and Parquet ---------------------------------------------------------------------

def _long_ragged() -> pd.DataFrame:
    "Three assets: B has other holidays, C lists on day 10, D delists after day 25."
    parts = {'A': bars(40, seed=1), 'B': bars(40, seed=2).drop(pd.to_datetime(['2024-01-15', '2024-02-19'])),
             'C': bars(40, seed=3).iloc[10:], 'D': bars(40, seed=4).iloc[:25]}
    return pd.concat(parts, names=['symbol', 'Date']).reset_index()[['Date', 'symbol', 'Open', 'High', 'Low', 'Close', 'Volume']]


def test_long_file_ragged_calendars(tmp_path):
    raw = _long_ragged().sort_values(['Date', 'symbol'])
    p = tmp_path / 'universe.csv'; raw.to_csv(p, index=False)
    f = load_csv(p)
    u = align_calendar(f)
    c, d, b = (u.xs(a, level='asset') for a in 'CDB')
    assert c.index[0] == pd.Timestamp('2024-01-16') and c.tradable.all()             # no bars invented before the listing
    held = d[~d.tradable]
    assert len(held) == 15 and (held.close == d.close.iloc[24]).all() and (held.volume == 0).all()   # held after delisting, never traded
    hol = b.loc['2024-01-15']
    assert not hol.tradable and hol.close == b.loc['2024-01-12', 'close']           # the holiday holds the bar before it
    i = align_calendar(f, 'intersect')
    assert i.index.get_level_values('timestamp').nunique() == 15 and i.tradable.all()                  # C's first to D's last day
    assert load_csv(p, assets=['C']).index.get_level_values('asset').unique().tolist() == ['C']


def test_parquet_tz_index_and_categorical_asset(tmp_path):
    raw = _long_ragged()
    raw['Date'] = raw.Date.dt.tz_localize('America/New_York')
    raw['symbol'] = raw.symbol.astype('category')
    p = tmp_path / 'bars.parquet'; raw.set_index('Date').to_parquet(p)
    f = load_parquet(p)
    assert str(f.index.get_level_values('timestamp').tz) == 'America/New_York' and len(f) == len(raw)
    v = validate_frame(f, min_rows=10)
    assert sorted(v.index.get_level_values('asset').unique()) == list('ABCD')
    sub = load_parquet(p, assets=['A', 'C'], start='2024-01-20', tz='UTC')
    assert set(sub.index.get_level_values('asset')) == {'A', 'C'} and sub.index.get_level_values('timestamp').min() >= pd.Timestamp('2024-01-20', tz='UTC')
    vs = validate_frame(sub, min_rows=5)                                            # the unused categories are no assets
    assert sorted(vs.index.get_level_values('asset').unique()) == ['A', 'C']
    assert align_calendar(vs).index.get_level_values('asset').nunique() == 2
    mem = load_dataframe(raw, assets=['B'])
    assert validate_frame(mem).index.get_level_values('asset').unique().tolist() == ['B']


# ---- values -------------------------------------------------------------------------------------------------

def test_all_nan_volume(tmp_path):
    "FX and index downloads often have an empty Volume column: it is refused by name, ffill or not, with the way out."
    df = bars(20).assign(Volume=np.nan)
    p = tmp_path / 'eurusd.csv'; df.to_csv(p)
    f = load_csv(p)
    for kw in ({}, {'nan_policy': 'ffill'}):
        fails(lambda: validate_frame(f, **kw), "column 'volume' is NaN in all 20 rows", 'features=', column='volume', source=str(p))
    assert list(validate_frame(f, features=['close']).columns) == ['close', 'open', 'high', 'low']


def test_zero_and_negative_prices(tmp_path):
    df = bars(20)
    df.iloc[6, df.columns.get_loc('Close')] = 0.0
    p = tmp_path / 'zero.csv'; df.to_csv(p)
    fails(lambda: validate_frame(load_csv(p)), 'non-positive price 0.0', column='close', row=6, source=str(p))
    df.iloc[6, df.columns.get_loc('Close')] = -37.63                                # WTI, 20 April 2020
    df.iloc[6, df.columns.get_loc('Low')] = -40.0
    df.to_csv(p)
    fails(lambda: validate_frame(load_csv(p)), 'non-positive price -40.0', column='low', row=6)


def test_unadjusted_split_warns(tmp_path):
    "A 4:1 split in unadjusted prices: a warning naming the bar; the adjusted column has no jump."
    df = bars(80)
    df.iloc[50:, :4] = df.iloc[50:, :4] / 4
    df['Adj Close'] = np.where(np.arange(80) < 50, df.Close / 4, df.Close)
    p = tmp_path / 'nvda.csv'; df.to_csv(p)
    w = atf_warnings(lambda: align_calendar(load_csv(p)))
    assert len(w) == 1 and "column 'close' jumps x0.25" in w[0] and '(row 50)' in w[0] and str(p) in w[0], w
    assert not atf_warnings(lambda: align_calendar(load_csv(p, columns=['adj_close'])))


def test_stooq_bulk_file(tmp_path):
    "Stooq's database files: <TICKER>,<PER>,<DATE>,<TIME>,... with the date as the number 20240102 (not an epoch)."
    df = bars(30)
    raw = pd.DataFrame({'<TICKER>': 'SPY.US', '<PER>': 'D', '<DATE>': df.index.strftime('%Y%m%d').astype(int), '<TIME>': 0,
                        **{f'<{c.upper()}>': df[c].to_numpy() for c in ['Open', 'High', 'Low', 'Close']}, '<VOL>': df.Volume.to_numpy(), '<OPENINT>': 0})
    p = tmp_path / 'spy.us.txt'; raw.to_csv(p, index=False)
    fails(lambda: load_csv(p), "columns ['<DATE>', '<TIME>'] all look like the time", source=str(p))
    fails(lambda: load_csv(p, time_col='<DATE>', time_unit='s'), "dates written as numbers", "time_format='%Y%m%d'", row=0, value=20240102)
    f = load_csv(p, time_col='<DATE>', time_format='%Y%m%d')
    assert f.index.get_level_values('timestamp')[-1] == df.index[-1] and f.index.get_level_values('asset')[0] == 'SPY.US'
    assert list(validate_frame(f, features=['close', '<VOL>']).columns[:2]) == ['close', '<VOL>']


def test_yfinance_ragged_and_intraday():
    "A ticker listed later and one exchange holiday come as all-NaN padding in the wide frame: no bars, and the union holds them."
    wide = _yf(('SPY', 'NEW'))
    wide.loc[wide.index[:5], (slice(None), 'NEW')] = np.nan                        # listed on the 6th day
    wide.loc[wide.index[12], (slice(None), 'SPY')] = np.nan                        # SPY's exchange closed that day
    f = load_dataframe(wide)
    assert len(f) == 60 - 5 - 1 and not f.isna().any().any()
    u = align_calendar(validate_frame(f))
    spy = u.xs('SPY', level='asset')
    assert not spy.tradable.iloc[12] and spy.close.iloc[12] == spy.close.iloc[11]      # held from the day before, not traded
    assert u.xs('NEW', level='asset').index[0] == wide.index[5]                          # nothing before the listing
    intraday = _yf().tz_localize('UTC').tz_convert('America/New_York')             # yfinance intraday: an aware index
    g = load_dataframe(intraday, tz='UTC')
    assert str(g.index.get_level_values('timestamp').tz) == 'UTC' and g.index.get_level_values('timestamp')[0] == pd.Timestamp('2024-01-02', tz='UTC')


def test_separator_ending_every_line(tmp_path):
    "Some exporters end every line with the separator: pandas alone would make the dates the index and put the opens under Date."
    df = bars(15)
    for head in ('Date,Open,High,Low,Close,Volume', 'Date,Open,High,Low,Close,Volume,'):
        p = tmp_path / 'trail.csv'
        p.write_text(head + '\n' + '\n'.join(l + ',' for l in df.to_csv().splitlines()[1:]) + '\n')
        same_values(validate_frame(load_csv(p)), df)
    p.write_text('Date,Open,High,Low,Close\n' + '\n'.join(df.to_csv().splitlines()[1:]) + '\n')   # a name missing: refused
    fails(lambda: load_csv(p), 'one field more than its header line (5 names)', source=str(p))


def test_naive_local_times_across_dst(tmp_path):
    "A 24-hour FX file kept in naive New York time: tz= cannot place the hour the clocks repeat, and says so by row."
    t = pd.date_range('2024-11-02 20:00', periods=12, freq='h')                       # 01:00 comes twice on 3 November
    df = bars(12).set_axis(t).rename_axis('Date')
    p = tmp_path / 'eurusd_ny.csv'; df.to_csv(p)
    fails(lambda: load_csv(p, tz='America/New_York'), 'occurs twice in America/New_York', 'UTC or with their offsets',
          row=5, column='Date', source=str(p))
    assert load_csv(p).index.tz is None and load_csv(p, tz='UTC').index[5] == pd.Timestamp('2024-11-03 01:00', tz='UTC')


def test_numeric_asset_codes_and_epoch_parquet(tmp_path):
    "Shenzhen/Shanghai codes keep their leading zeros; an epoch-ms Parquet file filters by date in the scan."
    raw = pd.concat({'000001': bars(10, seed=1), '600000': bars(10, seed=2)}, names=['code', 'Date']).reset_index()
    raw.to_csv(p := tmp_path / 'cn.csv', index=False)
    assert load_csv(p, asset_col='code').index.get_level_values('asset').unique().tolist() == ['000001', '600000']
    k = _klines(48)
    k.to_parquet(q := tmp_path / 'BTCUSDT.parquet')
    f = load_parquet(q, time_col='open_time', time_unit='ms', start='2024-01-02', end='2024-01-02 03:00', columns=['close'])
    assert f.index.tolist() == list(pd.date_range('2024-01-02', periods=4, freq='h', name='timestamp'))
    np.testing.assert_array_equal(f.close.to_numpy(), k.close.to_numpy()[24:28])


# ---- names in other languages, Investing.com exports, negative volume ---------------------------------------

def test_headers_in_other_languages_and_vendor_spellings(tmp_path):
    "Datum, Fecha, Date/Heure, Open time, ISIN, PERMNO are found; a second candidate is refused with both named, never guessed."
    df = bars(15)
    de = df.rename_axis('Datum').rename(columns={'Open': 'Eröffnung', 'High': 'Hoch', 'Low': 'Tief', 'Close': 'Schluss', 'Volume': 'Volumen'})
    de.to_csv(p := tmp_path / 'dax.csv', sep=';', decimal=',')
    f = load_csv(p, sep=';', decimal=',', rename={'Eröffnung': 'open', 'Hoch': 'high', 'Tief': 'low', 'Schluss': 'close', 'Volumen': 'volume'})
    same_values(validate_frame(f), df)                                            # OHLCV names in German: said once with rename=
    for name in ('Fecha', 'Date/Heure', 'Zeitstempel', 'TradeDate', 'Timestamp (UTC)'):
        df.rename_axis(name).to_csv(q := tmp_path / 'x.csv')
        assert load_csv(q).index[3] == df.index[3], name
    df.rename_axis('Data').to_csv(q)                                              # it/pt 'Data' is not taken: the error offers it
    fails(lambda: load_csv(q), "no time column found", "pass time_col='Data'", source=str(q))
    assert load_csv(q, time_col='Data').index[3] == df.index[3]
    k = _klines(10)                                                                # Binance klines with their header line
    k.rename(columns={'open_time': 'Open time', 'close_time': 'Close time'}).to_csv(b := tmp_path / 'kl.csv', index=False)
    g = load_csv(b, time_unit='ms')
    assert g.index[1] == pd.Timestamp('2024-01-01 01:00') and 'Close time' in g.columns
    crsp = pd.concat({10107: bars(8, seed=1), 14593: bars(8, seed=2)}, names=['PERMNO', 'date']).reset_index()
    crsp.assign(ISIN=crsp.PERMNO.map({10107: 'US5949181045', 14593: 'US0378331005'})).to_csv(c := tmp_path / 'crsp.csv', index=False)
    fails(lambda: load_csv(c), "columns ['PERMNO', 'ISIN'] all look like the asset; pass asset_col='PERMNO'", source=str(c))
    assert load_csv(c, asset_col='PERMNO', columns=OHLCV).index.get_level_values('asset').unique().tolist() == ['10107', '14593']
    crsp.assign(Ticker=crsp.PERMNO.map({10107: 'MSFT', 14593: 'AAPL'}), ISIN='x').to_csv(c, index=False)
    assert load_csv(c).index.get_level_values('asset').unique().tolist() == ['MSFT', 'AAPL']   # Ticker, as before ISIN was known


INVESTING = ('"Date","Price","Open","High","Low","Vol.","Change %"\n'
             '"Jan 04, 2024","4,688.68","4,697.42","4,726.78","4,687.53","1.05B","-0.34%"\n'
             '"Jan 03, 2024","4,704.81","4,725.07","4,729.29","4,699.71","2.1B","-0.80%"\n'
             '"Jan 02, 2024","4,742.83","4,745.20","4,754.33","4,722.67","456.7K","-0.57%"\n'
             '"Dec 29, 2023","4,769.83","4,782.88","4,788.43","4,751.99","-","-0.28%"\n')


def test_investing_com_export(tmp_path):
    "Investing.com: newest first, 'Jan 02, 2024' dates, thousands commas, 'Price' for the close, 'Vol.' as 1.23M/456.7K/2.1B and '-'."
    p = tmp_path / 'SPX Historical Data.csv'; p.write_text(INVESTING)
    kw = dict(thousands=',', rename={'Price': 'close', 'Vol.': 'volume'})
    f = load_csv(p, suffixes=True, **kw)
    assert f.volume.tolist()[:3] == [1_050_000_000.0, 2_100_000_000.0, 456_700.0] and np.isnan(f.volume.iloc[3])
    assert f.index.tolist() == list(pd.to_datetime(['2024-01-04', '2024-01-03', '2024-01-02', '2023-12-29'])) and f['Change %'].iloc[0] == '-0.34%'
    fails(lambda: validate_frame(f, features=OHLCV), 'timestamps go back in time', 'sort=True')
    v = validate_frame(f.iloc[:3], features=OHLCV, sort=True)
    assert v.volume.tolist() == [456_700.0, 2_100_000_000.0, 1_050_000_000.0] and v.close.tolist() == [4742.83, 4704.81, 4688.68]
    fails(lambda: validate_frame(f, features=OHLCV, sort=True), "NaN in column 'volume'", row=3)     # '-': no volume that day
    fails(lambda: validate_frame(f, sort=True), "column 'Change %' is not numeric", "percentages ('1.23%')", column='Change %')
    plain = load_csv(p, **kw)                                                      # without suffixes=: refused by column, row and value, fix named
    fails(lambda: validate_frame(plain, features=OHLCV, sort=True), "column 'volume' is not numeric", 'pass suffixes=True to load_csv',
          column='volume', row=3, value='-', source=str(p))
    fails(lambda: load_csv(p, suffixes=['Change %'], **kw), "column 'Change %' holds '-0.34%' at row 0, which is not a number with a K/M/B suffix",
          column='Change %', row=0, source=str(p))
    fails(lambda: load_csv(p, suffixes=['Vol'], **kw), "column(s) ['Vol'] listed in suffixes= but not found")
    assert load_csv(p, suffixes=['Vol.'], **kw).volume.iloc[2] == 456_700.0


def test_negative_volume(tmp_path):
    "A negative volume is refused like a non-positive price; a zero volume (holiday, illiquid bar) passes."
    df = bars(20)
    df.iloc[4, df.columns.get_loc('Volume')] = 0
    df.iloc[9, df.columns.get_loc('Volume')] = -1500
    p = tmp_path / 'vol.csv'; df.to_csv(p)
    fails(lambda: validate_frame(load_csv(p)), "negative volume -1500 in column 'volume' for asset 'asset' at 2024-01-15 00:00:00 (row 9)",
          'volumes must be >= 0', column='volume', row=9, value=-1500, source=str(p))
    assert validate_frame(load_csv(p).iloc[:9]).volume.iloc[4] == 0
    assert list(validate_frame(load_csv(p), features=['close']).columns) == ['close', 'open', 'high', 'low']

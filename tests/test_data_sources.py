"""`ai_trading_framework.sources` against a real PostgreSQL server.

The session's throwaway cluster (`postgres` in tests/conftest.py: Debian's `postgresql` package, initdb + pg_ctl, run
as the `postgres` OS user when we are root, trust auth, a free localhost port, sockets in the temp
dir) and removes it afterwards. PostgreSQL missing is a failure, not a skip: run `make sysdeps`.
The SQLite and in-memory paths are tested in nbs/02_sources.ipynb.
"""

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from ai_trading_framework.core import ConfigError, DataValidationError
from ai_trading_framework.frames import validate_frame
from ai_trading_framework.sources import _table_select, load_frame, load_sql


@pytest.fixture(scope='session')
def pg_url(postgres):
    "A fresh database on the session's throwaway PostgreSQL cluster (tests/conftest.py), in a non-UTC session time zone."
    return postgres.url('atf_test', timezone='Europe/Paris')


def _bars():
    "Three assets with different histories, tz-aware (UTC) daily bars, float prices and integer volume."
    rng, parts = np.random.default_rng(7), []
    for k, asset in enumerate(['AAA', 'BBB', 'CCC']):
        t = pd.date_range('2022-03-01', periods=30 - 5 * k, freq='D', tz='UTC') + pd.Timedelta(days=5 * k)
        close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, len(t))))
        open_ = close * np.exp(rng.normal(0, 0.01, len(t)))
        high = np.maximum(open_, close) * 1.01
        low = np.minimum(open_, close) * 0.99
        idx = pd.MultiIndex.from_arrays([t.as_unit('ns'), [asset] * len(t)], names=['timestamp', 'asset'])
        parts.append(pd.DataFrame({'open': open_, 'high': high, 'low': low, 'close': close,
                                   'volume': rng.integers(100, 10_000, len(t))}, index=idx))
    return pd.concat(parts).sort_index(level=['timestamp', 'asset'])


@pytest.fixture(scope='session')
def bars(pg_url):
    "The expected frame, also written to the table `bars` (rows stored grouped by asset, not by time)."
    frame = _bars()
    eng = sa.create_engine(pg_url)
    frame.sort_index(level=['asset', 'timestamp']).reset_index().to_sql('bars', eng, index=False)
    eng.dispose()
    return frame


def test_table_roundtrip(pg_url, bars):
    got = validate_frame(load_sql(pg_url, 'bars'))
    pd.testing.assert_frame_equal(got, bars, check_exact=True)
    assert str(got.index.levels[0].dtype) == 'datetime64[ns, UTC]' and got['volume'].dtype == np.int64
    pd.testing.assert_frame_equal(validate_frame(load_frame(pg_url, table='public.bars')), bars, check_exact=True)


def test_table_filters_are_bound_parameters(pg_url, bars):
    got = validate_frame(load_sql(pg_url, 'bars', columns=['close', 'volume'], start='2022-03-10',
                                  end=pd.Timestamp('2022-03-20 12:00', tz='America/New_York'), assets=['BBB', 'CCC']))
    t = bars.index.get_level_values('timestamp')
    keep = ((t >= pd.Timestamp('2022-03-10', tz='UTC')) & (t <= pd.Timestamp('2022-03-20 16:00', tz='UTC'))
            & bars.index.get_level_values('asset').isin(['BBB', 'CCC']))
    expected = bars.loc[keep, ['close', 'volume']]
    assert len(expected) == 21
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    # the range and the assets reach PostgreSQL as bound parameters, never as text in the SQL
    eng = sa.create_engine(pg_url)
    with eng.connect() as conn:
        stmt = _table_select(conn, 'bars', None, None, ['close'], '2022-03-10', None, None, ['BBB'], pg_url)[0]
        sql = str(stmt.compile(dialect=conn.dialect))
    eng.dispose()
    assert 'WHERE bars.timestamp >= %(timestamp_1)s' in sql and 'bars.asset IN (__[POSTCOMPILE_asset_1])' in sql
    assert '2022' not in sql and 'BBB' not in sql


def test_parameterised_query(pg_url, bars):
    q = 'SELECT * FROM bars WHERE timestamp BETWEEN :start AND :end AND asset IN :assets'
    params = {'start': pd.Timestamp('2022-03-08', tz='UTC').to_pydatetime(),
              'end': pd.Timestamp('2022-03-15', tz='UTC').to_pydatetime(), 'assets': ['AAA', 'BBB']}
    got = validate_frame(load_sql(pg_url, query=q, params=params))
    expected = bars.loc[(slice('2022-03-08', '2022-03-15'), ['AAA', 'BBB']), :]
    assert len(expected) == 8 + 8
    pd.testing.assert_frame_equal(got, expected, check_exact=True)
    # dates given as text are read by PostgreSQL as the timestamps they are compared with
    got = load_sql(pg_url, query=q, params={**params, 'start': '2022-03-08 00:00+00', 'end': '2022-03-15 00:00Z'})
    pd.testing.assert_frame_equal(validate_frame(got), expected, check_exact=True)
    # an open Connection, `= ANY(:list)` and a conversion to the exchange's zone work too
    eng = sa.create_engine(pg_url)
    with eng.connect() as conn:
        got = load_sql(conn, query=sa.text('SELECT * FROM bars WHERE asset = ANY(:a)'), params={'a': ['CCC']},
                       tz='America/New_York')
    eng.dispose()
    ccc = bars.loc[(slice(None), 'CCC'), :]
    pd.testing.assert_frame_equal(validate_frame(got), ccc.set_axis(ccc.index.set_levels(
        ccc.index.levels[0].tz_convert('America/New_York'), level=0)), check_exact=True)


def test_values_are_never_sql(pg_url, bars):
    got = load_sql(pg_url, query='SELECT * FROM bars WHERE asset = :a', params={'a': "AAA'; DROP TABLE bars; --"})
    assert len(got) == 0
    assert len(load_sql(pg_url, 'bars')) == len(bars)


def test_bad_parameter_is_a_clear_error(pg_url, bars):
    q = 'SELECT * FROM bars WHERE timestamp >= :start'
    with pytest.raises(DataValidationError, match=r'SQL query failed on postgresql\+psycopg://postgres@127\.0\.0\.1:\d+/atf_test: '
                                                  r'invalid input syntax for type timestamp with time zone: "last tuesday"') as e:
        load_sql(pg_url, query=q, params={'start': 'last tuesday'})
    assert e.value.where['source'].startswith('postgresql+psycopg://')
    with pytest.raises(ConfigError, match=r"missing \['start'\], unknown \['begin'\]; the query binds \['start'\]"):
        load_sql(pg_url, query=q, params={'begin': '2022-03-01'})
    with pytest.raises(DataValidationError, match=r'SQL query failed on .*: syntax error at or near "SELEC"'):
        load_sql(pg_url, query='SELEC * FROM bars')


def test_missing_table_and_column(pg_url, bars):
    with pytest.raises(DataValidationError, match=r"table 'prices' not found; available tables: \['bars'\]"):
        load_sql(pg_url, 'prices')
    with pytest.raises(DataValidationError, match=r"column\(s\) \['vwap'\] requested but not found; available columns: "
                                                  r"\['timestamp', 'asset', 'open', 'high', 'low', 'close', 'volume'\]"):
        load_sql(pg_url, 'bars', columns=['close', 'vwap'])

"""Regenerate the small files `tests/test_own_data.py` reads: price files shaped the way users have them.

    python tests/data/make_own_data.py

Prices are seeded random walks (no vendor's data is redistributed); only the shapes copy what people bring:
- `yahoo_daily.csv`: a Yahoo Finance / yfinance export, `Date,Open,High,Low,Close,Adj Close,Volume`, business days.
- `pandas_to_csv.csv`: `DataFrame.to_csv()` of a frame with an unnamed DatetimeIndex (pandas reads it back as `Unnamed: 0`).
- `vendor_hourly.csv`: a vendor's long hourly file, `timestamp,SYMBOL,OPEN,HIGH,LOW,CLOSE,VOLUME`, two symbols;
  `BBB` misses two hours and its data ends 20 hours before `AAA`'s (a ragged calendar).
- `dayfirst.csv`: European dates, `31/01/2024`.
- `semicolon.csv`: a `;`-separated export with decimal commas (Excel in a French or German locale).
- `latin1.csv`: a long daily file in Latin-1, with an accented asset name.
- `empty.csv`: an empty file (0 bytes).
- `ragged_row.csv`: a row with one field too many (line 5).
The truncated Parquet file is made by the test itself.
"""
from pathlib import Path
import numpy as np
import pandas as pd

HERE = Path(__file__).parent

def ohlcv(n, seed, level=100.0, vol=0.01, freq='B', start='2023-01-02'):
    "Consistent OHLCV bars: a seeded random walk for the close, open near the previous close, high/low around both."
    rng = np.random.default_rng(seed)
    close = level * np.exp(np.cumsum(rng.normal(0, vol, n)))
    open_ = np.r_[level, close[:-1]] * np.exp(rng.normal(0, vol / 4, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, vol, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, vol, n))
    idx = pd.date_range(start, periods=n, freq=freq)
    return pd.DataFrame({'Open': open_, 'High': high, 'Low': low, 'Close': close,
                         'Volume': rng.integers(10_000, 90_000, n)}, index=idx).round(4)

def main():
    y = ohlcv(300, 1)
    y.insert(4, 'Adj Close', (y['Close'] * np.linspace(0.97, 1.0, len(y))).round(4))   # dividends make it drift below
    y.rename_axis('Date').to_csv(HERE / 'yahoo_daily.csv')
    ohlcv(250, 2, level=50).to_csv(HERE / 'pandas_to_csv.csv')                          # unnamed index
    a, b = ohlcv(200, 3, level=1.1, vol=0.002, freq='h', start='2024-03-01 00:00'), ohlcv(180, 4, level=30, vol=0.004, freq='h', start='2024-03-01 00:00')
    b = b.drop(index=b.index[[50, 51]])
    parts = [d.rename(columns=str.upper).assign(SYMBOL=s).rename_axis('timestamp').reset_index() for s, d in (('AAA', a), ('BBB', b))]
    long = pd.concat(parts).sort_values(['timestamp', 'SYMBOL'])[['timestamp', 'SYMBOL', 'OPEN', 'HIGH', 'LOW', 'CLOSE', 'VOLUME']]
    long.to_csv(HERE / 'vendor_hourly.csv', index=False, date_format='%Y-%m-%d %H:%M:%S')
    d = ohlcv(120, 5, freq='B', start='2024-01-02')
    d.rename_axis('Date').to_csv(HERE / 'dayfirst.csv', date_format='%d/%m/%Y')
    ohlcv(60, 6).rename_axis('Date').to_csv(HERE / 'semicolon.csv', sep=';', decimal=',')
    l1 = pd.concat([ohlcv(80, 7).assign(Ticker='Société Générale'), ohlcv(80, 8, level=20).assign(Ticker='Crédit Agricole')])
    l1.rename_axis('Date').reset_index().to_csv(HERE / 'latin1.csv', index=False, encoding='latin-1')
    (HERE / 'empty.csv').write_bytes(b'')
    lines = ohlcv(10, 9).rename_axis('Date').to_csv().splitlines()
    lines[4] += ',17'                                                                   # line 5 of the file
    (HERE / 'ragged_row.csv').write_text('\n'.join(lines) + '\n')

if __name__ == '__main__': main()

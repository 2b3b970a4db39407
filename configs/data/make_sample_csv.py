"""Write configs/data/ohlcv_daily.csv: a small daily OHLCV file shaped as a vendor exports it.

    .venv/bin/python configs/data/make_sample_csv.py      # from the repository root; rewrites the file

Capitalised columns `Date,Open,High,Low,Close,Adj Close,Volume`, one row per business day, 600 rows, prices with
2 decimals and whole volumes, as Yahoo-style downloads look. The numbers are the package's seeded synthetic market
(seed 7, so the same file every time); `Adj Close` is Close scaled by a small dividend adjustment, as vendors do.
The file is what configs/supervised_csv.yaml trains on; tests/test_cli.py checks it still equals this script's output.
"""
from pathlib import Path
import numpy as np
import pandas as pd
from ai_trading_framework.synthetic import synthetic_market

N_ROWS, SEED = 600, 7
PATH = Path(__file__).with_name('ohlcv_daily.csv')


def sample_csv_text(n_rows:int=N_ROWS, seed:int=SEED) -> str:
    "The CSV text: business-day dates, capitalised vendor column names, rounded prices."
    m = synthetic_market(n_rows, seed=seed, signal_ic=0.1, vol=0.012, freq='B', start='2021-01-04')
    adj = np.round(m['close'] * np.linspace(0.97, 1.0, n_rows), 2) # older prices adjusted down for dividends
    df = pd.DataFrame({'Date': m.index.strftime('%Y-%m-%d'), 'Open': m['open'].round(2), 'High': m['high'].round(2),
                       'Low': m['low'].round(2), 'Close': m['close'].round(2), 'Adj Close': adj, 'Volume': m['volume'].astype('int64')})
    return df.to_csv(index=False, lineterminator='\n')


if __name__ == '__main__':
    PATH.write_text(sample_csv_text())
    print(f'wrote {PATH} ({N_ROWS} rows)')

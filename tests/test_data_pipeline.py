"""Integration tests of the data layer: files -> frames -> panels -> splits -> datasets -> loaders.

Unit tests live next to the code in nbs/01_frames .. 09_dataloaders (00_datasets, 04_features, 05_panel, ...); these
cross the module boundaries, start other processes, and check the layer's promises end to end.
"""
import hashlib, json, subprocess, sys, textwrap
import numpy as np
import pandas as pd
import pytest
import torch

from ai_trading_framework.core import DataValidationError
from ai_trading_framework.synthetic import synthetic_market, add_returns
from ai_trading_framework.sources import load_csv, load_parquet, load_sql
from ai_trading_framework.features import FeatureSpec
from ai_trading_framework.datasets import make_datasets
from ai_trading_framework.dataloaders import trading_dataloaders, BatchLoader, GaussianNoise, FeatureDropout, TimeMask

SPEC = FeatureSpec(features=['signal', 'ret_1'], horizon=2)

@pytest.fixture(scope='module')
def panel_frame():
    "A ragged 4-asset market with a causal feature, in long (timestamp, asset) format."
    return add_returns(synthetic_market(600, n_assets=4, seed=11, ragged=True), 1).dropna()

def _all_batches(dl):
    return [tuple(t.clone() for t in b) for b in dl]

def test_files_and_memory_give_identical_batches(panel_frame, tmp_path):
    "CSV, partitioned Parquet and SQLite round trips feed the loaders exactly the batches the in-memory frame does."
    flat = panel_frame.reset_index()
    flat.to_csv(tmp_path / 'bars.csv', index=False)
    flat.to_parquet(tmp_path / 'pq', partition_cols=['asset'])
    import sqlalchemy as sa
    eng = sa.create_engine(f"sqlite:///{tmp_path / 'bars.db'}")
    flat.to_sql('bars', eng, index=False)
    frames = {'memory': panel_frame, 'csv': load_csv(tmp_path / 'bars.csv'), 'parquet': load_parquet(tmp_path / 'pq'),
              'sqlite': load_sql(str(tmp_path / 'bars.db'), 'bars')}
    ref = None
    for name, f in frames.items():
        dls = trading_dataloaders(f, SPEC, lookback=16, bs=64, seed=3, tfms=[GaussianNoise(0.1)], source=name)
        got = _all_batches(dls.train) + _all_batches(dls.valid) + _all_batches(dls[2])
        if ref is None: ref = got; continue
        assert len(got) == len(ref), name
        for a, b in zip(got, ref):
            for x, y in zip(a, b): torch.testing.assert_close(x, y, rtol=0, atol=1e-6, msg=f'{name} differs from memory')

def test_parquet_pushdown_reads_a_window(panel_frame, tmp_path):
    "Projection and date range go to the scan: only the asked columns and rows come back, equal to the frame's."
    panel_frame.reset_index().to_parquet(tmp_path / 'pq', partition_cols=['asset'])
    ts = panel_frame.index.get_level_values('timestamp')
    start, end = ts[100], ts[300]
    got = load_parquet(tmp_path / 'pq', columns=['close', 'signal'], start=start, end=end)
    want = panel_frame.loc[(ts >= start) & (ts <= end), ['close', 'signal']]
    want.index = want.index.set_levels(want.index.levels[0].as_unit('ns'), level='timestamp') # loaders keep nanoseconds
    assert list(got.columns) == ['close', 'signal']
    pd.testing.assert_frame_equal(got.sort_index(), want.sort_index(), check_freq=False)

def test_no_lookahead_end_to_end(panel_frame):
    "Rewriting every bar after the training block changes no training batch and no normalisation statistic."
    a = make_datasets(panel_frame, SPEC, lookback=16, valid=0.2, test=0.2, embargo=2)
    cut = a.panel.timestamps[a.split.bounds[0]] # the first validation bar: training labels end before it (purged)
    future = panel_frame.index.get_level_values('timestamp') >= cut
    changed = panel_frame.copy()
    changed.loc[future, ['open', 'high', 'low', 'close']] *= 3.0
    changed.loc[future, ['signal', 'ret_1']] = 7.0
    b = make_datasets(changed, SPEC, lookback=16, valid=0.2, test=0.2, embargo=2)
    np.testing.assert_array_equal(a.normalizer.center, b.normalizer.center)
    np.testing.assert_array_equal(a.normalizer.scale, b.normalizer.scale)
    ia = list(range(len(a.train)))
    for x, y in zip(a.train.__getitems__(ia), b.train.__getitems__(ia)): torch.testing.assert_close(x, y, rtol=0, atol=0)
    # ...while the validation block does see the change (the test could fail)
    iv = list(range(len(a.valid)))
    assert not torch.equal(a.valid.__getitems__(iv)[0], b.valid.__getitems__(iv)[0])

def test_no_training_label_reaches_valid_or_test(panel_frame):
    b = make_datasets(panel_frame, FeatureSpec(['signal'], horizon=5), lookback=8, valid=0.2, test=0.2, embargo=3)
    vs, ts = b.split.bounds
    # exactly: each block's last sample is the last whose 5-bar label ends before the next block, each later block starts
    # 3 embargoed bars after its boundary, and the test block runs to the last labelled bar (nothing purged twice, nothing lost)
    got = (b.train.t_idx.max(), b.valid.t_idx.min(), b.valid.t_idx.max(), b.test.t_idx.min(), b.test.t_idx.max())
    assert got == (vs - 6, vs + 3, ts - 6, ts + 3, b.raw.n_bars - 6), (got, vs, ts, b.raw.n_bars)

_REPRO = textwrap.dedent('''
    import hashlib, sys, torch
    from ai_trading_framework.core import set_seed
    from ai_trading_framework.synthetic import synthetic_market
    from ai_trading_framework.features import FeatureSpec
    from ai_trading_framework.dataloaders import trading_dataloaders, GaussianNoise, FeatureDropout, TimeMask, Mixup
    seed = int(sys.argv[1]); set_seed(seed)
    dls = trading_dataloaders(synthetic_market(800, n_assets=2, seed=0), FeatureSpec(['signal', 'volume']), lookback=12, bs=32, device='cpu',
                              seed=seed, tfms=[GaussianNoise(0.1), FeatureDropout(0.1), TimeMask(0.3), Mixup(0.4)])
    h = hashlib.sha256()
    for epoch in range(2):
        for xb, yb in dls.train: h.update(xb.numpy().tobytes()); h.update(yb.numpy().tobytes())
    print(h.hexdigest())
''')

def test_same_seed_same_batches_across_processes(tmp_path):
    "Two fresh interpreters with the same seed give bit-identical augmented batches over two epochs; another seed does not."
    script = tmp_path / 'repro.py'; script.write_text(_REPRO)
    run = lambda s: subprocess.run([sys.executable, str(script), str(s)], capture_output=True, text=True, check=True).stdout.strip()
    a, b, c = run(5), run(5), run(6)
    assert a == b and a != c

def test_worker_processes_give_the_same_batches(panel_frame):
    "num_workers=2 runs the gather in two processes and yields exactly the single-process batches."
    ds = make_datasets(panel_frame, SPEC, lookback=16).train
    single = _all_batches(BatchLoader(ds, bs=50, shuffle=True, seed=9))
    multi = _all_batches(BatchLoader(ds, bs=50, shuffle=True, seed=9, num_workers=2))
    assert len(single) == len(multi)
    for a, b in zip(single, multi):
        for x, y in zip(a, b): assert torch.equal(x, y)

def test_bad_file_is_named_and_caller_frame_kept(panel_frame, tmp_path):
    "A NaN in a file is reported with the file, column and asset; the caller's frame is untouched."
    bad = panel_frame.reset_index()
    bad.loc[37, 'signal'] = np.nan
    bad.to_csv(tmp_path / 'bad.csv', index=False)
    f = load_csv(tmp_path / 'bad.csv'); snap = f.copy()
    with pytest.raises(DataValidationError) as e: make_datasets(f, SPEC, lookback=16)
    msg = str(e.value)
    assert 'bad.csv' in msg and "'signal'" in msg and str(bad.loc[37, 'asset']) in msg, msg
    pd.testing.assert_frame_equal(f, snap)

def test_too_short_history_is_refused(panel_frame):
    short = panel_frame.groupby(level='asset').head(10)
    with pytest.raises(DataValidationError, match='rows'):
        make_datasets(short, SPEC, lookback=16)

def test_import_stays_light():
    "Importing the data layer pulls in none of the heavy optional stacks (import time is reported by bench_loader)."
    code = ('import sys, ai_trading_framework.datasets, ai_trading_framework.sources, ai_trading_framework.synthetic; '
            'print([m for m in ("fastai", "sqlalchemy", "numba", "plotly", "mlflow", "optuna", "stable_baselines3", "ipywidgets") if m in sys.modules])')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == '[]', out

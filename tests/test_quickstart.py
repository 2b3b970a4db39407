"""The main job as a user runs it: `python -m ai_trading_framework.quickstart`, in a fresh interpreter, in reduced mode.

Run twice with the same seed it writes the same numbers (reproducible on the CPU); it writes a tearsheet that opens
offline, registers the best pipeline in the MLflow store of its working directory (loadable, predicting like the model it
was trained as) and refreshes the Memory Bank's run pages; and the models it trains find the synthetic market's planted
signal out of sample: their rank IC, and the walk-forward's, reach at least half of the planted signal's own rank IC on the
same rows (a pure-noise predictor passes a fixed threshold like 0.05 about one time in seven, and this bar about never).
With `--csv` it runs the same pipeline on a user's file, and with stdout a pipe it logs one plain line per epoch.
"""
import json, math, subprocess, sys
from pathlib import Path
import numpy as np

ARGS = ['--wf_folds', '2', '--rl_steps', '4000', '--no-show_progress'] # the defaults otherwise: 3,000 bars, 4 epochs, LSTM + Transformer
DATA = Path(__file__).parent / 'data'

def _run(cwd, *args):
    "The quickstart in a fresh interpreter with `cwd` as its working directory (its MLflow store and outputs land there)."
    cwd.mkdir(parents=True, exist_ok=True)
    p = subprocess.run([sys.executable, '-m', 'ai_trading_framework.quickstart', '--out_dir', 'out', '--memory_bank_dir', str(cwd / 'mb'), *args],
                       cwd=cwd, check=True, capture_output=True, text=True)
    return json.loads((cwd / 'out' / 'summary.json').read_text()), p.stdout

def _numbers(s:dict) -> dict:
    "The summary without what names a place or a moment (paths, run ids, seconds)."
    s = json.loads(json.dumps(s))
    for k in ('seconds', 'tearsheet', 'memory_bank'): s.pop(k, None)
    s['registered'] = {k: v for k, v in s['registered'].items() if k in ('name', 'version')}
    return s

def test_quickstart_runs_registers_and_reproduces(tmp_path):
    (a, _), (b, _) = _run(tmp_path / 'a', *ARGS), _run(tmp_path / 'b', *ARGS)
    assert _numbers(a) == _numbers(b)
    assert set(a['models']) == {'lstm', 'transformer'} and a['best_model'] in a['models']
    for name, m in a['models'].items():
        wf = m['walk_forward']
        assert wf['folds'] == 2 and math.isfinite(wf['total_return']) and math.isfinite(wf['sharpe']), (name, wf)
        assert m['signal_rank_ic'] > 0.1, (name, m)                       # planted IC 0.2; about 440 test samples
        assert m['rank_ic'] >= 0.5 * m['signal_rank_ic'], (name, m)       # each model finds at least half of it, on the same rows
        assert wf['signal_rank_ic'] > 0.1 and wf['rank_ic'] >= 0.5 * wf['signal_rank_ic'], (name, wf)   # and so does its walk-forward
    best = a['models'][a['best_model']]['walk_forward']['sharpe']
    assert all(best >= m['walk_forward']['sharpe'] for m in a['models'].values())
    assert set(a['ppo']) == {'total_return', 'sharpe', 'max_drawdown', 'turnover'} and math.isfinite(a['ppo']['sharpe'])
    html = (tmp_path / 'a' / 'out' / 'tearsheet.html').read_text()
    assert 'plotly' in html and len(html) > 3_000_000 # plotly.js embedded: opens without a network
    assert (tmp_path / 'a' / 'out' / 'runs' / 'lstm' / 'tensorboard').is_dir()
    # the registered pipeline, from the store in the working directory, predicts new raw bars like the summary's model
    r = a['registered']
    assert r['name'] == 'quickstart' and r['version'] == 1 and r['uri'] == f"sqlite:///{(tmp_path / 'a' / 'mlruns.db').as_posix()}"
    from ai_trading_framework.model_manager import ModelManager
    from ai_trading_framework.quickstart import quickstart_frame
    mm = ModelManager(r['uri'])
    assert mm.versions('quickstart').index.tolist() == [1]
    pipe = mm.load('quickstart', version=1)
    df, _ = quickstart_frame(3000, 0)
    pred = pipe.predict(df[['open', 'high', 'low', 'close', 'volume', 'signal']].iloc[-400:])
    assert len(pred) > 300 and np.isfinite(np.asarray(pred, float)).all()
    # the Memory Bank's run pages name the registered model and the runs
    mb = (tmp_path / 'a' / 'mb' / 'experiments.md').read_text()
    assert 'quickstart' in mb and 'lstm' in mb and 'transformer' in mb, mb[:2000]

def test_quickstart_on_a_user_csv(tmp_path):
    "A yfinance export (Date, Open..Close, Adj Close, Volume) from disk to tearsheet; progress as plain lines in a pipe."
    csv = DATA / 'yahoo_daily.csv'
    assert csv.is_file() and sum(1 for _ in csv.open()) > 250, 'the fixture is made by tests/data/make_own_data.py'
    s, out = _run(tmp_path, '--csv', str(csv), '--time-col', 'Date', '--wf-folds', '2', '--epochs', '3', '--models', 'lstm', '--rl-steps', '2000')
    m = s['models']['lstm']
    assert s['n_samples']['test'] > 20 and m['signal_rank_ic'] is None   # no planted signal in a user's file
    assert m['walk_forward']['folds'] == 2 and math.isfinite(m['walk_forward']['sharpe'])
    assert s['registered']['version'] == 1
    html = (tmp_path / 'out' / 'tearsheet.html').read_text()
    assert 'plotly' in html and len(html) > 3_000_000
    assert '\r' not in out and sum(o.startswith('epoch ') for o in out.splitlines()) == 3, out   # one line per epoch
    assert 'test rank IC' in out and 'next:' in out and 'mlflow ui --backend-store-uri' in out and 'tensorboard --logdir' in out, out


def test_quickstart_bad_user_file_is_one_line(tmp_path):
    "A European export read without its dialect stops with exit status 2 and one line naming the file, column, row and value; with it, it runs."
    import pandas as pd
    from ai_trading_framework.synthetic import synthetic_market
    bars = synthetic_market(300, seed=2, freq='B')[['open', 'high', 'low', 'close', 'volume']]
    bars.rename(columns=str.capitalize).rename_axis('Datum').to_csv(tmp_path / 'kurse.csv', sep=';', decimal=',', date_format='%d.%m.%Y')
    cmd = [sys.executable, '-m', 'ai_trading_framework.quickstart', '--csv', 'kurse.csv', '--time-col', 'Datum', '--out_dir', 'out',
           '--models', 'lstm', '--epochs', '1', '--wf_folds', '0', '--rl_steps', '0', '--no-register', '--no-memory_bank', '--no-show_progress']
    p = subprocess.run([*cmd, '--csv_options', '{"sep": ";", "decimal": ","}'], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 2 and p.stderr.count('\n') == 1 and 'Traceback' not in p.stderr, p.stderr
    assert p.stderr.startswith("quickstart: error: cannot parse timestamp '13.01.2015' in column 'Datum'") and "source='kurse.csv'" in p.stderr, p.stderr
    p = subprocess.run([*cmd, '--csv_options', '{"sep": ";", "decimal": ",", "dayfirst": true}'], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stderr
    assert json.loads((tmp_path / 'out' / 'summary.json').read_text())['n_samples']['test'] > 20
    p = subprocess.run([*cmd, '--csv_options', '{"sep": ";"'], cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 2 and 'csv_options must be a JSON object' in p.stderr, p.stderr

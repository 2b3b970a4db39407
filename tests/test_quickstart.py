"""The main job as a user runs it: `python -m ai_trading_framework.quickstart`, in a fresh interpreter.

Run twice with the same seed it writes the same numbers (reproducible on the CPU); it writes a tearsheet that
opens offline; and the model it trains finds the synthetic market's planted signal out of sample: its rank IC, and the
walk-forward's, reach at least half of the planted signal's own rank IC on the same rows (a pure-noise predictor passes a
fixed threshold like 0.05 about one time in seven, and this bar about never). With `--csv` it runs the same pipeline on a
user's file, and with stdout a pipe it logs one plain line per epoch, not redrawn bars.
"""
import json, math, subprocess, sys
from pathlib import Path

ARGS = ['--wf_folds', '2', '--no-show_progress'] # the defaults otherwise: 3,000 bars, 4 epochs
DATA = Path(__file__).parent / 'data'

def _run(out, *args):
    p = subprocess.run([sys.executable, '-m', 'ai_trading_framework.quickstart', '--out_dir', str(out), *args], check=True,
                       capture_output=True, text=True)
    s = json.loads((out / 'summary.json').read_text())
    s.pop('seconds'); s['walk_forward'].pop('tearsheet')
    return s, p.stdout

def test_quickstart_runs_and_reproduces(tmp_path):
    (a, _), (b, _) = _run(tmp_path / 'a', *ARGS), _run(tmp_path / 'b', *ARGS)
    assert a == b
    wf = a['walk_forward']
    assert wf['folds'] == 2 and math.isfinite(wf['total_return']) and math.isfinite(wf['sharpe'])
    assert a['test_signal_rank_ic'] > 0.1, a                         # planted IC 0.2; about 440 test samples
    assert a['test_rank_ic'] >= 0.5 * a['test_signal_rank_ic'], a    # the model finds at least half of it, on the same rows
    assert wf['signal_rank_ic'] > 0.1 and wf['rank_ic'] >= 0.5 * wf['signal_rank_ic'], wf   # and so does the walk-forward
    html = (tmp_path / 'a' / 'tearsheet.html').read_text()
    assert 'plotly' in html and len(html) > 3_000_000 # plotly.js embedded: opens without a network

def test_quickstart_on_a_user_csv(tmp_path):
    "A yfinance export (Date, Open..Close, Adj Close, Volume) from disk to tearsheet; progress as plain lines in a pipe."
    csv = DATA / 'yahoo_daily.csv'
    assert csv.is_file() and sum(1 for _ in csv.open()) > 250, 'the fixture is made by tests/data/make_own_data.py'
    s, out = _run(tmp_path, '--csv', str(csv), '--time-col', 'Date', '--wf-folds', '2', '--epochs', '3')
    assert s['n_samples']['test'] > 20 and s['test_signal_rank_ic'] is None   # no planted signal in a user's file
    assert s['walk_forward']['folds'] == 2 and math.isfinite(s['walk_forward']['sharpe'])
    html = (tmp_path / 'tearsheet.html').read_text()
    assert 'plotly' in html and len(html) > 3_000_000
    assert '\r' not in out and sum(o.startswith('epoch ') for o in out.splitlines()) == 3, out   # one line per epoch

"""The main job as a user runs it: `python -m ai_trading_framework.quickstart`, in a fresh interpreter.

Run twice with the same seed it writes the same numbers (reproducible on the CPU); it writes a tearsheet that
opens offline; and the model it trains finds the synthetic market's planted signal out of sample.
"""
import json, subprocess, sys

ARGS = ['--wf_folds', '2', '--no-show_progress'] # the defaults otherwise: 3,000 bars, 4 epochs

def _run(out):
    subprocess.run([sys.executable, '-m', 'ai_trading_framework.quickstart', '--out_dir', str(out), *ARGS], check=True,
                   capture_output=True, text=True)
    s = json.loads((out / 'summary.json').read_text())
    s.pop('seconds'); s['walk_forward'].pop('tearsheet')
    return s

def test_quickstart_runs_and_reproduces(tmp_path):
    a, b = _run(tmp_path / 'a'), _run(tmp_path / 'b')
    assert a == b
    assert a['walk_forward']['folds'] == 2
    assert a['test_rank_ic'] > 0.05, a # planted IC 0.2; about 440 test samples (standard error ~0.05)
    html = (tmp_path / 'a' / 'tearsheet.html').read_text()
    assert 'plotly' in html and len(html) > 3_000_000 # plotly.js embedded: opens without a network

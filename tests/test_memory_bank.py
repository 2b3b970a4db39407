"""The Memory Bank (`atf_memory_bank`, ai_trading_framework.memory_bank): what the notebook cells cannot show.

Regeneration is byte-deterministic across processes (different hash seeds); a decision cell, a section and a
Mermaid diagram added in a notebook show up in their pages; a run logged to a temporary MLflow SQLite store (real
MLflow) and a registered model version show up in experiments.md; a JUnit XML report written by a real pytest run
shows up in testResults.md; `--check` fails naming the stale page. Everything is written under tmp_path.
"""
import datetime, json, os, shutil, subprocess, sys
from pathlib import Path
import pytest

from ai_trading_framework.memory_bank import PAGE_SETS, write_memory_bank, check_memory_bank, read_junit

ROOT = Path(__file__).resolve().parents[1]
CLI = Path(sys.executable).parent / 'atf_memory_bank'
NOW = datetime.datetime(2026, 11, 30, 8, 30, tzinfo=datetime.timezone.utc)


def _cli(*args, hashseed='0', root=ROOT) -> subprocess.CompletedProcess:
    if not CLI.exists(): pytest.fail(f'{CLI} is missing: install the project (make venv) so its console scripts exist')
    env = {**os.environ, 'PYTHONHASHSEED': hashseed}
    return subprocess.run([str(CLI), '--root', str(root), *map(str, args)], capture_output=True, text=True, env=env, timeout=300)

def _snapshot(dst: Path) -> Path:
    "A copy of what the code pages read (settings.ini, Makefile, nbs/, the package's .py files): a fixed input."
    dst.mkdir()
    for f in ('settings.ini', 'Makefile'): shutil.copy2(ROOT / f, dst / f)
    shutil.copytree(ROOT / 'nbs', dst / 'nbs', ignore=shutil.ignore_patterns('_*', '.*'))
    shutil.copytree(ROOT / 'ai_trading_framework', dst / 'ai_trading_framework', ignore=lambda d, names: [
        n for n in names if not (n.endswith('.py') or (Path(d) / n).is_dir()) or n == '__pycache__'])
    return dst

def _nb(path, cells):
    "A notebook of markdown cells."
    path.write_text(json.dumps({'cells': [{'cell_type': 'markdown', 'id': f'c{i}', 'metadata': {}, 'source': s} for i, s in enumerate(cells)],
                                'metadata': {}, 'nbformat': 4, 'nbformat_minor': 5}))

@pytest.fixture
def nbs(tmp_path):
    "A notebooks folder: the project's home page and one small notebook with a section, a diagram and a decision."
    d = tmp_path / 'nbs'; d.mkdir()
    (d / 'index.ipynb').write_text((ROOT / 'nbs' / 'index.ipynb').read_text())
    _nb(d / '12_widgets.ipynb', ['# Widgets\n\n> Small widgets for tests.',
                                 '## Turning knobs\n\n```mermaid\nflowchart LR\n  knob --> dial\n```',
                                 '> **Decision:** knobs turn clockwise. Alternatives: anticlockwise (nobody expects it).\n> Why: habit.'])
    return d


def test_code_pages_are_deterministic_and_checked(tmp_path):
    """A generation here and a `--check` in another process with another hash seed agree byte for byte; `--check`
    then exits 1 naming each stale page (edited by hand, or missing) and writes nothing."""
    root = _snapshot(tmp_path / 'project')   # the checkout may change under the test (an export, an edit)
    out = tmp_path / 'mb'
    write_memory_bank('code', root=root, out=out)
    names = sorted(f'{n}.md' for n in PAGE_SETS['code'])
    assert sorted(p.name for p in out.iterdir()) == names
    pages = {n: (out / n).read_text() for n in names}
    other = '2' if os.environ.get('PYTHONHASHSEED') == '1' else '1'   # this process: random, or the seed it was given
    r = _cli('--check', '--out', out, hashseed=other, root=root)
    assert r.returncode == 0 and 'up to date' in r.stdout, r.stdout + r.stderr[-3000:]
    # each page holds what it promises, from the project
    assert '> **Decision:**' in pages['decisionLog.md'] and '/nbs/30f_trainers.config.ipynb)' in pages['decisionLog.md']
    assert '```mermaid' in pages['systemPatterns.md'] and '`trainers.config`' in pages['systemPatterns.md']
    assert '| `lookback` | `32` | `int` |' in pages['models.md'] and '### PPOAgent' in pages['models.md'] and '### A3CAgent' in pages['models.md']
    assert '| torch | `>=2.2,<2.15` |' in pages['techContext.md'] and '`atf_memory_bank`' in pages['techContext.md']
    assert '### Training configuration' in pages['progress.md'] and '## Trainers' in pages['progress.md']
    assert pages['projectbrief.md'].startswith('# Project brief: ai_trading_framework')
    assert not any('Generated on' in p for p in pages.values()), 'a code page carries a date'
    (out / 'models.md').write_text(pages['models.md'] + '\nedited by hand\n')
    (out / 'progress.md').unlink()
    r = _cli('--check', '--out', out, root=root)
    assert r.returncode == 1, r.stdout + r.stderr[-3000:]
    assert 'stale Memory Bank pages: models.md, progress.md' in r.stdout and 'make memory-bank' in r.stdout, r.stdout
    assert not (out / 'progress.md').exists() and (out / 'models.md').read_text().endswith('edited by hand\n')


def test_notebook_changes_show_up(nbs, tmp_path):
    "A decision cell, a section and a diagram in a notebook appear in decisionLog, progress and systemPatterns."
    out = tmp_path / 'mb'
    written = write_memory_bank('code', root=ROOT, nbs=nbs, out=out)
    assert sorted(p.name for p in written) == sorted(f'{n}.md' for n in PAGE_SETS['code'])
    log = (out / 'decisionLog.md').read_text()
    assert '1 decisions in 1 notebooks.' in log
    assert '## Widgets\n\nNotebook: [' in log and '](../nbs/12_widgets.ipynb)' in log
    assert 'In *Turning knobs*:\n\n> **Decision:** knobs turn clockwise. Alternatives: anticlockwise (nobody expects it).\n> Why: habit.' in log
    assert '### Widgets' in (out / 'progress.md').read_text() and '- Turning knobs' in (out / 'progress.md').read_text()
    assert 'flowchart LR\n  knob --> dial' in (out / 'systemPatterns.md').read_text()
    assert check_memory_bank(root=ROOT, nbs=nbs, out=out) == []
    _nb(nbs / '13_more.ipynb', ['# More\n\n> more', '## Later\n\n> **Decision:** a second one.'])
    assert check_memory_bank(root=ROOT, nbs=nbs, out=out) == ['decisionLog.md', 'progress.md']
    assert sorted(p.name for p in write_memory_bank('code', root=ROOT, nbs=nbs, out=out)) == ['decisionLog.md', 'progress.md']
    assert '2 decisions in 2 notebooks.' in (out / 'decisionLog.md').read_text()


def test_run_pages_without_runs_say_so(tmp_path):
    "No MLflow store and no test reports: the run pages say so plainly, dated, and no store is created."
    out, uri = tmp_path / 'mb', f'sqlite:///{tmp_path}/mlruns.db'
    write_memory_bank('runs', root=ROOT, out=out, uri=uri, junit=tmp_path / 'reports', now=NOW)
    exp, res = (out / 'experiments.md').read_text(), (out / 'testResults.md').read_text()
    assert 'Generated on 2026-11-30 08:30 UTC.' in exp and 'No runs yet: there is no MLflow store here.' in exp
    assert not (tmp_path / 'mlruns.db').exists()
    assert 'Generated on 2026-11-30 08:30 UTC.' in res and 'No test reports in' in res and 'run `make test`' in res
    assert '## Installed versions' in res and '| torch | `>=2.2,<2.15` |' in res


def test_mlflow_runs_and_versions_show_up(tmp_path):
    "A run logged to a temporary SQLite store, and a registered version of it, appear in experiments.md."
    from mlflow.tracking import MlflowClient
    uri = f'sqlite:///{tmp_path}/mlruns.db'
    client = MlflowClient(tracking_uri=uri, registry_uri=uri)
    exp = client.create_experiment('memory_bank_test', artifact_location=(tmp_path / 'artifacts').as_uri())
    run = client.create_run(exp, run_name='lstm-small')
    client.log_param(run.info.run_id, 'model', 'lstm'); client.log_param(run.info.run_id, 'lr', '0.003')
    for step, v in enumerate((0.9, 0.5, 0.25)): client.log_metric(run.info.run_id, 'valid_loss', v, step=step)
    client.log_metric(run.info.run_id, 'valid_ic', 0.125)
    client.set_terminated(run.info.run_id)
    client.create_registered_model('atf-demo')
    mv = client.create_model_version('atf-demo', f'{run.info.artifact_uri}/model', run_id=run.info.run_id, description='first version')
    client.set_registered_model_alias('atf-demo', 'production', mv.version)
    out = tmp_path / 'mb'
    write_memory_bank('runs', root=ROOT, out=out, uri=uri, junit=tmp_path / 'reports', now=NOW)
    page = (out / 'experiments.md').read_text()
    assert 'Generated on 2026-11-30 08:30 UTC.' in page
    assert '| lstm-small | memory_bank_test | FINISHED |' in page, page
    assert f'### lstm-small (memory_bank_test)\n\nRun `{run.info.run_id}`, FINISHED' in page
    assert '| `model` | `lstm` |' in page and '| `lr` | `0.003` |' in page
    assert '| `valid_loss` | 0.25 |' in page and '| `valid_ic` | 0.125 |' in page, page   # the last value of each metric
    assert f'| atf-demo | 1 | production | READY | `{run.info.run_id}` |' in page and 'first version' in page, page


def test_junit_reports_show_up(tmp_path):
    "A JUnit XML report written by a real pytest run is summarised in testResults.md, failures named."
    (tmp_path / 'test_tiny.py').write_text('import pytest\n'
                                           'def test_ok(): assert 1 + 1 == 2\n'
                                           'def test_bad(): assert 2 + 2 == 5, "arithmetic broke"\n'
                                           '@pytest.mark.skip(reason="not today")\ndef test_later(): pass\n')
    reports = tmp_path / 'reports'
    r = subprocess.run([sys.executable, '-m', 'pytest', str(tmp_path / 'test_tiny.py'), '-q', '-p', 'no:cacheprovider',
                        f'--junitxml={reports / "pytest.xml"}'], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert r.returncode == 1, r.stdout[-2000:]
    cases = read_junit(reports / 'pytest.xml')['cases']
    assert sorted((c[1], c[2]) for c in cases) == [('test_bad', 'failure'), ('test_later', 'skipped'), ('test_ok', 'passed')]
    out = tmp_path / 'mb'
    write_memory_bank('runs', root=ROOT, out=out, uri=f'sqlite:///{tmp_path}/none.db', junit=reports, now=NOW)
    page = (out / 'testResults.md').read_text()
    assert '## pytest' in page and '3 tests, 1 passed, 1 failed, 0 errors, 1 skipped' in page, page
    assert '| `test_tiny` | 3 | 1 | 1 | 0 | 1 |' in page, page
    assert '- `test_tiny::test_bad` (failure): AssertionError: arithmetic broke' in page, page
    assert '## Benchmarks' in page

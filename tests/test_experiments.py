"""`ai_trading_framework.experiments` on the default store (SQLite in the working directory), across processes.

- Without a URI, `Experiment`, `search` and the trainers' MLflow logger all use `sqlite:///<cwd>/mlruns.db` with
  artifacts in `<cwd>/mlartifacts`: one store.
- Nested runs (walk-forward folds) and a trainer inside an experiment are children of its run; FAILED / KILLED on an
  exception / KeyboardInterrupt; `search` filters.
- A supervised fit killed with SIGKILL after an epoch and resumed logs every epoch into ONE MLflow run (and reopens
  its W&B run id).
The unit tests (every method, every error message) are in nbs/41_experiments.ipynb and nbs/30d_trainers.loggers.ipynb.
"""
import json, os, signal, subprocess, sys, tempfile, textwrap
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient

from ai_trading_framework.experiments import Experiment, search
from ai_trading_framework.trainers.loggers import active_parent_run


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    "A fresh working directory: the default store lands here."
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_default_store_nested_folds_and_search(workdir):
    with Experiment(run_name='walk-forward', tags={'study': 'wf'}) as wf:
        assert active_parent_run()['run_id'] == wf.run_id
        wf.log_params({'train_size': 100, 'window': {'kind': 'rolling'}})
        for i in range(3):
            with wf.child(f'fold-{i}', tags={'fold': i}) as fold:
                assert active_parent_run()['run_id'] == fold.run_id
                fold.log_metrics({'sharpe': 0.5 * i}, step=i)
        wf.log_metrics({'sharpe': 0.5})
    assert active_parent_run() is None
    assert wf.uri == f"sqlite:///{(workdir/'mlruns.db').as_posix()}"
    assert (workdir/'mlruns.db').is_file() and Path(wf.artifact_uri).parent.parent == workdir/'mlartifacts'
    runs = search() # default store, every experiment
    assert sorted(runs.run_name) == ['fold-0', 'fold-1', 'fold-2', 'walk-forward']
    assert set(runs.experiment) == {'ai_trading_framework'}
    kids = search('ai_trading_framework', filter_string=f"tags.mlflow.parentRunId = '{wf.run_id}' and metrics.sharpe >= 0.5")
    assert sorted(kids.run_name) == ['fold-1', 'fold-2'] and set(kids.parent_run_id) == {wf.run_id}
    top = search(filter_string="params.window.kind = 'rolling'").iloc[0]
    assert (top.run_name, top.status, top['tags.study'], top['metrics.sharpe']) == ('walk-forward', 'FINISHED', 'wf', 0.5)
    assert pd.isna(top.parent_run_id)
    assert (top.end_time - top.start_time).total_seconds() >= 0


def test_failed_and_killed_status(workdir):
    with pytest.raises(ValueError, match='fold 1 has no data'):
        with Experiment(run_name='bad') as bad:
            bad.log_metrics({'x': 1.0})
            raise ValueError('fold 1 has no data')
    with pytest.raises(KeyboardInterrupt):
        with Experiment(run_name='stopped') as stopped: raise KeyboardInterrupt
    c = MlflowClient(bad.uri)
    assert c.get_run(bad.run_id).info.status == 'FAILED'
    assert c.get_run(bad.run_id).data.tags['error'] == 'ValueError: fold 1 has no data'
    assert c.get_run(stopped.run_id).info.status == 'KILLED'
    assert search(filter_string="attributes.status = 'FAILED'").run_name.tolist() == ['bad']
    assert active_parent_run() is None # both popped despite the exceptions


_KILLED_FIT = textwrap.dedent('''
    import os, signal
    from fastai.callback.core import Callback
    from ai_trading_framework.trainers.supervised_trainer import synth_trainer

    class KillAfter(Callback):
        "SIGKILL this process at the end of epoch 1, after the trainer checkpointed and logged it: a hard crash."
        order = 90
        def after_epoch(self):
            if self.epoch == 1: os.kill(os.getpid(), signal.SIGKILL)

    t = synth_trainer(epochs=4, out_dir='runs', run_name='crash', loggers=('mlflow', 'wandb'), cbs=[KillAfter()])
    t.fit(progress=False)
''')


def test_resumed_fit_continues_one_mlflow_run(workdir, monkeypatch):
    env = {'WANDB_MODE': 'offline', 'WANDB_SILENT': 'true'}
    for k in ('WANDB_CACHE_DIR', 'WANDB_CONFIG_DIR', 'WANDB_DATA_DIR'): env[k] = str(workdir/'wandb-home'/k.lower())
    for k, v in env.items(): monkeypatch.setenv(k, v)
    (workdir/'tmp').mkdir() # wandb's media/artifact temp folders go under the test's own folder
    monkeypatch.setenv('TMPDIR', str(workdir/'tmp')); monkeypatch.setattr(tempfile, 'tempdir', str(workdir/'tmp'))
    p = subprocess.run([sys.executable, '-c', _KILLED_FIT], cwd=workdir, env=os.environ.copy(), capture_output=True, text=True, timeout=300)
    assert p.returncode == -signal.SIGKILL, p.stderr[-3000:]
    run_dir = workdir/'runs'/'crash'
    first = json.loads((run_dir/'mlflow_run.json').read_text())
    first_wandb = json.loads((run_dir/'wandb_run.json').read_text())['id']
    c = MlflowClient(first['tracking_uri'])
    assert c.get_run(first['run_id']).info.status == 'RUNNING' # the crash could not close it
    assert [m.step for m in c.get_metric_history(first['run_id'], 'train_loss')] == [0, 1]

    from ai_trading_framework.trainers.supervised_trainer import synth_trainer
    t = synth_trainer(epochs=4, out_dir='runs', run_name='crash', loggers=('mlflow', 'wandb'))
    hist = t.fit(resume=True, progress=False)
    assert hist.epoch.tolist() == [0, 1, 2, 3]
    assert json.loads((run_dir/'mlflow_run.json').read_text())['run_id'] == first['run_id']
    runs = search('ai_trading_framework')
    assert runs.run_id.tolist() == [first['run_id']] and runs.status.tolist() == ['FINISHED'] # one run, closed
    logged = [(m.step, m.value) for m in c.get_metric_history(first['run_id'], 'train_loss')]
    assert logged == list(zip(range(4), hist.train_loss.tolist()))
    assert {a.path for a in c.list_artifacts(first['run_id'])} >= {'config.json', 'history.json'}
    # W&B: the resumed fit reopened the same run id (resume='allow'), in a second offline folder
    assert json.loads((run_dir/'wandb_run.json').read_text())['id'] == first_wandb
    assert sorted(d.name.rsplit('-', 1)[1] for d in (run_dir/'wandb').glob('offline-run-*')) == [first_wandb] * 2


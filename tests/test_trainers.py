"""Multi-process and end-to-end tests of the supervised trainer (`trainers.*`): what a notebook cell cannot hold.

- determinism across fresh interpreters (bitwise on the CPU);
- a training process killed with SIGKILL after an epoch's checkpoint, then resumed, ends equal to an
  uninterrupted run; a truncated checkpoint is detected and the one before it used;
- early stopping on a scripted metric sequence, and the best checkpoint is the best epoch's;
- TensorBoard event files, a W&B offline run and an MLflow SQLite store, read back;
- DDP with `torchrun --nproc_per_node=2` on gloo: identical weights on both ranks, falling loss;
- `cross_validate` on purged folds: every sample predicted exactly once, by a model that never trained or
  validated on a bar whose label window overlaps the sample's.

Everything is written under pytest's tmp_path. Tiny models (the `synth_trainer` fixture), one torch
thread: the whole file runs in about a minute on two busy cores, most of it starting interpreters.
"""
import json, os, shutil, signal, socket, subprocess, sys, warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ai_trading_framework.core import ATFWarning
from ai_trading_framework.panel import make_panel
from ai_trading_framework.datasets import SupervisedDataset
from ai_trading_framework.splits import PurgedKFold, CombinatorialPurgedCV
from ai_trading_framework.trainers.checkpoint import load_checkpoint, list_checkpoints
from ai_trading_framework.trainers.supervised_trainer import synth_trainer, synth_data
from ai_trading_framework.trainers.evaluation import cross_validate

ROOT = Path(__file__).resolve().parents[1]
# LSTM with two layers (inter-layer dropout draws from torch's RNG) and both augmentations (the loader's RNG)
CONFIG = dict(epochs=5, model_config={'d_model': 8, 'n_layers': 2, 'dropout': 0.2}, noise_std=0.1, feature_dropout=0.1,
              keep_checkpoints=10)

SCRIPT = '''
import json, os, signal, sys
import torch
torch.set_num_threads(1)
from fastai.callback.core import Callback
from safetensors.torch import save_file
from ai_trading_framework.trainers.supervised_trainer import synth_trainer

args = json.loads(sys.argv[1])
class KillAfter(Callback):
    "SIGKILL this process right after epoch `epoch`'s checkpoint is written (the monitor's order is 55)."
    order = 90
    def __init__(self, epoch): self.kill_epoch = epoch
    def after_epoch(self):
        if self.epoch == self.kill_epoch: os.kill(os.getpid(), signal.SIGKILL)
cbs = [KillAfter(args['kill_after'])] if args.get('kill_after') is not None else []
t = synth_trainer(**args['config'], cbs=cbs)
t.fit(progress='lines')
rank = t.dist.rank
out = args['out']
save_file({k: v.contiguous() for k, v in t.model.state_dict().items()}, os.path.join(out, f'weights-rank{rank}.safetensors'))
with open(os.path.join(out, f'history-rank{rank}.json'), 'w') as f:
    json.dump({'history': t.history.drop(columns='time').to_dict('list'), 'n_train_batches': len(t.dls.train),
               'world_size': t.dist.world_size}, f)
'''


pytestmark = pytest.mark.usefixtures('one_torch_thread')  # tiny models (tests/conftest.py)


def _env(tmp_path):
    "The environment of a child process: one thread, W&B and caches under tmp_path."
    return {**os.environ, 'OMP_NUM_THREADS': '1', 'PYTHONPATH': str(ROOT), 'WANDB_MODE': 'offline',
            'WANDB_CACHE_DIR': str(tmp_path/'wandb_cache'), 'WANDB_CONFIG_DIR': str(tmp_path/'wandb_config'),
            'WANDB_DATA_DIR': str(tmp_path/'wandb_data'), 'XDG_CACHE_HOME': str(tmp_path/'xdg'), 'TMPDIR': str(tmp_path)}


def _run(tmp_path, config, out, kill_after=None, launcher=()):
    "Train `synth_trainer(**config)` in a fresh interpreter (or under a launcher such as torchrun); the finished process."
    script = tmp_path/'train_script.py'
    script.write_text(SCRIPT)
    out.mkdir(parents=True, exist_ok=True)
    cmd = [*launcher, str(script)] if launcher else [sys.executable, str(script)]
    arg = json.dumps({'config': config, 'out': str(out), 'kill_after': kill_after})
    return subprocess.run(cmd + [arg], env=_env(tmp_path), cwd=tmp_path, capture_output=True, text=True, timeout=300)


def _same_weights(a: dict, b: dict):
    assert a.keys() == b.keys()
    for k in a: assert torch.equal(a[k], b[k]), k


def _model_tensors(ckpt):
    return {k[len('model.'):]: v for k, v in load_checkpoint(ckpt)[1].items() if k.startswith('model.')}


def test_determinism_across_processes(tmp_path):
    "The same config and seed, trained in two fresh interpreters: bitwise-identical history and weights."
    cfg = {**CONFIG, 'epochs': 3, 'checkpoint': False}
    runs = [_run(tmp_path, cfg, tmp_path/f'det{i}') for i in range(2)]
    for r in runs: assert r.returncode == 0, r.stderr[-3000:]
    h = [json.loads((tmp_path/f'det{i}'/'history-rank0.json').read_text()) for i in range(2)]
    assert h[0] == h[1]
    _same_weights(*(load_file(tmp_path/f'det{i}'/'weights-rank0.safetensors') for i in range(2)))


def test_sigkill_resume_equals_uninterrupted(tmp_path):
    "Killed with SIGKILL right after epoch 2's checkpoint, then rerun: the same history and weights as a run never killed."
    full = synth_trainer(**CONFIG, out_dir=str(tmp_path/'full'))
    h_full = full.fit(progress=False)
    cfg = {**CONFIG, 'out_dir': str(tmp_path/'crash')}
    killed = _run(tmp_path, cfg, tmp_path/'crash', kill_after=2)
    assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
    run = tmp_path/'crash'/'run'
    assert [p.stem for p in list_checkpoints(run/'checkpoints')] == ['epoch-0002', 'epoch-0001', 'epoch-0000']
    assert not (run/'history.json').exists() # it never finished
    resumed = _run(tmp_path, cfg, tmp_path/'crash')
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert [l.split()[1] for l in resumed.stdout.splitlines() if l.startswith('epoch')] == ['4/5', '5/5'] # only the missing epochs ran
    no_time = lambda p: [{k: v for k, v in r.items() if k != 'time'} for r in json.loads(p.read_text())]
    assert no_time(run/'history.json') == no_time(tmp_path/'full'/'run'/'history.json')
    h = json.loads((tmp_path/'crash'/'history-rank0.json').read_text())['history']
    assert h == h_full.drop(columns='time').to_dict('list')
    _same_weights(load_file(tmp_path/'crash'/'weights-rank0.safetensors'), full.model.state_dict()) # the restored best
    last = 'checkpoints/epoch-0004.json'
    _same_weights(_model_tensors(run/last), _model_tensors(tmp_path/'full'/'run'/last)) # the last epoch's


def test_truncated_checkpoint_falls_back(tmp_path):
    "The newest checkpoint cut short (a crash mid-write on a filesystem without atomic rename): detected, the previous one resumed."
    full = synth_trainer(**CONFIG, out_dir=str(tmp_path/'full'))
    full.fit(progress=False)
    run = tmp_path/'full'/'run'
    shutil.copytree(run, tmp_path/'broken'/'run')
    ck = tmp_path/'broken'/'run'/'checkpoints'
    for e in (3, 4): (ck/f'epoch-{e:04d}.json').unlink()
    blob = (ck/'epoch-0002.safetensors').read_bytes()
    (ck/'epoch-0002.safetensors').write_bytes(blob[:len(blob) // 2])
    again = synth_trainer(**CONFIG, out_dir=str(tmp_path/'broken'))
    with warnings.catch_warnings(record=True) as w:
        warnings.simplefilter('always')
        h = again.fit(progress=False)
    msgs = [str(o.message) for o in w if issubclass(o.category, ATFWarning)]
    assert any('skipping damaged checkpoint epoch-0002' in m and 'expected' in m for m in msgs), msgs
    assert h.drop(columns='time').equals(full.history.drop(columns='time'))
    _same_weights(again.model.state_dict(), full.model.state_dict())


def test_early_stopping_scripted(tmp_path):
    "A scripted metric improves until epoch 3, then stalls: patience 3 stops at epoch 6; the best checkpoint is epoch 3's."
    seq = [0.9, 0.8, 0.7, 0.5, 0.52, 0.499, 0.51, 0.3, 0.2, 0.1] # 0.499 beats 0.5 by less than min_delta
    it = iter(seq)
    t = synth_trainer(**{**CONFIG, 'epochs': 10}, monitor='scripted', patience=3, min_delta=0.005, out_dir=str(tmp_path),
                      metrics={'scripted': lambda out, y, groups: next(it)})
    h = t.fit(progress=False)
    assert h.epoch.tolist() == [0, 1, 2, 3, 4, 5, 6] and h.scripted.tolist() == seq[:7]
    assert (t.best_epoch, t.best_value, t.stopped_early) == (3, 0.5, True)
    run = tmp_path/'run'
    best = load_file(run/'best'/'model.safetensors')
    _same_weights(best, _model_tensors(run/'checkpoints'/'epoch-0003.json')) # the best checkpoint is the best epoch's
    _same_weights(best, t.model.state_dict()) # restore_best
    assert json.loads((run/'best'/'best.json').read_text()) == {'epoch': 3, 'monitor': 'scripted', 'value': 0.5}
    assert json.loads((run/'summary.json').read_text())['stopped_early'] is True


def test_loggers_read_back(tmp_path, monkeypatch):
    "One run with TensorBoard, W&B (offline) and MLflow (SQLite): each store holds the logged values."
    for k, v in _env(tmp_path).items():
        if k.startswith(('WANDB', 'XDG')): monkeypatch.setenv(k, v)
    monkeypatch.delenv('WANDB_API_KEY', raising=False)
    uri = f"sqlite:///{tmp_path/'mlflow.db'}"
    t = synth_trainer(epochs=3, out_dir=str(tmp_path), run_name='logged', loggers=('tensorboard', 'wandb', 'mlflow'),
                      tracking_uri=uri, experiment='tests')
    h = t.fit(progress=False)
    run = tmp_path/'logged'
    # TensorBoard: scalars per epoch, and the hparams run beside them
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    ea = EventAccumulator(str(run/'tensorboard')); ea.Reload()
    assert [e.step for e in ea.Scalars('valid_loss')] == [0, 1, 2]
    np.testing.assert_allclose([e.value for e in ea.Scalars('valid_loss')], h.valid_loss, rtol=1e-6)
    mux = EventMultiplexer(); mux.AddRunsFromDirectory(str(run/'tensorboard')); mux.Reload()
    hp = [r for r in mux.Runs() if r.startswith('hparams')]
    assert hp and abs(mux.Scalars(hp[0], 'hparam/best_valid_loss')[0].value - h.valid_loss.min()) < 1e-6
    # W&B offline: the run's transaction log, through `wandb leet inspect`
    wandb = [str(Path(sys.executable).with_name('wandb')), 'leet', 'inspect']
    rec = subprocess.run(wandb + ['--json', str(run/'wandb')], capture_output=True, text=True, timeout=60)
    rows = [json.loads(l) for l in rec.stdout.splitlines() if l.strip()]
    hist = [r['history']['item'] for r in rows if r.get('type') == 'history']
    np.testing.assert_allclose([r['valid_loss'] for r in hist], h.valid_loss, rtol=1e-6)
    summ = json.loads(subprocess.run(wandb + ['--summary', '--json', str(run/'wandb')], capture_output=True, text=True, timeout=60).stdout)
    assert summ['state'] == 'finished' and summ['config']['model_config.d_model'] == 8 and summ['summary']['best_epoch'] == t.best_epoch
    # MLflow: params, per-epoch metrics, artifacts and status in the SQLite store
    from mlflow import MlflowClient
    c = MlflowClient(uri)
    (r,) = c.search_runs([c.get_experiment_by_name('tests').experiment_id])
    assert r.info.status == 'FINISHED' and r.info.run_name == 'logged' and r.data.params['lr'] == '0.01'
    np.testing.assert_allclose([m.value for m in c.get_metric_history(r.info.run_id, 'valid_ic')], h.valid_ic, rtol=1e-6)
    assert {a.path for a in c.list_artifacts(r.info.run_id)} == {'config.json', 'history.json', 'best'}
    assert (tmp_path/'mlartifacts').is_dir() and not Path('mlruns.db').exists()


def _free_port():
    with socket.socket() as s: s.bind(('127.0.0.1', 0)); return s.getsockname()[1]


@pytest.mark.parametrize('rendezvous', ['standalone', 'endpoint'])
def test_ddp_two_processes(tmp_path, rendezvous):
    "torchrun, two gloo processes: each trains on half of every epoch; the ranks end with identical weights; the loss falls."
    rdzv = (['--standalone'] if rendezvous == 'standalone' else
            ['--nnodes=1', '--rdzv_backend=c10d', f'--rdzv_endpoint=127.0.0.1:{_free_port()}', '--rdzv_id=test'])
    launcher = [sys.executable, '-m', 'torch.distributed.run', *rdzv, '--nproc_per_node=2']
    cfg = {'epochs': 4, 'n_bars': 600, 'out_dir': str(tmp_path/'ddp'), 'device': 'cpu'}
    r = _run(tmp_path, cfg, tmp_path/'ddp', launcher=launcher)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    _same_weights(*(load_file(tmp_path/'ddp'/f'weights-rank{i}.safetensors') for i in (0, 1)))
    h = [json.loads((tmp_path/'ddp'/f'history-rank{i}.json').read_text()) for i in (0, 1)]
    assert h[0]['history'] == h[1]['history'] and h[0]['world_size'] == 2
    loss = h[0]['history']['train_loss']
    assert loss[-1] < loss[0] and h[0]['history']['valid_loss'][-1] < h[0]['history']['valid_loss'][0]
    single = synth_trainer(n_bars=600)
    assert h[0]['n_train_batches'] == (len(single.dls.train.dataset) // 2) // single.config.bs # a shard of each epoch (drop_last)
    assert [l.startswith('epoch') for l in r.stdout.splitlines()].count(True) == 4 # only rank 0 reports
    assert (tmp_path/'ddp'/'run'/'checkpoints'/'epoch-0003.json').exists()


def test_cross_validate_purged_oof(tmp_path):
    "Purged 5-fold on 3 assets, 3-bar labels, embargo: every labelled sample predicted once, never by a model fitted near its label window."
    df, spec = synth_data(300, n_assets=3, seed=1)
    spec = type(spec).from_dict({**spec.to_dict(), 'horizon': 3})
    config = synth_trainer().config.replace(spec=spec, epochs=2, embargo=2)
    res = cross_validate(config, df, PurgedKFold(5, horizon=3, embargo=2))
    raw = make_panel(df, spec)
    universe = SupervisedDataset(raw, config.lookback)
    assert res.oof.index.is_unique and len(res.oof) == len(universe)
    assert set(res.oof.index) == set(zip(universe.timestamps, universe.assets))
    pos = {ts: i for i, ts in enumerate(raw.timestamps)}
    for k, s in enumerate(res.splits):
        test_bars = np.array(sorted({pos[t] for t in res.predictions.query('split == @k').index.get_level_values('timestamp')}))
        for name in ('train', 'valid'): # label windows [t, t+3] of fitted or validated bars never touch a test label window
            gap = np.abs(s[name][:, None] - test_bars[None, :]).min(1)
            assert (gap > 3).all(), (k, name, s[name][gap <= 3][:5])
    assert res.metrics.n_test.sum() == len(universe)
    cpcv = cross_validate(config, df, CombinatorialPurgedCV(4, 2, horizon=3))
    assert cpcv.paths.shape == (len(universe), 3) and cpcv.paths.notna().all().all()


@pytest.mark.gpu
def test_mixed_precision_on_cuda(tmp_path):
    "On a GPU: autocast (bf16, or fp16 with a gradient scaler), a falling loss, CUDA RNG states in the checkpoint, and a resume."
    kw = dict(epochs=3, n_bars=600, device='cuda', out_dir=str(tmp_path), keep_checkpoints=5)
    t = synth_trainer(**kw)
    h = t.fit(progress=False)
    assert any(type(cb).__name__ == 'MixedPrecision' for cb in t.learner.cbs)
    assert h.valid_loss.notna().all() and h.train_loss.iloc[-1] < h.train_loss.iloc[0]
    ck = tmp_path/'run'/'checkpoints'
    assert any(k.startswith('rng.cuda.') for k in load_checkpoint(ck/'epoch-0002.json')[1])
    (ck/'epoch-0002.json').unlink() # resume from epoch 1 (GPU kernels need not be bitwise deterministic: compare within tolerance)
    h2 = synth_trainer(**kw).fit(progress=False)
    np.testing.assert_allclose(h2.valid_loss, h.valid_loss, rtol=1e-3)

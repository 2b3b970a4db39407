"""`ai_trading_framework.trainers.sweeps` across processes and servers: what a notebook cell cannot hold.

- Two worker *processes* on one SQLite study, and two on one PostgreSQL study (a throwaway cluster from
  Debian's `postgresql` package, as in tests/test_data_sources.py), run exactly the requested number of
  trials together: no trial number or parameter set twice, both workers took part.
- Pruning happens (a median pruner and a space whose low learning rates learn nothing).
- The best config file, run by the trainer in this process, reproduces the best trial's score.
- An RL sweep (tiny PPO) prunes the worse agents at their first evaluation, and its best config file reproduces its score.
- A bad space key in a sweep file fails naming the key.
PostgreSQL missing is a failure, not a skip: run `make sysdeps`. Unit tests live in nbs/32_trainers.sweeps.ipynb.
"""
import json, os, subprocess, sys, textwrap
from pathlib import Path

import numpy as np
import optuna
import pytest

from ai_trading_framework.core import ConfigError
from ai_trading_framework.trainers.config import TrainConfig
from ai_trading_framework.trainers.rl_trainer import RLTrainConfig, RLTrainer, synth_rl_data
from ai_trading_framework.trainers.supervised_trainer import SupervisedTrainer, synth_data
from ai_trading_framework.trainers.sweeps import SweepConfig, load_sweep, run_sweep, sweep_dsr, trial_sharpes

N_BARS = 300
TINY = dict(model='lstm', model_config={'d_model': 8, 'n_layers': 1}, lookback=8, bs=32, epochs=2, lr=1e-2, valid=0.2, out_dir=None)
SPACE = {'lr': {'type': 'float', 'low': 1e-3, 'high': 3e-2, 'log': True}, 'wd': {'type': 'float', 'low': 0.0, 'high': 0.1}}

# A worker: import, say it is ready, wait for the others (so every worker takes part), then run the sweep.
WORKER = textwrap.dedent('''
    import os, sys, time, pathlib, torch
    torch.set_num_threads(1)
    from ai_trading_framework.trainers.supervised_trainer import synth_data
    from ai_trading_framework.trainers.sweeps import SweepConfig, run_sweep
    cfg, ready, n = SweepConfig.load(sys.argv[1]), pathlib.Path(sys.argv[2]), int(sys.argv[3])
    df, spec = synth_data({n_bars})
    (ready/str(os.getpid())).touch()
    t0 = time.time()
    while len(list(ready.iterdir())) < n and time.time() - t0 < 120: time.sleep(0.05)
    run_sweep(cfg, df, spec, progress=False)
''').format(n_bars=N_BARS)


@pytest.fixture(scope='module')
def data():
    return synth_data(N_BARS)


def _run_workers(cfg:SweepConfig, tmp:Path, n_workers:int=2):
    "Start `n_workers` processes on the sweep `cfg`; wait for them; fail with their output if one fails."
    (tmp/'worker.py').write_text(WORKER); cfg.save(tmp/'sweep.json'); (tmp/'ready').mkdir()
    env = {**os.environ, 'OMP_NUM_THREADS': '1'}
    procs = [subprocess.Popen([sys.executable, str(tmp/'worker.py'), str(tmp/'sweep.json'), str(tmp/'ready'), str(n_workers)], cwd=tmp, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for _ in range(n_workers)]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    for p, o in zip(procs, outs): assert p.returncode == 0, f'worker failed (rc {p.returncode}):\n{o[-4000:]}'


def _check_shared(cfg:SweepConfig, n:int):
    "The study holds exactly `n` finished trials, numbered 0..n-1 with distinct params, run by every worker."
    sw = load_sweep(cfg)
    res = sw.results()
    done = res[res.state.isin(['COMPLETE', 'PRUNED'])]
    assert len(done) == n, res
    assert sorted(done.number) == list(range(n)), res # surplus trials (marked) are left out; no gap, no repeat
    params = [tuple(r) for r in done[[c for c in done.columns if c.startswith('params_')]].itertuples(index=False)]
    assert len(set(params)) == n, f'duplicate params: {params}'
    assert done.worker.nunique() == 2, f'one worker ran every trial: {done.worker.tolist()}'
    assert set(res.state) <= {'COMPLETE', 'PRUNED'}, res # no failed trial besides the surplus ones (left out)
    return sw


def test_two_workers_sqlite(tmp_path, data, one_torch_thread):
    n = 5
    cfg = SweepConfig(base=TINY, space=SPACE, n_trials=n, storage=str(tmp_path/'sweeps.db'), study_name='two-workers', pruner='none', seed=3)
    _run_workers(cfg, tmp_path)
    sw = _check_shared(cfg, n)
    # a further call finds the study full and runs nothing
    run_sweep(cfg, *data, progress=False)
    assert len(sw.results()) == n
    # the best config file reproduces the best trial's score in this process
    tc = TrainConfig.load(sw.write_best_config(tmp_path/'best.json'))
    assert tc.run_name == f'two-workers-trial-{sw.study.best_trial.number:04d}'
    t = SupervisedTrainer.from_frame(tc.replace(out_dir=None), *data)
    t.fit(progress=False)
    assert t.best_value == pytest.approx(sw.study.best_value, rel=1e-6, abs=1e-9)
    # every finished trial recorded its Sharpe: the deflated Sharpe ratio of the best one uses them all
    assert len(trial_sharpes(sw)) == n
    d = sweep_dsr(sw)
    assert d['n_trials'] == n and 0.0 <= d['dsr'] <= 1.0 and d['trials_sharpe_std'] > 0


@pytest.fixture(scope='module')
def pg_url(postgres):
    "A fresh database on the session's throwaway PostgreSQL cluster (tests/conftest.py)."
    return postgres.url('sweeps')


def test_two_workers_postgresql(tmp_path, pg_url, one_torch_thread):
    n = 4
    cfg = SweepConfig(base=TINY, space=SPACE, n_trials=n, storage=pg_url, study_name='pg-workers', pruner='none', seed=5)
    _run_workers(cfg, tmp_path)
    _check_shared(cfg, n)


def test_pruning(tmp_path, data, one_torch_thread):
    "A median pruner stops the trials of the learning rate whose first epochs are worse (two far-apart rates: one of them is a bad region)."
    base = {**TINY, 'epochs': 3}
    cfg = SweepConfig(base=base, space={'lr': {'type': 'categorical', 'choices': [3e-2, 1e-6]}}, n_trials=5, storage=str(tmp_path/'s.db'),
                      study_name='prune', pruner='median', pruner_kw={'n_startup_trials': 1, 'n_warmup_steps': 0}, sampler='random', seed=0)
    sw = run_sweep(cfg, *data, progress=False)
    res = sw.results()
    assert len(res) == 5 and set(res.state) == {'COMPLETE', 'PRUNED'}, res
    pruned = res[res.state == 'PRUNED']
    assert pruned.params_lr.nunique() == 1, res # a trial is pruned for its learning rate (the runs are deterministic)
    assert (pruned.epochs_run < 3).all() and pruned.sharpe.notna().all(), res # stopped early; its Sharpe still counts for the DSR
    for t in sw.study.get_trials(states=(optuna.trial.TrialState.PRUNED,)): # the median rule: worse than the median of the trials before it
        step, v = t.last_step, t.intermediate_values[t.last_step]
        before = [o.intermediate_values[step] for o in sw.study.trials if o.number < t.number and o.state.name == 'COMPLETE']
        assert v > np.median(before), (t.number, v, before)
    assert sw.study.best_trial.state.name == 'COMPLETE' and sweep_dsr(sw)['n_trials'] == 5


def test_bad_space_key_in_a_sweep_file(tmp_path):
    bad = {'base': TINY, 'space': {'model_config.d_model': {'type': 'int', 'low': 4, 'high': 16}, 'dropout_rate': {'type': 'float', 'low': 0, 'high': 0.5}}}
    (tmp_path/'sweep.json').write_text(json.dumps(bad))
    with pytest.raises(ConfigError, match=r"space key 'dropout_rate' is not a TrainConfig field; allowed: \['model', 'model_config'"):
        SweepConfig.load(tmp_path/'sweep.json')


def test_rl_sweep_prunes_and_best_config_reproduces(tmp_path, one_torch_thread):
    "A tiny PPO sweep over two learning rates: trials of the one whose first evaluation is worse are pruned there; the best config reproduces."
    df, spec = synth_rl_data(600)
    agent = {'encoder_config': {'d_model': 8}, 'account_dim': 4, 'net_arch': [16], 'n_steps': 32, 'batch_size': 64, 'n_epochs': 2}
    base = dict(agent_config=agent, lookback=8, episode_length=64, total_steps=768, eval_every=256, valid=0.3, out_dir=None)
    cfg = SweepConfig(base=base, kind='rl', space={'agent_config.learning_rate': {'type': 'categorical', 'choices': [3e-3, 1e-7]}}, n_trials=4,
                      storage=str(tmp_path/'rl.db'), study_name='rl', pruner='median', pruner_kw={'n_startup_trials': 1}, sampler='random', seed=0)
    assert (cfg.metric_name, cfg.study_direction) == ('valid_sharpe', 'maximize') # the RL trainer's monitor
    sw = run_sweep(cfg, df, spec, progress=False)
    res = sw.results()
    assert len(res) == 4 and set(res.state) == {'COMPLETE', 'PRUNED'}, res
    pruned = res[res.state == 'PRUNED']
    lr = 'params_agent_config.learning_rate'
    assert set(pruned[lr]) == {3e-3, 1e-7} - {sw.study.best_params['agent_config.learning_rate']} and (pruned.evals_run == 1).all(), res
    assert res.sharpe.notna().all() and sweep_dsr(sw)['n_trials'] == 4
    tc = RLTrainConfig.load(sw.write_best_config(tmp_path/'best.json'))
    t = RLTrainer.from_frame(tc, df)
    t.fit(progress=False)
    assert t.best_value == pytest.approx(sw.study.best_value, rel=1e-9)

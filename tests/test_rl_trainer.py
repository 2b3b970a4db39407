"""Multi-process and end-to-end tests of the RL trainer (`trainers.rl_trainer`): what a notebook cell cannot hold.

- a PPO training process killed with SIGKILL after a checkpoint, then resumed, ends with the same history,
  weights and best agent as an uninterrupted run (bitwise on the CPU);
- A3C with one worker resumed from a mid-run checkpoint ends equal to the uninterrupted run (what the
  notebook's decision claims), and its kept best agent, loaded and re-evaluated, reproduces the best score;
- the kept best checkpoint is the evaluation with the best validation score, for a scripted monitor;
- TensorBoard event files and an MLflow SQLite store receive every evaluation row; a pruned run
  (optuna.TrialPruned from `on_eval`) is closed as KILLED with its last checkpoint on disk;
- config keys and values from a YAML-like mapping are refused naming the key.

Everything is written under pytest's tmp_path. Tiny agents (the `synth_rl_trainer` fixture), one torch thread.
"""
import json, shutil, signal, subprocess, sys, time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from ai_trading_framework.core import ConfigError
from ai_trading_framework.rl_agents.ppo import PPOAgent
from ai_trading_framework.rl_agents.a3c import A3CAgent
from ai_trading_framework.rl_agents.market_env import TradingEnv
from ai_trading_framework.trainers.checkpoint import load_checkpoint, list_checkpoints
from ai_trading_framework.trainers.rl_trainer import RLTrainConfig, RLTrainer, synth_rl_trainer, policy_metrics

pytestmark = pytest.mark.usefixtures('one_torch_thread')
ROOT = Path(__file__).resolve().parents[1]
PPO = dict(total_steps=1024, eval_every=256, keep_checkpoints=10) # four evaluations

SCRIPT = '''
import json, sys
import torch
torch.set_num_threads(1)
from ai_trading_framework.trainers.rl_trainer import synth_rl_trainer
synth_rl_trainer(**json.loads(sys.argv[1])).fit(progress='lines')
'''


def _final(run_dir:Path) -> dict:
    "The policy weights at the end of training (the newest checkpoint's, before restore_best)."
    meta, tensors = load_checkpoint(list_checkpoints(run_dir/'checkpoints', 'eval-')[0])
    return {k: v for k, v in tensors.items() if k.startswith(('policy.', 'best.', 'opt.'))}


def _assert_same_run(a:RLTrainer, b:RLTrainer):
    "Same history (but the timings), same final and best weights, same optimiser state, same best agent on disk."
    pd.testing.assert_frame_equal(a.history.drop(columns='seconds'), b.history.drop(columns='seconds'), check_exact=True)
    fa, fb = _final(a.config.run_dir), _final(b.config.run_dir)
    assert fa.keys() == fb.keys() and any(k.startswith('opt.') for k in fa)
    for k in fa: assert torch.equal(fa[k], fb[k]), k
    for k, v in a._policy_state().items(): assert torch.equal(v, b._policy_state()[k]), k
    cls = PPOAgent if a.config.agent == 'ppo' else A3CAgent
    best = lambda t: (lambda ag: ag.model.policy if t.config.agent == 'ppo' else ag.net)(cls.load(t.config.run_dir/'best')).state_dict()
    ba, bb = best(a), best(b)
    assert ba.keys() == bb.keys() and all(torch.equal(ba[k], bb[k]) for k in ba)
    assert (a.best_step, a.best_value) == (b.best_step, b.best_value)


def test_ppo_sigkill_resume_equals_uninterrupted(tmp_path):
    cfg = dict(PPO, out_dir=str(tmp_path))
    # the killed run: a fresh interpreter, SIGKILLed as soon as its first checkpoint exists (it is then mid-way
    # through the second chunk, or writing its checkpoint: wherever it is, the resume must give the same run)
    p = subprocess.Popen([sys.executable, '-c', SCRIPT, json.dumps(dict(cfg, run_name='killed'))], cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    ck, t0 = tmp_path/'killed'/'checkpoints'/'eval-0000.json', time.monotonic()
    while not ck.exists() and p.poll() is None and time.monotonic() - t0 < 120: time.sleep(0.005)
    p.send_signal(signal.SIGKILL); out = p.communicate()[0].decode()
    assert p.returncode == -signal.SIGKILL, out
    n_done = len(list_checkpoints(tmp_path/'killed'/'checkpoints', 'eval-'))
    assert 1 <= n_done < 4 and not (tmp_path/'killed'/'summary.json').exists(), (n_done, out)

    whole = synth_rl_trainer(**cfg, run_name='whole'); whole.fit(progress=False)
    resumed = synth_rl_trainer(**cfg, run_name='killed')
    h = resumed.fit(progress=False)
    assert list(h.step) == [256, 512, 768, 1024]
    _assert_same_run(whole, resumed)
    assert json.loads((tmp_path/'killed'/'summary.json').read_text())['status'] == 'FINISHED'
    # a finished run resumed again trains nothing and ends with its best policy
    again = synth_rl_trainer(**cfg, run_name='killed')
    assert again.fit(progress=False).equals(h) and again.evaluate()['sharpe'] == h.valid_sharpe[h.step == again.best_step].item()


def test_damaged_newest_checkpoint_falls_back_to_the_one_before(tmp_path):
    t = synth_rl_trainer(total_steps=512, keep_checkpoints=5, out_dir=str(tmp_path)); h = t.fit(progress=False)
    ck = tmp_path/'rl'/'checkpoints'/'eval-0001.safetensors'
    ck.write_bytes(ck.read_bytes()[:100]) # truncated mid-write
    for f in ('summary.json', 'history.json'): (tmp_path/'rl'/f).unlink()
    again = synth_rl_trainer(total_steps=512, keep_checkpoints=5, out_dir=str(tmp_path))
    with pytest.warns(UserWarning, match='skipping damaged checkpoint eval-0001.json'): h2 = again.fit(progress=False)
    pd.testing.assert_frame_equal(h.drop(columns='seconds'), h2.drop(columns='seconds'), check_exact=True) # evaluation 2 trained again, the same

def test_resume_refuses_other_config_or_data(tmp_path):
    t = synth_rl_trainer(total_steps=256, out_dir=str(tmp_path)); t.fit(progress=False)
    with pytest.raises(ConfigError, match=r"the config differs \(seed: saved 0, now 1"):
        synth_rl_trainer(total_steps=256, out_dir=str(tmp_path), seed=1).fit(resume=True)
    with pytest.raises(ConfigError, match='it was trained on other data'):
        synth_rl_trainer(n_bars=700, total_steps=256, out_dir=str(tmp_path)).fit(resume=True)
    # a fresh start clears the old checkpoints and best agent
    synth_rl_trainer(total_steps=256, out_dir=str(tmp_path), seed=1).fit(resume=False, progress=False)
    assert json.loads((tmp_path/'rl'/'config.json').read_text())['seed'] == 1
    assert load_checkpoint(tmp_path/'rl'/'checkpoints'/'eval-0000.json')[0]['config']['seed'] == 1


def test_a3c_one_worker_resume_is_exact_and_best_reloads(tmp_path):
    cfg = dict(agent='a3c', total_steps=256, eval_every=128, keep_checkpoints=10, out_dir=str(tmp_path))
    whole = synth_rl_trainer(**cfg, run_name='whole'); h = whole.fit(progress=False)
    assert len(h) == 2 and h.step.iloc[-1] >= 256
    # a crash after the first evaluation: the run directory as it was then (first checkpoint only)
    crash = tmp_path/'crash'; shutil.copytree(tmp_path/'whole', crash)
    for f in [crash/'history.json', crash/'summary.json', *(crash/'checkpoints').glob('eval-0001.*')]: f.unlink()
    shutil.rmtree(crash/'best') # as if killed between the renames that replace best/: the resume writes it again
    resumed = synth_rl_trainer(**cfg, run_name='crash')
    assert list(resumed.fit(progress=False).step) == list(h.step)
    _assert_same_run(whole, resumed)
    # the kept best agent, loaded on its own and re-evaluated, reproduces the recorded best score
    best = json.loads((tmp_path/'whole'/'best'/'best.json').read_text())
    agent = A3CAgent.load(tmp_path/'whole'/'best')
    m = policy_metrics(TradingEnv(whole.valid, random_start=False), lambda o: agent.predict(o), whole.ppy)
    assert best['value'] == m['sharpe'] == h.valid_sharpe.max() and best['step'] == whole.best_step


def test_best_checkpoint_follows_the_monitor(tmp_path):
    # monitor the validation turnover (lower is better): the kept agent must be the lowest-turnover evaluation's
    t = synth_rl_trainer(total_steps=1024, monitor='valid_turnover', out_dir=str(tmp_path)); h = t.fit(progress=False)
    i = h.valid_turnover.idxmin()
    best = json.loads((tmp_path/'rl'/'best'/'best.json').read_text())
    assert (best['step'], best['value'], best['monitor']) == (h.step[i], h.valid_turnover[i], 'valid_turnover')
    agent = PPOAgent.load(tmp_path/'rl'/'best')
    m = policy_metrics(TradingEnv(t.valid, random_start=False), lambda o: agent.predict(o), t.ppy)
    assert m['turnover'] == h.valid_turnover[i] and m['sharpe'] == h.valid_sharpe[i]


def test_loggers_receive_every_evaluation(tmp_path):
    uri = f"sqlite:///{(tmp_path/'mlflow.db').as_posix()}"
    t = synth_rl_trainer(total_steps=512, loggers=('tensorboard', 'mlflow'), tracking_uri=uri, experiment='rl-test', out_dir=str(tmp_path))
    h = t.fit(progress=False)
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    ea = EventAccumulator(str(tmp_path/'rl'/'tensorboard')); ea.Reload()
    for col in ('valid_sharpe', 'valid_return', 'valid_max_drawdown', 'valid_turnover'):
        assert [e.step for e in ea.Scalars(col)] == [256, 512]
        np.testing.assert_allclose([e.value for e in ea.Scalars(col)], h[col], rtol=1e-6)
    from mlflow import MlflowClient
    c = MlflowClient(uri); exp = c.get_experiment_by_name('rl-test')
    (r,) = c.search_runs([exp.experiment_id])
    assert r.info.status == 'FINISHED' and r.data.params['agent'] == 'ppo' and r.data.params['total_steps'] == '512'
    hist = c.get_metric_history(r.info.run_id, 'valid_sharpe')
    assert [m.step for m in hist] == [256, 512]
    np.testing.assert_allclose([m.value for m in hist], h.valid_sharpe, rtol=1e-6)
    assert {a.path for a in c.list_artifacts(r.info.run_id)} == {'config.json', 'history.json', 'best'}


def test_pruned_run_is_killed_and_keeps_its_checkpoint(tmp_path):
    import optuna
    uri = f"sqlite:///{(tmp_path/'mlflow.db').as_posix()}"
    def prune(step, row):
        if step >= 512: raise optuna.TrialPruned(f'pruned at {step}')
    t = synth_rl_trainer(total_steps=1024, loggers=('mlflow',), tracking_uri=uri, out_dir=str(tmp_path))
    with pytest.raises(optuna.TrialPruned, match='pruned at 512'): t.fit(progress=False, on_eval=prune)
    from mlflow import MlflowClient
    c = MlflowClient(uri); (r,) = c.search_runs([c.get_experiment_by_name('ai_trading_framework').experiment_id])
    assert r.info.status == 'KILLED'
    assert [p.name for p in list_checkpoints(tmp_path/'rl'/'checkpoints', 'eval-')] == ['eval-0001.json', 'eval-0000.json']
    assert json.loads((tmp_path/'rl'/'summary.json').read_text())['status'] == 'KILLED'


def test_config_from_yaml_mapping_refuses_bad_keys_and_values():
    import yaml
    good = yaml.safe_load('agent: a3c\nagent_config: {n_workers: 2, n_steps: 8}\nenv_config: {costs: {commission_rate: 0.001}, reward: pnl}\n'
                          'total_steps: 4096\neval_every: 1024\nloggers: [mlflow]\nspec: {features: [signal]}\n')
    c = RLTrainConfig.from_dict(good)
    assert c.loggers == ('mlflow',) and c.spec.features == ('signal',) and RLTrainConfig.from_dict(c.to_dict()) == c
    for bad, msg in [({'agnt': 'ppo'}, "unknown RLTrainConfig keys ['agnt']"), ({'agent_config': {'n_step': 8}}, "unknown agent_config keys ['n_step']"),
                     ({'env_config': {'reward': 'profit'}}, "reward='profit' is unknown"), ({'total_steps': '4k'}, "total_steps must be an int >= 1, got '4k'"),
                     ({'patience': 0}, 'patience must be an int >= 1, got 0'), ({'mode': 'best'}, "mode='best' is unknown")]:
        with pytest.raises(ConfigError, match=None) as e: RLTrainConfig.from_dict({**good, **bad})
        assert msg in str(e.value), (msg, str(e.value))

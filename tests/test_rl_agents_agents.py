"""Training runs and multi-process tests of the RL agents (`rl_agents.ppo`, `rl_agents.a3c`): what a notebook cell cannot hold.

- learning: on the planted-signal market (`signal_rl_datasets`, a fixed seed), PPO and A3C each beat both a random
  and a flat policy on the held-out half, within a CI budget on the CPU;
- save, then load in a fresh interpreter: the same deterministic actions on the same observations;
- A3C: the workers' episodes overlap in time, and killing one worker mid-run raises in the parent, naming it,
  and leaves no child process behind.
"""
import json, os, signal, subprocess, sys, textwrap, time
import numpy as np
import pytest
import torch

torch.set_num_threads(1)  # small networks: on a loaded 2-core CI machine torch's thread pool costs more than it gives (A3C workers do the same)

from ai_trading_framework.rl_agents.market_env import TradingEnv
from ai_trading_framework.rl_agents.vec_env import VecTradingEnv
from ai_trading_framework.rl_agents.ppo import PPOAgent, signal_rl_datasets, episode_stats, oracle_action


@pytest.fixture(scope='module')
def market():
    "Train and held-out halves of the planted-signal market, and the oracle, flat and random Sharpe ratios on the held-out half."
    train, test = signal_rl_datasets(n_bars=2000, seed=0)
    env = TradingEnv(test, random_start=False); rng = np.random.default_rng(0)
    base = {name: episode_stats(env, f)['sharpe'] for name, f in
            dict(oracle=oracle_action, flat=lambda o: 1, random=lambda o: int(rng.integers(3))).items()}
    return train, test, base


def _observations(test, n=50):
    "The first `n` observations of the held-out half under a seeded random policy."
    env = TradingEnv(test, random_start=False); obs, _ = env.reset(seed=0); rng = np.random.default_rng(1); out = []
    for _ in range(n):
        out.append(obs); obs, *_ = env.step(int(rng.integers(3)))
    return out


def _actions_in_fresh_process(module, cls, path, test_seed):
    "Load the agent saved at `path` in a new interpreter and return its deterministic actions on `_observations`."
    code = textwrap.dedent(f'''
        import json, sys
        sys.path.insert(0, {os.path.dirname(__file__)!r})
        from test_rl_agents_agents import _observations
        from ai_trading_framework.rl_agents.ppo import signal_rl_datasets
        from {module} import {cls}
        agent = {cls}.load({str(path)!r})
        _, test = signal_rl_datasets(n_bars=2000, seed={test_seed})
        print(json.dumps([agent.predict(o, deterministic=True).tolist() for o in _observations(test)]))''')
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_ppo_learns_the_planted_signal(market):
    train, test, base = market
    t0 = time.perf_counter()
    agent = PPOAgent(VecTradingEnv(train, 8), n_steps=64, batch_size=128, n_epochs=4, learning_rate=1e-3, seed=0).learn(20_000)
    sharpe = episode_stats(TradingEnv(test, random_start=False), agent.predict)['sharpe']
    print(f"PPO held-out Sharpe {sharpe:.2f} (oracle {base['oracle']:.2f}, random {base['random']:.2f}, flat 0) in {time.perf_counter() - t0:.1f}s")
    assert sharpe > max(base['flat'], base['random']), (sharpe, base)


def test_ppo_save_load_fresh_process(market, tmp_path):
    train, test, _ = market
    agent = PPOAgent(VecTradingEnv(train, 4), encoder='lstm', n_steps=32, batch_size=64, n_epochs=2, seed=0).learn(256)
    agent.save(tmp_path)
    here = [agent.predict(o, deterministic=True).tolist() for o in _observations(test)]
    assert _actions_in_fresh_process('ai_trading_framework.rl_agents.ppo', 'PPOAgent', tmp_path, 0) == here


# ---------------------------------------------------------------- A3C
from functools import partial
from ai_trading_framework.rl_agents.a3c import A3CAgent, WorkerError, worker_overlap


def _children(pid=None):
    "Pids of the live (not zombie) child processes of `pid` (default: this one), from /proc."
    pid, out = pid or os.getpid(), []
    for d in os.listdir('/proc'):
        if not d.isdigit(): continue
        try: stat = open(f'/proc/{d}/stat').read()
        except OSError: continue
        fields = stat[stat.rindex(')') + 2:].split()  # after the command name: state, ppid, ...
        if int(fields[1]) == pid and fields[0] != 'Z': out.append(int(d))
    return out


_BEFORE = set()  # children this process already had (an earlier test's W&B service, ...): not A3C's

def _a3c_children():
    "Child processes started since the A3C test began (multiprocessing's resource tracker, if any, is not a worker)."
    return [p for p in _children() if p not in _BEFORE and 'resource_tracker' not in open(f'/proc/{p}/cmdline').read()]

@pytest.fixture(autouse=True)
def _existing_children():
    "Remember the children that exist before each test, so an orphan check sees only what the test started."
    _BEFORE.clear(); _BEFORE.update(_children())
    yield


def test_a3c_learns_the_planted_signal(market):
    train, test, base = market
    t0 = time.perf_counter()
    agent = A3CAgent(partial(TradingEnv, train), n_workers=2, n_steps=32, seed=0).learn(12_000, timeout=300)
    sharpe = episode_stats(TradingEnv(test, random_start=False), agent.predict)['sharpe']
    print(f"A3C held-out Sharpe {sharpe:.2f} (oracle {base['oracle']:.2f}, random {base['random']:.2f}, flat 0) in {time.perf_counter() - t0:.1f}s; "
          f"workers overlapped {worker_overlap(agent.episode_log):.0%} of the time")
    assert sharpe > max(base['flat'], base['random']), (sharpe, base)


def test_a3c_workers_overlap_and_save_load_fresh_process(market, tmp_path):
    train, test, _ = market
    agent = A3CAgent(partial(TradingEnv, signal_rl_datasets(n_bars=600, episode_length=32, seed=0)[0]), n_workers=2, n_steps=16, seed=0).learn(6_000, timeout=120)
    log = agent.episode_log
    assert set(log.worker) == {0, 1}, log
    w0, w1 = (log[log.worker == w] for w in (0, 1))
    # some episode of worker 0 and some episode of worker 1 were running at the same moment
    assert ((w0.start.values[:, None] < w1.end.values[None]) & (w1.start.values[None] < w0.end.values[:, None])).any()
    assert worker_overlap(log) > 0.3, worker_overlap(log)
    assert not _a3c_children()
    agent.save(tmp_path)
    here = [agent.predict(o, deterministic=True).tolist() for o in _observations(test)]
    assert _actions_in_fresh_process('ai_trading_framework.rl_agents.a3c', 'A3CAgent', tmp_path, 0) == here


def test_a3c_killed_worker_raises_and_leaves_no_process(market):
    train, _, _ = market
    agent = A3CAgent(partial(TradingEnv, train), n_workers=2, n_steps=16, seed=0)
    import threading
    def kill_one():
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until both workers run and have stepped
            ws, progress = getattr(agent, 'workers', []), getattr(agent, 'progress', None)
            if len(ws) == 2 and progress is not None and int(progress[1]) > 500:  # worker 1 is training
                os.kill(ws[1].pid, signal.SIGKILL); return
            time.sleep(0.05)
    threading.Thread(target=kill_one, daemon=True).start()
    with pytest.raises(WorkerError, match=r'A3C worker 1 \(pid \d+\) was killed by SIGKILL'):
        agent.learn(10_000_000, timeout=120)
    assert not any(p.is_alive() for p in agent.workers)
    assert not _a3c_children(), _a3c_children()


def test_a3c_worker_error_names_the_worker(market):
    train, _, _ = market
    agent = A3CAgent(partial(TradingEnv, train, reward=_failing_reward), n_workers=2, n_steps=8, seed=0)
    with pytest.raises(WorkerError, match=r'(?s)A3C worker \d \(pid \d+\) exited with code 1.*reward function'):
        agent.learn(10_000, timeout=120)
    assert not _a3c_children()


def _failing_reward(env):
    raise ValueError('this reward fails on purpose')

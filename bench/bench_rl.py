"""Benchmark of the RL agents (`rl_agents.ppo`, `rl_agents.a3c`): rollout throughput and learning quality.

One run, as `python bench/bench_rl.py` (about 5 minutes on 2 cores; `--quick` for a smoke run that writes nothing):
1. Rollout throughput: env-steps/s of SB3's `collect_rollouts` (policy forward + env steps + rollout buffer) for the
   same PPO (`MlpPolicy`, net_arch [64, 64], n_steps 128) on `VecTradingEnv(64)` (flat observation: a window of 10
   bars of `signal` + the account state) and on `DummyVecEnv` of 64 gym-anytrading `StocksEnv` (window 10, its
   two features), best of 3 after a warm-up; and the whole `learn` iteration beside it (collect + SB3's `train`
   with its defaults: 10 epochs of minibatches of 64), timed apart, to show where the time goes.
2. Learning quality: PPO (`PPOAgent`, CNN encoder) and A3C (`A3CAgent`, 2 workers) trained on the first half of the
   planted-signal market (`signal_rl_datasets`, signal_ic 0.3, seed 0), their Sharpe ratio on the held-out second
   half as a fraction of the oracle policy's (long when the last signal is positive, short otherwise), with wall time.
Torch runs on one thread (A3C's workers do anyway). Writes bench/results/rl.json and the `rl` section of bench/RESULTS.md.
"""
import sys, time, warnings
from functools import partial
from pathlib import Path
import numpy as np, pandas as pd
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results, md_table
from gym_anytrading.envs import StocksEnv
from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import DummyVecEnv
from ai_trading_framework.rl_agents.market_env import TradingEnv
from ai_trading_framework.rl_agents.vec_env import VecTradingEnv, SB3VecTradingEnv
from ai_trading_framework.rl_agents.ppo import PPOAgent, signal_rl_datasets, episode_stats, oracle_action
from ai_trading_framework.rl_agents.a3c import A3CAgent, worker_overlap

N_ENVS, N_STEPS, WINDOW = 64, 128, 10
torch.set_num_threads(1)  # small networks: one thread each (on a loaded 2-core machine torch's thread pool spins and costs 10-50x)


def rollout_rates(venv, repeat=3):
    "Env-steps/s of `collect_rollouts` (best of `repeat` after a warm-up), and seconds of one collect and one `train`."
    model = PPO('MlpPolicy', venv, n_steps=N_STEPS, policy_kwargs=dict(net_arch=[64, 64]), seed=0, device='cpu')
    _, cb = model._setup_learn(10**9, None); cb.on_training_start(locals(), globals())
    collect = lambda: model.collect_rollouts(model.env, cb, model.rollout_buffer, n_rollout_steps=N_STEPS)
    collect(); best = np.inf
    for _ in range(repeat):
        t0 = time.perf_counter(); collect(); best = min(best, time.perf_counter() - t0)
    t0 = time.perf_counter(); model.train(); train_s = time.perf_counter() - t0
    return N_ENVS * N_STEPS / best, best, train_s


def throughput(quick):
    train, _ = signal_rl_datasets(n_bars=4000, lookback=WINDOW, episode_length=1000, seed=0)
    close = train.panel.prices[:, 0, 1].astype(float)
    ours = SB3VecTradingEnv(VecTradingEnv(train, N_ENVS, flatten_obs=True))
    peer = DummyVecEnv([lambda: StocksEnv(pd.DataFrame({'Close': close}), WINDOW, (WINDOW, len(close))) for _ in range(N_ENVS)])
    r = {}
    for name, venv in (('ours', ours), ('gym_anytrading', peer)):
        rate, collect_s, train_s = rollout_rates(venv, 1 if quick else 3)
        r[f'{name}_collect_steps_per_s'] = rate; r[f'{name}_collect_s'] = collect_s; r[f'{name}_train_s'] = train_s
        r[f'{name}_learn_steps_per_s'] = N_ENVS * N_STEPS / (collect_s + train_s)
    r['x_sb3_gym_anytrading'] = r['ours_collect_steps_per_s'] / r['gym_anytrading_collect_steps_per_s']
    r['x_learn_gym_anytrading'] = r['ours_learn_steps_per_s'] / r['gym_anytrading_learn_steps_per_s']
    return r


def quality(quick):
    train, test = signal_rl_datasets(n_bars=2000, seed=0)
    env = TradingEnv(test, random_start=False); r = {'oracle_sharpe': episode_stats(env, oracle_action)['sharpe']}
    t0 = time.perf_counter()
    ppo = PPOAgent(VecTradingEnv(train, 8), n_steps=64, batch_size=128, n_epochs=4, learning_rate=1e-3, gamma=0.9, seed=0)
    ppo.learn(5_000 if quick else 60_000)
    r['ppo_wall_s'] = time.perf_counter() - t0; r['ppo_sharpe'] = episode_stats(env, ppo.predict)['sharpe']
    t0 = time.perf_counter()
    a3c = A3CAgent(partial(TradingEnv, train), n_workers=2, n_steps=32, seed=0).learn(5_000 if quick else 40_000, timeout=600)
    r['a3c_wall_s'] = time.perf_counter() - t0; r['a3c_sharpe'] = episode_stats(env, a3c.predict)['sharpe']
    r['a3c_worker_overlap'] = worker_overlap(a3c.episode_log)
    r['ppo_oracle_fraction'] = r['ppo_sharpe'] / r['oracle_sharpe']; r['a3c_oracle_fraction'] = r['a3c_sharpe'] / r['oracle_sharpe']
    return r


def report(r):
    rows = [dict(case=f'collect_rollouts, {N_ENVS} envs x n_steps {N_STEPS}', ours=r['ours_collect_steps_per_s'],
                 peer=r['gym_anytrading_collect_steps_per_s'], ratio=r['x_sb3_gym_anytrading'], target='>= 2x'),
            dict(case='whole learn iteration (collect + train)', ours=r['ours_learn_steps_per_s'], peer=r['gym_anytrading_learn_steps_per_s'],
                 ratio=r['x_learn_gym_anytrading'], target='-')]
    t = md_table(rows, ['case', 'ours', 'peer', 'ratio', 'target']) + '\n\n(env-steps/s; peer: DummyVecEnv of gym-anytrading StocksEnv)\n\n'
    rows = [dict(agent=a.upper(), sharpe=r[f'{a}_sharpe'], oracle=r['oracle_sharpe'], fraction=r[f'{a}_oracle_fraction'], wall_s=r[f'{a}_wall_s'],
                 target='>= 0.5 within 300 s') for a in ('ppo', 'a3c')]
    return t + md_table(rows, ['agent', 'sharpe', 'oracle', 'fraction', 'wall_s', 'target'])


def notes(r):
    "Where the time of a learn iteration goes, and what the learning rows measure."
    share = lambda k: r[f'{k}_train_s'] / (r[f'{k}_collect_s'] + r[f'{k}_train_s'])
    return (f"Where the time of a learn iteration goes ({N_ENVS * N_STEPS} steps, then SB3's train with its defaults: 10 epochs of minibatches of 64): "
            f"ours {r['ours_collect_s']:.2f} s collecting and {r['ours_train_s']:.2f} s training ({share('ours'):.0%} in train), gym-anytrading "
            f"{r['gym_anytrading_collect_s']:.2f} s and {r['gym_anytrading_train_s']:.2f} s ({share('gym_anytrading'):.0%} in train): the gradient "
            'updates dominate the whole learn throughput. Train does the same work in both (same network, same number of minibatches of '
            'about the same width), so a train time that differs between the two is the load of the shared machine, and the whole-learn '
            'ratio says little about the env. Learning: held-out half of the '
            "planted-signal market (signal_ic 0.3), no costs; the oracle holds the sign of the last signal. A3C's two workers were both "
            f"inside an episode {r['a3c_worker_overlap']:.0%} of its wall time.")


if __name__ == '__main__':
    quick = '--quick' in sys.argv
    with warnings.catch_warnings():
        warnings.simplefilter('ignore')
        r = {**throughput(quick), **quality(quick)}
    r.update(n_envs=N_ENVS, n_steps=N_STEPS, window=WINDOW)
    if quick: print(report(r)); print(r)
    else: print(write_results('rl', r, report(r), notes(r))); print(report(r))

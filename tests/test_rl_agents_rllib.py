"""The registered trading env runs unchanged under Ray RLlib: a local Ray runtime (2 CPUs, no dashboard) trains RLlib's
PPO on `TradingEnv` for two iterations.

Ray is an optional extra (`pip install -e ".[rllib]"`, see settings.ini `rllib_requirements`): `ray[rllib]` itself
pins an older gymnasium, so the extra lists ray and the rllib extra's other dependencies. Without ray this file is
skipped with that reason (shown by `pytest -rs`); CI installs the extra, so there it runs.
"""
import importlib.util
import numpy as np
import pytest

pytestmark = pytest.mark.skipif(importlib.util.find_spec('ray') is None,
                                reason='ray is not installed: pip install -e ".[rllib]" (ray==2.60.0 dm-tree lz4 ormsgpack tensorboardX)')


def make_trading_env(env_config):
    "The env creator Ray calls in each env runner: the planted-signal market's training half, flat observation."
    from ai_trading_framework.rl_agents.market_env import TradingEnv
    from ai_trading_framework.rl_agents.ppo import signal_rl_datasets
    train, _ = signal_rl_datasets(n_bars=env_config.get('n_bars', 600), seed=env_config.get('seed', 0))
    return TradingEnv(train, flatten_obs=True)


@pytest.fixture(scope='module')
def ray_runtime():
    import ray
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_rllib_ppo_trains_on_trading_env(ray_runtime):
    from ray.tune.registry import register_env
    from ray.rllib.algorithms.ppo import PPOConfig
    import sys, ray.cloudpickle
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # remote env runners get the creator by value (tests/ is not a package)
    register_env('atf-trading-v0', make_trading_env)
    config = (PPOConfig().environment('atf-trading-v0', env_config={'n_bars': 600, 'seed': 0})
              .env_runners(num_env_runners=0, rollout_fragment_length=128)  # sampling in the driver's local runner: no actor start-up in CI
              .training(train_batch_size=256, minibatch_size=64, num_epochs=2, lr=3e-4)
              .debugging(seed=0))
    algo = config.build_algo()
    try:
        results = [algo.train() for _ in range(2)]
    finally: algo.stop()
    steps = results[-1]['env_runners']['num_env_steps_sampled_lifetime']
    assert steps >= 2 * 256, results[-1]['env_runners']
    assert np.isfinite(results[-1]['learners']['default_policy']['total_loss'])

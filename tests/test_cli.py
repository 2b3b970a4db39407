"""The console scripts end to end: each installed entry point (`atf_train_supervised`, `atf_train_rl`, `atf_sweep`)
runs each example config of configs/ with a tiny budget set by `--set`, in a subprocess, and the run folders hold the
resolved config (equal to the file plus the overrides), run_info.json (seed, commit, versions) and the model; bad
overrides fail with exit status 2 and one line naming the key.

Budget: the subprocesses import torch (and SB3, Optuna) each time, so configs of one script share one process where
the overrides allow it (the script takes several configs).
"""
import json, os, subprocess, sys
from pathlib import Path
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT/'configs'
BIN = Path(sys.executable).parent
SUPERVISED = ['supervised_lstm', 'supervised_gru', 'supervised_cnn', 'supervised_tcn', 'supervised_transformer', 'supervised_multi_transformer']
TINY_DATA = ['data.synthetic.n_bars=300']
TINY_SUPERVISED = ['train.epochs=1', 'train.bs=64', 'train.lookback=8']
TINY_RL = ['train.total_steps=128', 'train.eval_every=128', 'train.lookback=8', 'train.episode_length=32', 'train.agent_config.encoder_config.d_model=8']
ENV = {**os.environ, 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1', 'PYTHONWARNINGS': 'ignore'} # tiny models: one thread each


def _script(name:str) -> str:
    p = BIN/name
    if not p.exists(): pytest.fail(f'console script {name} is not installed in {BIN}: `pip install -e .` installs it (settings.ini console_scripts)')
    return str(p)


def run(name:str, configs:list, overrides:list, cwd:Path, *extra, timeout=300) -> subprocess.CompletedProcess:
    "Run console script `name` on config files (names in configs/ or paths) with `--set` overrides, in `cwd`."
    paths = [str(c if isinstance(c, Path) else CONFIGS/f'{c}.yaml') for c in configs]
    args = [_script(name), *paths, *[a for o in overrides for a in ('--set', o)], '--progress', 'lines', *extra]
    return subprocess.run(args, cwd=cwd, env=ENV, capture_output=True, text=True, timeout=timeout)


def _ok(r:subprocess.CompletedProcess):
    assert r.returncode == 0, f'exit status {r.returncode}\nstdout:\n{r.stdout[-3000:]}\nstderr:\n{r.stderr[-3000:]}'


@pytest.fixture(scope='module')
def cli():
    "The cli module (its `load_config` resolves the expected configs), imported once."
    from ai_trading_framework import cli
    return cli


@pytest.fixture(scope='module')
def head():
    "The checkout's commit, which run_info.json must record."
    r = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=ROOT, capture_output=True, text=True)
    if r.returncode: pytest.fail(f'the tests run from a git checkout (run_info records its commit): {r.stderr.strip()}')
    return r.stdout.strip()


def check_run(cli, run_dir:Path, config:Path, overrides:list, kind:str, head:str) -> dict:
    "The record files of one run: the resolved config is the file plus the overrides, run_info has seed, commit and versions."
    assert run_dir.is_dir(), f'no run folder {run_dir}; found {sorted(p.name for p in run_dir.parent.iterdir())}'
    resolved = yaml.safe_load((run_dir/'resolved_config.yaml').read_text())
    assert resolved == json.loads(json.dumps(cli.load_config(config, overrides, kind)))
    assert cli.apply_overrides(resolved, overrides) == resolved, f'the resolved config does not hold the overrides {overrides}'
    assert json.loads(json.dumps(cli.load_config(run_dir/'resolved_config.yaml', kind=kind))) == resolved # it reruns as it is
    info = json.loads((run_dir/'run_info.json').read_text())
    assert info['status'] == 'FINISHED', info
    assert info['seed'] == resolved['sweep' if kind == 'sweep' else 'train']['seed'] == 0
    assert info['git']['commit'] == head and info['config_git']['commit'] == head
    for lib in ('python', 'ai_trading_framework', 'torch', 'numpy', 'pandas', 'fastai', 'stable_baselines3', 'optuna', 'mlflow'): assert info['versions'][lib], lib
    assert info['command'][0] == {'supervised': 'atf_train_supervised', 'rl': 'atf_train_rl', 'sweep': 'atf_sweep'}[kind]
    assert info['data']['rows'] > 0 and len(info['data']['sha256']) == 64 and info['end'] >= info['start']
    return resolved


def test_every_architecture_has_an_example_config(cli):
    from ai_trading_framework.models.core import list_models
    models = {cli.load_config(CONFIGS/f'{c}.yaml')['train']['model'] for c in SUPERVISED}
    assert models == set(list_models()), f'configs/ lacks an example for {sorted(set(list_models()) - models)}'


def test_supervised_configs(tmp_path, cli, head):
    over = TINY_DATA + TINY_SUPERVISED + [f'train.out_dir={tmp_path}/runs']
    r = run('atf_train_supervised', SUPERVISED, over, tmp_path)
    _ok(r)
    for c in SUPERVISED:
        d = tmp_path/'runs'/c
        res = check_run(cli, d, CONFIGS/f'{c}.yaml', over, 'supervised', head)
        assert res['train']['epochs'] == 1 and res['data']['synthetic']['n_bars'] == 300
        assert len(json.loads((d/'history.json').read_text())) == 1
        assert (d/'best'/'model.safetensors').stat().st_size > 0 and (d/'config.json').exists() and list((d/'checkpoints').iterdir())
        assert {'loss', 'rank_ic'} <= set(json.loads((d/'test_metrics.json').read_text())) # the test block's metrics
        assert f'{c}.yaml done -> ' in r.stdout
    assert not (tmp_path/'runs.db').exists() and not list(CONFIGS.glob('**/*.db')) # nothing written beside the configs


def test_supervised_csv(tmp_path, cli, head):
    over = TINY_SUPERVISED + [f'train.out_dir={tmp_path}/runs']
    _ok(run('atf_train_supervised', ['supervised_csv'], over, tmp_path))
    res = check_run(cli, tmp_path/'runs'/'supervised_csv', CONFIGS/'supervised_csv.yaml', over, 'supervised', head)
    assert res['data']['csv']['path'] == str((CONFIGS/'data'/'ohlcv_daily.csv').resolve()) # relative to the config's folder
    info = json.loads((tmp_path/'runs'/'supervised_csv'/'run_info.json').read_text())
    assert info['data']['columns'][:6] == ['open', 'high', 'low', 'close', 'adj_close', 'volume'] # vendor names mapped


def test_sample_csv_is_reproducible():
    "configs/data/ohlcv_daily.csv is exactly what its documented script writes."
    sys.path.insert(0, str(CONFIGS/'data'))
    try: import make_sample_csv
    finally: sys.path.pop(0)
    text = (CONFIGS/'data'/'ohlcv_daily.csv').read_text()
    assert text == make_sample_csv.sample_csv_text()
    assert text.splitlines()[0] == 'Date,Open,High,Low,Close,Adj Close,Volume' and len(text.splitlines()) == 601


@pytest.mark.parametrize('config,extra', [('rl_ppo', ['train.agent_config.n_steps=32', 'train.agent_config.batch_size=64']),
                                          ('rl_a3c', ['train.agent_config.n_workers=1', 'train.agent_config.n_steps=16', 'train.total_steps=64', 'train.eval_every=64'])])
def test_rl_configs(tmp_path, cli, head, config, extra):
    over = TINY_DATA + TINY_RL + extra + [f'train.out_dir={tmp_path}/runs']
    _ok(run('atf_train_rl', [config], over, tmp_path))
    d = tmp_path/'runs'/config
    res = check_run(cli, d, CONFIGS/f'{config}.yaml', over, 'rl', head)
    steps = res['train']['total_steps']
    assert steps == (128 if config == 'rl_ppo' else 64) and res['train']['agent'] == config[3:]
    hist = json.loads((d/'history.json').read_text())
    assert len(hist) == 1 and hist[0]['step'] >= steps
    assert list((d/'checkpoints').iterdir()) and (d/'config.json').exists()
    assert {'return', 'sharpe', 'turnover'} <= set(json.loads((d/'test_metrics.json').read_text()))


@pytest.mark.parametrize('config,extra', [
    ('sweep_supervised', TINY_SUPERVISED + ['train.model_config.d_model=8', 'sweep.space.model_config.d_model.choices=[8, 16]', 'sweep.space.lookback.high=32',
                          'sweep.trial_runs=true']),
    ('sweep_rl', TINY_RL + ['train.agent_config.n_steps=32', 'train.agent_config.batch_size=64'])])
def test_sweep_configs(tmp_path, cli, head, config, extra):
    over = TINY_DATA + extra + ['sweep.n_trials=2', f'sweep.storage={tmp_path}/sweeps.db', f'sweep.out_dir={tmp_path}/sweeps', f'train.out_dir={tmp_path}/runs']
    _ok(run('atf_sweep', [config], over, tmp_path))
    d = tmp_path/'sweeps'/config
    res = check_run(cli, d, CONFIGS/f'{config}.yaml', over, 'sweep', head)
    assert res['sweep']['n_trials'] == 2
    results = (d/'results.csv').read_text().splitlines()
    assert len(results) == 3, results # header + 2 trials
    best = yaml.safe_load((d/'best_run.yaml').read_text())
    kind = res['sweep']['kind']
    assert best['train']['run_name'] == f'{config}-best' and best['data'] == res['data']
    cli.load_config(d/'best_run.yaml', kind=kind) # the best trial's config is a valid config of the training script
    trial_runs = sorted(p.name for p in (tmp_path/'runs').glob(f'{config}-trial-*'))
    assert trial_runs == ([f'{config}-trial-0000', f'{config}-trial-0001'] if res['sweep']['trial_runs'] else [])


@pytest.mark.parametrize('script,config,override,named', [
    ('atf_train_supervised', 'supervised_lstm', 'train.epochs=-1', 'train.epochs must be an int >= 1, got -1'),
    ('atf_train_supervised', 'supervised_lstm', 'train.modle=lstm', "unknown key 'train.modle'; allowed keys under 'train': ['model'"),
    ('atf_train_supervised', 'supervised_lstm', 'train.model=lstmx', "train.model='lstmx' is unknown; choose one of ['cnn'"),
    ('atf_train_rl', 'rl_ppo', 'train.agent_config.encoder_config.d_modle=8', "unknown key 'train.agent_config.encoder_config.d_modle'"),
    ('atf_sweep', 'sweep_supervised', 'sweep.pruner=never', "sweep.pruner='never' is unknown; choose one of ['median', 'hyperband', 'none']"),
])
def test_bad_override_names_the_key(tmp_path, script, config, override, named):
    r = run(script, [config], [override, f'train.out_dir={tmp_path}/runs'], tmp_path, timeout=120)
    assert r.returncode == 2, (r.returncode, r.stdout[-2000:], r.stderr[-2000:])
    assert r.stderr.strip().splitlines() == [r.stderr.strip()] and r.stderr.startswith(f'{script}: error: '), r.stderr
    assert named in r.stderr and 'Traceback' not in r.stderr
    assert not (tmp_path/'runs').exists() # refused before anything ran


def test_bad_files(tmp_path):
    r = run('atf_train_supervised', [tmp_path/'missing.yaml'], [], tmp_path, timeout=120)
    assert r.returncode == 2 and "missing.yaml' does not exist" in r.stderr
    (tmp_path/'c.yaml').write_text((CONFIGS/'supervised_csv.yaml').read_text().replace('data/ohlcv_daily.csv', 'data/nowhere.csv'))
    r = run('atf_train_supervised', [tmp_path/'c.yaml'], [], tmp_path, timeout=120)
    assert r.returncode == 2 and "data.csv.path: 'data/nowhere.csv' does not exist" in r.stderr, r.stderr


def test_scripts_wrap_the_console_scripts(tmp_path, cli):
    "scripts/train_rl.py (and its siblings) take the console scripts' arguments: the printed config is the resolved one."
    for script, config, kind in (('train_rl.py', 'rl_ppo', 'rl'), ('train_supervised.py', 'supervised_gru', 'supervised')):
        r = subprocess.run([sys.executable, str(ROOT/'scripts'/script), str(CONFIGS/f'{config}.yaml'), '--print-config', '--set', 'train.seed=3'],
                           cwd=tmp_path, env=ENV, capture_output=True, text=True, timeout=120)
        _ok(r)
        assert yaml.safe_load(r.stdout) == json.loads(json.dumps(cli.load_config(CONFIGS/f'{config}.yaml', ['train.seed=3'], kind)))
    r = subprocess.run([_script('atf_sweep'), '--help'], env=ENV, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0 and '--set KEY=VALUE' in r.stdout and 'configs/sweep_supervised.yaml' in r.stdout

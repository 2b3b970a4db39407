"""Model manager (40_manager) across processes and against tampering: a pipeline saved in one process predicts the
same in a fresh one; 4 processes x 25 saves to one SQLite store give 100 distinct, loadable, intact versions; damaged,
planted or escaping files are refused before anything runs; an online update beats its parent after a regime shift.

Run: bash tools/with_tmp.sh .venv/bin/python -m pytest tests/test_model_manager.py -x -q
"""
import json, os, pickle, subprocess, sys, textwrap
from pathlib import Path
import numpy as np
import pandas as pd
import pytest
import torch

from ai_trading_framework.features import FeatureSpec
from ai_trading_framework.models.core import create_model
from ai_trading_framework.model_manager import ModelManager, Pipeline, apply_steps, shifted_market
from ai_trading_framework.artifacts import PipelineError, write_manifest, MANIFEST, _entry
from ai_trading_framework.synthetic import synthetic_market

ROOT = Path(__file__).resolve().parents[1]
STEPS = [{'step': 'returns', 'periods': [1, 5]}]
SPEC = FeatureSpec(features=['signal', 'ret_1', 'ret_5'], target='return', horizon=1)


def _run(code: str, cwd, timeout=300) -> str:
    "Run `code` in a fresh Python process (the repository on its path); its stdout, or a failure with its stderr."
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1', 'MKL_NUM_THREADS': '1'}
    r = subprocess.run([sys.executable, '-c', textwrap.dedent(code)], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    if r.returncode != 0: pytest.fail(f'subprocess failed ({r.returncode}):\n{r.stderr[-3000:]}')
    return r.stdout


@pytest.fixture(scope='module')
def trained(tmp_path_factory, one_torch_thread):
    "A tiny LSTM trained on synthetic bars (features from feature steps), its pipeline, and a store holding it as version 1."
    from ai_trading_framework.trainers.config import TrainConfig
    from ai_trading_framework.trainers.supervised_trainer import SupervisedTrainer
    d = tmp_path_factory.mktemp('store')
    bars = synthetic_market(400, seed=0, signal_ic=0.3)
    cfg = TrainConfig(model='lstm', model_config={'d_model': 8, 'n_layers': 1}, lookback=8, bs=32, epochs=1, lr=1e-2, valid=0.2,
                      out_dir=None, spec=SPEC, seed=0)
    t = SupervisedTrainer.from_frame(cfg, apply_steps(bars, STEPS).dropna()); t.fit(progress=False)
    mm = ModelManager(f'sqlite:///{d}/mlruns.db')
    pipe = Pipeline.from_trainer(t, steps=STEPS)
    mv = mm.save('rt', pipe)
    return dict(dir=d, mm=mm, pipe=pipe, mv=mv, bars=bars, trainer=t)


def test_round_trip_fresh_process(trained):
    "Save, then load in a fresh process by version and by alias: identical predictions on raw bars with user column names."
    d, mm, bars = trained['dir'], trained['mm'], trained['bars']
    mm.set_alias('rt', 'production', trained['mv'].version)
    raw = bars.rename(columns={c: c.capitalize() for c in ('open', 'high', 'low', 'close', 'volume')}).reset_index().rename(columns={'timestamp': 'Date'})
    raw.to_csv(d/'bars.csv', index=False)
    want = trained['pipe'].predict(raw)
    from ai_trading_framework.trainers.evaluation import predict
    np.testing.assert_array_equal(want.to_numpy(), predict(trained['trainer'], apply_steps(bars, STEPS).dropna()).to_numpy())
    out = _run(f"""
        import json, pandas as pd
        from ai_trading_framework.model_manager import ModelManager
        mm = ModelManager('sqlite:///{d}/mlruns.db')
        raw = pd.read_csv('{d}/bars.csv')
        a = mm.load('rt', version=1).predict(raw); b = mm.load('rt', alias='production').predict(raw)
        print(json.dumps({{'a': a.tolist(), 'b': b.tolist(), 'index': [str(i) for i in a.index]}}))
    """, d)
    got = json.loads(out.strip().splitlines()[-1])
    assert got['a'] == want.tolist() and got['b'] == want.tolist() # exact float equality through JSON's repr round trip
    assert got['index'] == [str(i) for i in want.index]


def test_bars_that_do_not_match(trained):
    "A missing column and another bar frequency are named in the error."
    p, bars = trained['pipe'], trained['bars']
    with pytest.raises(Exception, match=r"needs column 'close'"): p.predict(bars.drop(columns='close'))
    with pytest.raises(Exception, match=r"lack column\(s\) \['signal'\]"): p.predict(bars.drop(columns='signal'))
    with pytest.raises(Exception, match='another frequency'): p.predict(bars.resample('W').last())


WORKER = """
    import json, sys, torch
    from ai_trading_framework.features import FeatureSpec
    from ai_trading_framework.models.core import create_model
    from ai_trading_framework.model_manager import ModelManager, Pipeline
    w = int(sys.argv[1]) if len(sys.argv) > 1 else {w}
    mm = ModelManager('sqlite:///{db}')
    out = []
    for j in range(25):
        torch.manual_seed(1000 * w + j)
        m = create_model('lstm', {{'lookback': 4, 'n_features': 1}}, 'regression', {{'d_model': 4, 'n_layers': 1}}, device='cpu')
        mv = mm.save('conc', Pipeline(FeatureSpec(['signal']), 4, model=m), tags={{'worker': str(w), 'j': str(j)}})
        out.append(mv.version)
    print(json.dumps(out))
"""


def test_four_processes_save_100_versions(tmp_path):
    "4 processes x 25 saves to one SQLite store: versions 1..100, each loadable and holding the weights its writer saved."
    db = tmp_path/'mlruns.db'
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'OMP_NUM_THREADS': '1'}
    procs = [subprocess.Popen([sys.executable, '-c', textwrap.dedent(WORKER.format(w=w, db=db))], cwd=tmp_path, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(4)]
    outs = [p.communicate(timeout=300) for p in procs]
    for p, (o, e) in zip(procs, outs):
        if p.returncode != 0: pytest.fail(f'a writer failed:\n{e[-3000:]}')
    got = sorted(v for o, _ in outs for v in json.loads(o.strip().splitlines()[-1]))
    assert got == list(range(1, 101))
    mm = ModelManager(f'sqlite:///{db}')
    assert mm.list_models().set_index('name').loc['conc', 'n_versions'] == 100
    for mv in mm.client.search_model_versions("name = 'conc'"):
        w, j = int(mv.tags['worker']), int(mv.tags['j'])
        torch.manual_seed(1000 * w + j)
        m = create_model('lstm', {'lookback': 4, 'n_features': 1}, 'regression', {'d_model': 4, 'n_layers': 1}, device='cpu')
        loaded = mm.load('conc', version=int(mv.version)).model.state_dict()
        assert all(torch.equal(loaded[k], v) for k, v in m.state_dict().items()), f'version {mv.version} holds other weights'


class _Payload:
    "Pickled, it creates the file `path` when unpickled: proof that something ran."
    def __init__(self, path): self.path = path
    def __reduce__(self): return (open, (self.path, 'w'))


def _fresh(trained, tmp_path, name):
    "A copy of the trained pipeline saved as a new version; the version and its local folder."
    mm = trained['mm']; mv = mm.save(name, trained['pipe'])
    return mm, mv, Path(mv.source)


def test_flipped_weights_byte_is_refused(trained, tmp_path):
    mm, mv, src = _fresh(trained, tmp_path, 'tamper-a')
    b = bytearray((src/'model.safetensors').read_bytes()); b[-5] ^= 0x01; (src/'model.safetensors').write_bytes(bytes(b))
    with pytest.raises(PipelineError, match=r"'model.safetensors' .* has \d+ bytes, the manifest says \d+ with another digest"): mm.load('tamper-a')


def test_truncated_config_is_refused(trained, tmp_path):
    mm, mv, src = _fresh(trained, tmp_path, 'tamper-b')
    p = src/'pipeline.json'; p.write_bytes(p.read_bytes()[:100])
    with pytest.raises(PipelineError, match=r"'pipeline.json' .* truncated, changed or replaced"): mm.load('tamper-b')
    (src/MANIFEST).write_bytes((src/MANIFEST).read_bytes()[:-20])
    with pytest.raises(PipelineError, match=r'manifest.json.* not valid JSON'): mm.load('tamper-b')


def test_planted_pickle_never_runs(trained, tmp_path):
    """A pickle beside the files, and a pickle in place of the weights with a manifest rewritten to match: refused (by the registry's
    record of the manifest, and without it by the safetensors parser), and nothing ran."""
    marker = tmp_path/'pwned'
    mm, mv, src = _fresh(trained, tmp_path, 'tamper-c')
    (src/'extra.pkl').write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(PipelineError, match=r"holds file\(s\) \['extra.pkl'\] that its manifest does not list"): mm.load('tamper-c')
    (src/'extra.pkl').unlink()
    (src/'model.safetensors').write_bytes(pickle.dumps(_Payload(str(marker)))) # torch.load would run this
    entries = json.loads((src/MANIFEST).read_text())['files']; entries['model.safetensors'] = _entry(src/'model.safetensors')
    write_manifest(src, entries) # an attacker who also rewrites the manifest
    with pytest.raises(PipelineError, match=r"the manifest of .* is not the one recorded for it: it has digest blake3:\w+, the record says blake3:\w+"):
        mm.load('tamper-c')
    with pytest.raises(PipelineError, match='model.safetensors .* is not a readable safetensors file'): Pipeline.load(src) # no record to check against
    assert not marker.exists()


def test_escaping_names_are_refused(trained, tmp_path):
    """A manifest naming ../ or an absolute path, or a file reached through a symlink, is refused before any file is read
    (the rewritten manifest is refused by the registry first; the folder's own check refuses the names too)."""
    mm, mv, src = _fresh(trained, tmp_path, 'tamper-d')
    entries = json.loads((src/MANIFEST).read_text())['files']
    for bad in ('../../outside.json', '/etc/passwd'):
        write_manifest(src, {**entries, bad: {'bytes': 1, 'blake3': '0' * 64}})
        with pytest.raises(PipelineError, match='is not the one recorded for it'): mm.load('tamper-d')
        with pytest.raises(PipelineError, match='unsafe artifact name'): Pipeline.load(src)
    write_manifest(src, entries) # the same entries: the registered manifest again
    real = tmp_path/'elsewhere.json'; real.write_bytes((src/'normalizer.json').read_bytes())
    (src/'normalizer.json').unlink(); (src/'normalizer.json').symlink_to(real)
    with pytest.raises(PipelineError, match='symbolic link'): mm.load('tamper-d')


def test_online_update_beats_parent_after_regime_shift(tmp_path, one_torch_thread):
    "Trained before the signal's sign flips, updated on the first new-regime bars: the child's IC on later new-regime bars beats the parent's."
    from ai_trading_framework.trainers.config import TrainConfig
    from ai_trading_framework.trainers.supervised_trainer import SupervisedTrainer
    bars = shifted_market(600, 900, ic_before=0.4, ic_after=-0.4, seed=3)
    cfg = TrainConfig(model='lstm', model_config={'d_model': 8, 'n_layers': 1}, lookback=8, bs=32, epochs=4, lr=1e-2, valid=0.2,
                      out_dir=None, spec=SPEC, seed=0)
    t = SupervisedTrainer.from_frame(cfg, apply_steps(bars.iloc[:600], STEPS).dropna()); t.fit(progress=False)
    mm = ModelManager(f'sqlite:///{tmp_path}/mlruns.db')
    parent = mm.save('shift', Pipeline.from_trainer(t, steps=STEPS))
    child = mm.update('shift', bars.iloc[600:1200], epochs=4, lr=5e-3)
    held = bars.iloc[1200 - 20:] # later bars of the new regime (20 bars of warm-up history)
    nxt = np.log(held.close).diff().shift(-1) # the return each prediction is about
    def ic(p): s = p.predict(held); return float(np.corrcoef(s.to_numpy()[:-1], nxt.loc[s.index].to_numpy()[:-1])[0, 1])
    ic_parent, ic_child = ic(mm.load('shift', parent.version)), ic(mm.load('shift', child.version))
    assert ic_parent < 0 < ic_child, (ic_parent, ic_child)
    lin = mm.lineage('shift', child.version)
    assert lin.version.tolist() == [2, 1] and lin.parent_version.iloc[0] == 1
    assert lin.data_start.iloc[0] > lin.data_end.iloc[1] # the child was trained on bars after the parent's
    m = mm.versions('shift').loc[child.version]
    assert m['metric.update_valid_ic'] > m['metric.parent_valid_ic']


@pytest.mark.parametrize('algo', ['ppo', 'a3c'])
def test_agent_pipeline_through_the_registry(algo, tmp_path, one_torch_thread):
    "An agent's pipeline (policy config + weights, env options, spec): loaded from the store, the same positions on raw bars."
    import functools
    from ai_trading_framework.rl_agents.market_env import TradingEnv
    from ai_trading_framework.rl_agents.ppo import PPOAgent, signal_rl_datasets
    from ai_trading_framework.rl_agents.a3c import A3CAgent
    from ai_trading_framework.portfolio.costs import CostModel
    train_ds, _ = signal_rl_datasets(300, lookback=6, episode_length=32)
    make = functools.partial(TradingEnv, train_ds, costs=CostModel(commission_rate=0.001), n_levels=5)
    enc = dict(encoder='lstm', encoder_config={'d_model': 8})
    agent = PPOAgent(make(), n_steps=32, batch_size=16, **enc) if algo == 'ppo' else A3CAgent(make, n_workers=1, **enc)
    pipe = Pipeline.from_agent(agent)
    assert pipe.env_config['levels'] == [-1.0, -0.5, 0.0, 0.5, 1.0] and pipe.env_config['costs']['commission_rate'] == 0.001
    mm = ModelManager(f'sqlite:///{tmp_path}/mlruns.db')
    mv = mm.save(f'agent-{algo}', pipe, metrics={'sharpe': 0.0})
    bars = synthetic_market(120, seed=5, signal_ic=0.3).rename(columns={'close': 'Close', 'open': 'Open'})
    want, got = pipe.predict(bars), mm.load(f'agent-{algo}', version=mv.version).predict(bars)
    assert list(got.columns) == ['asset'] and len(got) == 120 - 6 + 1
    assert set(np.unique(got.to_numpy())) <= {-1.0, -0.5, 0.0, 0.5, 1.0}
    pd.testing.assert_frame_equal(got, want)
    with pytest.raises(Exception, match='fine_tune / update work on supervised pipelines'): pipe.fine_tune(bars)

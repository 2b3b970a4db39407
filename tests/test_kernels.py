"""The loader's compiled gather kernel (08_kernels) as a fresh process meets it: built from an empty cache,
built once by several processes starting together, skipped with `ATF_KERNELS=0` or without a compiler, and
in every case giving the same training batches, augmented or not, bit for bit.
"""
import json, os, shutil, subprocess, sys
import pytest

# one seeded training epoch's batches (feature dropout + noise fused into the gather), hashed, plus where they came from
PROBE = r'''
import hashlib, json, torch
from ai_trading_framework.synthetic import synthetic_market
from ai_trading_framework.features import FeatureSpec
from ai_trading_framework.dataloaders import trading_dataloaders, FeatureDropout, GaussianNoise
from ai_trading_framework.kernels import kernel_info
df = synthetic_market(600, n_assets=3, seed=2, ragged=True)
dls = trading_dataloaders(df, FeatureSpec(['signal', 'close', 'volume']), lookback=24, bs=64, seed=7, device='cpu',
                          tfms=[FeatureDropout(0.2), GaussianNoise(0.1)])
h = hashlib.sha256()
for xb, yb in dls.train: h.update(xb.numpy().tobytes()); h.update(yb.numpy().tobytes())
for xb, yb in dls.valid: h.update(xb.numpy().tobytes())
print(json.dumps({'hash': h.hexdigest(), **kernel_info()}))
'''

def _probe(cache, **env):
    e = {**os.environ, 'ATF_CACHE_DIR': str(cache), **env}
    out = subprocess.run([sys.executable, '-c', PROBE], env=e, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])

HAS_CC = bool(shutil.which('cc') or shutil.which('gcc') or shutil.which('clang'))

@pytest.mark.skipif(not HAS_CC, reason='no C compiler: the loader runs on its torch path (tested below)')
def test_fresh_cache_builds_and_reuses(tmp_path):
    a = _probe(tmp_path)
    assert a['available'] and a['openmp'], a
    assert a['path'].startswith(str(tmp_path / 'kernels')), a
    so = sorted(p.name for p in (tmp_path / 'kernels').iterdir())
    assert len(so) == 1 and so[0].endswith('.so'), so # one library, no temporary files
    mtime = (tmp_path / 'kernels' / so[0]).stat().st_mtime_ns
    b = _probe(tmp_path)
    assert b['hash'] == a['hash'] and (tmp_path / 'kernels' / so[0]).stat().st_mtime_ns == mtime # reused, same batches
    if any('torch' in g for g in a['libgomp']): # torch ships its libgomp: the kernel must share it, not map a second runtime
        assert len(a['libgomp']) == 1, a['libgomp']

def test_torch_path_gives_the_same_batches(tmp_path):
    off = _probe(tmp_path / 'off', ATF_KERNELS='0')
    assert not off['available'] and 'turned off' in off['reason'], off
    nocc = _probe(tmp_path / 'nocc', CC='/nonexistent/cc')
    assert not nocc['available'] and 'does not run' in nocc['reason'], nocc
    assert off['hash'] == nocc['hash']
    if HAS_CC:
        on = _probe(tmp_path / 'on')
        assert on['available'] and on['hash'] == off['hash']

@pytest.mark.skipif(not HAS_CC, reason='no C compiler')
def test_concurrent_first_builds(tmp_path):
    "Four processes meeting an empty cache at once all load a working library; one file is left, no temporaries."
    e = {**os.environ, 'ATF_CACHE_DIR': str(tmp_path)}
    procs = [subprocess.Popen([sys.executable, '-c', PROBE], env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(4)]
    outs = [p.communicate(timeout=600) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    res = [json.loads(o[0].strip().splitlines()[-1]) for o in outs]
    assert all(r['available'] for r in res) and len({r['hash'] for r in res}) == 1
    assert len(list((tmp_path / 'kernels').iterdir())) == 1

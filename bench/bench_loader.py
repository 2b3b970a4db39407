"""Loader throughput and memory: the project's training loader against a naive per-item torch loader and a
plain memcpy of the same bytes, on 1,000,000 bars x 32 float32 features (lookback 64, batch 256, shuffled),
with and without noise + feature-dropout augmentation; plus a multi-asset panel (100 assets x 10,000 bars x 32).

References for "a memcpy of the same bytes per batch" (2 MiB from a random offset into a reused buffer):
`x_memcpy*` divide by the C library's memcpy (one call per batch, through ctypes), the literal reading of
the target; `x_copy_threads*` by torch's `copy_` of the same bytes split over torch's threads (2 here), a
stricter reference, since a single memcpy cannot use the second core and the loader does. `x_torch_path*`
compare the loader with its own torch fallback (`ATF_KERNELS=0`: `index_select`, then the transforms).

    .venv/bin/python bench/bench_loader.py            # writes bench/results/loader.json and bench/RESULTS.md

Each case runs in a fresh subprocess so its peak RSS is its own: the peak is reset (/proc/self/clear_refs)
after imports and data, and `extra_rss_mib` is the peak above that point while the loader runs.
"""
import contextlib, json, os, subprocess, sys, time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
L, F, BS = 64, 32, 256

def _rss_mib(field='VmRSS'):
    for line in Path('/proc/self/status').read_text().splitlines():
        if line.startswith(field): return int(line.split()[1]) / 1024
    return float('nan')

def _panel(n_bars, n_assets):
    "A Panel straight from arrays (the frame -> panel path is not what is measured here)."
    import numpy as np, pandas as pd
    from ai_trading_framework.features import FeatureSpec
    from ai_trading_framework.panel import Panel
    rng = np.random.default_rng(0)
    x = rng.standard_normal((n_assets, n_bars, F), dtype=np.float32).transpose(1, 0, 2) # asset-major storage, as make_panel lays it
    target = rng.standard_normal((n_bars, n_assets, 1), dtype=np.float32); target[-1] = np.nan
    spec = FeatureSpec([f'f{i}' for i in range(F)])
    ts = pd.date_range('2000', periods=n_bars, freq='min')
    return Panel(x, np.ones((n_bars, n_assets), bool), target, np.ones((n_bars, n_assets, 2)), ts, tuple(f'A{i}' for i in range(n_assets)), spec)

def _time(fn, n_batches, reps=3):
    "Best samples/s over `reps` runs of `fn(n_batches)`."
    best = 0.0
    for _ in range(reps):
        t0 = time.perf_counter(); n = fn(n_batches); dt = time.perf_counter() - t0
        best = max(best, n / dt)
    return best

def _setup(kind, panel):
    "Return run(n_batches) -> samples for one kind of loader over `panel`."
    import numpy as np, torch
    from ai_trading_framework.datasets import SupervisedDataset
    from ai_trading_framework.dataloaders import BatchLoader, GaussianNoise, FeatureDropout
    T = panel.n_bars
    if kind.startswith('ours'):
        ds = SupervisedDataset(panel, L)
        tfms = [FeatureDropout(0.1), GaussianNoise(0.1)] if 'aug' in kind else None # fused into the gather
        dl = BatchLoader(ds, bs=BS, shuffle=True, drop_last=True, seed=0, tfms=tfms, num_workers=2 if kind == 'ours_workers2' else 0)
    elif kind == 'naive': # per-item windows + default collate, over the same array
        x = torch.from_numpy(panel.x).transpose(0, 1) # (A, T, F) view
        y = torch.from_numpy(np.nan_to_num(panel.target[..., 0])).T
        n_per = T - L
        class Naive(torch.utils.data.Dataset):
            def __len__(self): return n_per * panel.n_assets
            def __getitem__(self, i):
                a, t = divmod(i, n_per)
                return x[a, t:t + L], y[a, t + L - 1]
        dl = torch.utils.data.DataLoader(Naive(), batch_size=BS, shuffle=True, drop_last=True,
                                         generator=torch.Generator().manual_seed(0))
    else: # a copy of the same bytes per batch, from random offsets, into a reused buffer
        flat = torch.from_numpy(panel.x.transpose(1, 0, 2)).view(-1); m = BS * L * F; buf = torch.empty(m)
        g = torch.Generator().manual_seed(0)
        if kind == 'copy_threads': # torch's copy_, parallel over the 2 threads: the stricter reference
            def run(nb):
                for o in torch.randint(0, flat.numel() - m, (nb,), generator=g).tolist(): buf.copy_(flat[o:o + m])
                return nb * BS
        else: # 'memcpy': the C library's memcpy (one thread), through ctypes.memmove
            import ctypes
            src, dst, nbytes = flat.data_ptr(), buf.data_ptr(), m * 4
            def run(nb, keep=(flat, buf)): # `keep` holds the buffers whose raw pointers are used
                for o in torch.randint(0, flat.numel() - m, (nb,), generator=g).tolist(): ctypes.memmove(dst, src + 4 * o, nbytes)
                return nb * BS
        return run
    state = {'it': iter(dl)}
    torch_path = kind.endswith('_torchpath')
    def run(nb): # steady state: one iterator across rounds (a new epoch only when one ends), as in training
        from ai_trading_framework.kernels import no_kernels
        n = 0
        with no_kernels() if torch_path else contextlib.nullcontext():
            for _ in range(nb):
                try: xb, yb = next(state['it'])
                except StopIteration: state['it'] = iter(dl); xb, yb = next(state['it'])
                n += len(xb)
        return n
    return run

N_BATCHES = {'ours': 500, 'ours_aug': 500, 'ours_torchpath': 500, 'ours_aug_torchpath': 500, 'ours_workers2': 150,
             'naive': 20, 'memcpy': 500, 'copy_threads': 500}

def case(what, n_bars, n_assets):
    "Throughput of every kind, interleaved over rounds (the machine is shared: best of 9 short rounds), or the RSS of one kind."
    import torch
    torch.set_num_threads(2)
    panel = _panel(n_bars, n_assets)
    if what == 'speed':
        from ai_trading_framework.kernels import kernel_info
        runs = {k: _setup(k, panel) for k in N_BATCHES}
        best = {k: 0.0 for k in runs}
        for run in runs.values(): run(5) # warm-up: first epoch's order, noise bank, worker start
        for _ in range(9):
            for k, run in runs.items():
                t0 = time.perf_counter(); n = run(N_BATCHES[k]); best[k] = max(best[k], n / (time.perf_counter() - t0))
        info = kernel_info()
        print(json.dumps({**best, 'kernel': info['available'], 'kernel_openmp': info['openmp']})); return
    Path('/proc/self/clear_refs').write_text('5') # reset the peak RSS: what follows is the loader's
    base = _rss_mib()
    _setup(what, panel)(N_BATCHES[what])
    print(json.dumps(dict(extra_rss_mib=_rss_mib('VmHWM') - base, data_mib=panel.x.nbytes / 2**20)))

def sub(what, n_bars, n_assets):
    out = subprocess.run([sys.executable, __file__, 'case', what, str(n_bars), str(n_assets)],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])

def import_cost(n=5):
    "Median seconds `import ai_trading_framework.datasets` adds to `import numpy, pandas, torch` (fresh interpreters)."
    code = ('import time; t0 = time.perf_counter(); import numpy, pandas, torch; t1 = time.perf_counter(); '
            'import ai_trading_framework.datasets; print(time.perf_counter() - t1)')
    vals = sorted(float(subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True).stdout) for _ in range(n))
    return vals[n // 2]

def main():
    from _common import write_results, md_table
    res, rows = {}, []
    for label, (T, A) in {'single': (1_000_000, 1), 'multi': (10_000, 100)}.items():
        sps = sub('speed', T, A)
        mem = [sub(k, T, A) for k in ('ours', 'ours_aug')]
        o, oa = sps['ours'], sps['ours_aug']
        res[label] = dict(samples_per_s=o, samples_per_s_augmented=oa, naive_samples_per_s=sps['naive'],
                          memcpy_samples_per_s=sps['memcpy'], copy_threads_samples_per_s=sps['copy_threads'],
                          x_naive=o / sps['naive'], x_memcpy=o / sps['memcpy'], x_memcpy_augmented=oa / sps['memcpy'],
                          x_copy_threads=o / sps['copy_threads'], x_copy_threads_augmented=oa / sps['copy_threads'],
                          x_torch_path=o / sps['ours_torchpath'], x_torch_path_augmented=oa / sps['ours_aug_torchpath'],
                          workers2_samples_per_s=sps['ours_workers2'], x_workers2_vs_single=sps['ours_workers2'] / o,
                          extra_rss_mib=max(m['extra_rss_mib'] for m in mem), data_mib=mem[0]['data_mib'],
                          kernel=sps['kernel'], kernel_openmp=sps['kernel_openmp'])
        rows.append({'case': f'{label}: {T:,} bars x {A} assets x {F}', **{k: res[label][k] for k in
                     ('samples_per_s', 'x_naive', 'x_memcpy', 'x_memcpy_augmented', 'x_copy_threads', 'x_copy_threads_augmented',
                      'x_torch_path', 'x_torch_path_augmented', 'x_workers2_vs_single', 'extra_rss_mib', 'data_mib')}})
    s = res['single']
    keys = ('samples_per_s', 'x_naive', 'x_memcpy', 'x_memcpy_augmented', 'x_copy_threads', 'x_copy_threads_augmented',
            'x_torch_path', 'x_torch_path_augmented', 'extra_rss_mib', 'data_mib', 'kernel')
    out = {**{k: s[k] for k in keys}, 'rss_limit_mib': 1.2 * s['data_mib'] + 64, 'cases': res, 'import_datasets_extra_s': import_cost(),
           'targets': {'x_memcpy': 0.8, 'x_naive': 12, 'x_memcpy_augmented': 0.5, 'extra_rss_mib': '<= 1.2 x data_mib + 64'}}
    notes = ('Targets: x_memcpy >= 0.8, x_naive >= 12, x_memcpy_augmented >= 0.5, extra_rss_mib <= 1.2 x data_mib + 64; '
             f"`import ai_trading_framework.datasets` adds {out['import_datasets_extra_s']:.3f} s to numpy+pandas+torch (target <= 0.3 s). "
             'Best of 9 interleaved rounds (500 batches each) per loader, lookback 64, batch 256, shuffled, torch threads 2, CPU, '
             f"compiled gather kernel {'in use' if s['kernel'] else 'NOT available (torch path)'}. "
             '`x_memcpy*`: against the C library memcpy of the same bytes per batch (one call, one thread), the literal target; '
             '`x_copy_threads*`: against torch `copy_` of the same bytes on both threads, a stricter reference the targets do not name; '
             '`x_torch_path*`: against the same loader on its torch fallback (ATF_KERNELS=0). Augmented = feature dropout + noise.')
    write_results('loader', out, md_table(rows), notes)
    print(json.dumps(out, indent=1))

if __name__ == '__main__':
    if len(sys.argv) > 1 and sys.argv[1] == 'case': case(sys.argv[2], *map(int, sys.argv[3:5]))
    else: main()

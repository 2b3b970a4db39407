"""Forward+backward throughput of every registered architecture on the CPU, next to plain torch.

Batch 256, lookback 64, 32 features, each architecture at its default size, 2 torch threads. One timed
step = forward, mean-square loss, backward (no optimizer step). The runs of all models are interleaved
(round-robin), so a burst of load from other processes hits them alike; we report the median.
The reference is a plain `nn.LSTM` (same width, layers and dropout as our default LSTM) + `nn.Linear`
on the last step: `x_torch_lstm` = our LSTM's throughput / the plain one's (1 = no overhead), the median
ratio over back-to-back pairs run in ABBA order, which cancels the drift of a shared machine's load.

    .venv/bin/python bench/bench_models.py [--repeats 15]
"""
import argparse, statistics, sys, time
from pathlib import Path
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import write_results, md_table
from ai_trading_framework.models.core import create_model, list_models, InputDims, n_params, make_config, get_encoder_class

BS, LOOKBACK, N_FEATURES = 256, 64, 32

class PlainLSTM(nn.Module):
    "The reference: torch's LSTM and a linear layer on the last step, nothing else."
    def __init__(self, d_model, n_layers, dropout):
        super().__init__()
        self.lstm = nn.LSTM(N_FEATURES, d_model, n_layers, batch_first=True, dropout=dropout)
        self.linear = nn.Linear(d_model, 1)
    def forward(self, x): return self.linear(self.lstm(x)[0][:, -1])

def step(model, x):
    "One forward+backward pass; returns its wall time in seconds."
    t = time.perf_counter()
    model(x).pow(2).mean().backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - t

def main(repeats=15, warmup=3):
    torch.set_num_threads(2); torch.manual_seed(0)
    x = torch.randn(BS, LOOKBACK, N_FEATURES)
    models = {name: create_model(name, InputDims(LOOKBACK, N_FEATURES), 'regression', device='cpu') for name in list_models()}
    cfg = make_config(get_encoder_class('lstm'))
    models['torch_lstm'] = PlainLSTM(cfg['d_model'], cfg['n_layers'], cfg['dropout'])
    for m in models.values():
        m.train()
        for _ in range(warmup): step(m, x)
    times = {k: [] for k in models}
    for _ in range(repeats):
        for k, m in models.items(): times[k].append(step(m, x))
    rate = {k: BS / statistics.median(v) for k, v in times.items()}
    # the wrapper's overhead: paired runs in ABBA order, so load from other processes cancels in each pair's ratio
    ratios = []
    for i in range(4 * repeats):
        a, b = ('lstm', 'torch_lstm') if i % 2 == 0 else ('torch_lstm', 'lstm')
        t = {a: step(models[a], x)}; t[b] = step(models[b], x)
        ratios.append(t['torch_lstm'] / t['lstm'])
    rows = [{'model': k, 'params': n_params(m), 'samples_per_s': round(rate[k], 1),
             'ms_per_batch': round(1000 * statistics.median(times[k]), 2)} for k, m in models.items()]
    x_lstm = statistics.median(ratios)
    results = {'batch': BS, 'lookback': LOOKBACK, 'n_features': N_FEATURES, 'threads': 2, 'repeats': repeats,
               'samples_per_s': {k: round(v, 1) for k, v in rate.items()}, 'params': {r['model']: r['params'] for r in rows},
               'x_torch_lstm': round(x_lstm, 4), 'x_torch_lstm_round_robin': round(rate['lstm'] / rate['torch_lstm'], 4)}
    notes = (f'Forward+backward, batch {BS}, lookback {LOOKBACK}, {N_FEATURES} features, default sizes, 2 threads, median of '
             f'{repeats} interleaved runs after {warmup} warm-ups. `x_torch_lstm` = our LSTM throughput / plain `nn.LSTM` + `nn.Linear` '
             f'of the same width and depth, median of {4 * repeats} back-to-back pairs (ABBA order) = **{x_lstm:.3f}** '
             f'(target >= 0.90; from the round-robin medians above: {rate["lstm"] / rate["torch_lstm"]:.3f}). The machine is shared, so '
             f'absolute rates move with other load; the paired ratio is the robust number.')
    write_results('models', results, md_table(rows, ['model', 'params', 'samples_per_s', 'ms_per_batch']), notes)
    print(md_table(rows)); print(notes)
    return results

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--repeats', type=int, default=15)
    main(p.parse_args().repeats)

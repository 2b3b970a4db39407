"""Shared plumbing for the benchmarks in bench/: machine description, JSON results and RESULTS.md sections.

Each benchmark calls `write_results(name, results, table_md)`: it writes `bench/results/<name>.json` and
replaces (or appends) the section `<!-- bench:<name> -->` ... `<!-- /bench:<name> -->` of bench/RESULTS.md
with a dated table, so several benchmarks share one file without clobbering each other.
"""
import json, os, platform, re, datetime as dt
from pathlib import Path

HERE = Path(__file__).resolve().parent
RESULTS_MD = HERE / 'RESULTS.md'

def machine() -> str:
    "One line naming the machine: CPU model, core count, memory, torch device."
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'): cpu = line.split(':', 1)[1].strip(); break
    except OSError: pass
    mem = ''
    try:
        kb = int(re.search(r'MemTotal:\s+(\d+)', Path('/proc/meminfo').read_text()).group(1)); mem = f', {kb/2**20:.0f} GiB'
    except (OSError, AttributeError): pass
    dev = 'cpu'
    try:
        import torch
        if torch.cuda.is_available(): dev = torch.cuda.get_device_name(0)
    except ImportError: pass
    return f'{cpu}, {os.cpu_count()} cores{mem}, device {dev}, Python {platform.python_version()}'

def md_table(rows: list[dict], cols: list[str] | None = None) -> str:
    "A markdown table from a list of dicts (floats shown with 4 significant digits)."
    cols = cols or list(rows[0])
    fmt = lambda v: f'{v:.4g}' if isinstance(v, float) else str(v)
    lines = ['| ' + ' | '.join(cols) + ' |', '|' + '---|' * len(cols)]
    lines += ['| ' + ' | '.join(fmt(r.get(c, '')) for c in cols) + ' |' for r in rows]
    return '\n'.join(lines)

def write_results(name: str, results: dict, table_md: str, notes: str = '') -> Path:
    "Write bench/results/<name>.json and this benchmark's dated section of bench/RESULTS.md."
    (HERE / 'results').mkdir(exist_ok=True)
    stamp = dt.datetime.now(dt.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')
    results = {**results, 'date': stamp, 'machine': machine()}
    out = HERE / 'results' / f'{name}.json'
    out.write_text(json.dumps(results, indent=2, sort_keys=True) + '\n')
    section = (f'<!-- bench:{name} -->\n## {name}\n\n{stamp} on {results["machine"]}\n\n{table_md}\n'
               + (f'\n{notes}\n' if notes else '') + f'<!-- /bench:{name} -->')
    text = RESULTS_MD.read_text() if RESULTS_MD.exists() else (
        '# Benchmark results\n\nWritten by the scripts in `bench/` (`make bench`). Ratios `x_<peer>` are our '
        'throughput divided by the peer\'s in the same run (above 1 is faster).\n')
    pat = re.compile(rf'<!-- bench:{re.escape(name)} -->.*?<!-- /bench:{re.escape(name)} -->', re.S)
    text = pat.sub(lambda m: section, text) if pat.search(text) else text.rstrip('\n') + '\n\n' + section + '\n'
    RESULTS_MD.write_text(text)
    return out

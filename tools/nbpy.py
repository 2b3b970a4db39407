"""Round-trip between a notebook and a percent-format script, for editing notebooks from a text editor.

    python tools/nbpy.py to-py nbs/00_core.ipynb /tmp/00_core.py   # edit the script...
    python tools/nbpy.py to-nb /tmp/00_core.py nbs/00_core.ipynb   # ...and write the notebook back

Cells are separated by `# %%` lines; `# %% [markdown]` starts a markdown cell whose lines are
`# `-prefixed. Outputs are not kept by `to-nb` (run the notebook to make them); the notebook
stays the source of truth, the script is scratch.
"""
import hashlib, json, sys
from pathlib import Path

def _cell(kind, lines, i):
    while lines and not lines[-1].strip(): lines.pop()
    while lines and not lines[0].strip(): lines.pop(0)
    if kind == 'markdown': lines = [l[2:] if l.startswith('# ') else l.lstrip('#') for l in lines]
    src = '\n'.join(lines)
    # a stable id (nbdev writes it into the exported module; a random one would change every export)
    c = {'cell_type': kind, 'id': hashlib.sha1(f'{i}:{src}'.encode()).hexdigest()[:8], 'metadata': {}, 'source': src}
    if kind == 'code': c.update(execution_count=None, outputs=[])
    return c

def to_nb(src, dst):
    cells, kind, buf = [], None, []
    for line in Path(src).read_text().splitlines():
        if line.startswith('# %%'):
            if kind is not None: cells.append(_cell(kind, buf, len(cells)))
            kind, buf = ('markdown' if '[markdown]' in line else 'code'), []
        else:
            if kind is None: kind = 'code'
            buf.append(line)
    if kind is not None: cells.append(_cell(kind, buf, len(cells)))
    nb = {'cells': cells, 'metadata': {'kernelspec': {'display_name': 'python3', 'language': 'python', 'name': 'python3'}},
          'nbformat': 4, 'nbformat_minor': 5}
    Path(dst).write_text(json.dumps(nb, indent=1, ensure_ascii=False) + '\n')

def to_py(src, dst):
    out = []
    for c in json.loads(Path(src).read_text())['cells']:
        s = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        if c['cell_type'] == 'markdown':
            out.append('# %% [markdown]\n' + '\n'.join('# ' + l if l else '#' for l in s.splitlines()))
        else: out.append('# %%\n' + s)
    Path(dst).write_text('\n\n'.join(out) + '\n')

if __name__ == '__main__':
    cmd, a, b = sys.argv[1:4]
    {'to-nb': to_nb, 'to-py': to_py}[cmd](a, b)

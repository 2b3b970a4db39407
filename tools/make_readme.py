"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which these machines cannot install).

    python tools/make_readme.py          # rewrite README.md
    python tools/make_readme.py --check  # exit 1 if README.md is out of date (run by `make test`)

Markdown cells are copied; code cells become ```python blocks; cells marked `#| hide` are left out.
"""
import json, re, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

def render() -> str:
    nb = json.loads((ROOT / 'nbs' / 'index.ipynb').read_text())
    parts = ['<!-- Generated from nbs/index.ipynb by tools/make_readme.py: edit the notebook, then `make readme`. -->']
    for c in nb['cells']:
        src = ''.join(c['source']) if isinstance(c['source'], list) else c['source']
        # an image beside the notebooks (`![..](x.png)`) is at nbs/x.png from the README's folder
        if c['cell_type'] == 'markdown': parts.append(re.sub(r'(!\[[^\]]*\]\()(?![a-z]+:|/)([^)\s]+\))', r'\1nbs/\2', src))
        elif not src.lstrip().startswith('#| hide'): parts.append('```python\n' + src + '\n```')
    return '\n\n'.join(parts) + '\n'

if __name__ == '__main__':
    text, readme = render(), ROOT / 'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit('README.md is out of date with nbs/index.ipynb: run `make readme` and commit it')
        print('ok: README.md matches nbs/index.ipynb')
    else: readme.write_text(text)

"""Write README.md from nbs/index.ipynb (nbdev_readme needs Quarto, which these machines cannot install).

    python tools/make_readme.py          # rewrite README.md
    python tools/make_readme.py --check  # exit 1 if README.md is out of date (run by `make test`)

Markdown cells are copied; code cells become ```python blocks; cells marked `#| hide` are left out.
Images beside the notebooks (`![..](x.png)`) are rewritten to `nbs/x.png`; `--check` also fails when a relative
link or image of the README points at a file that does not exist.
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

def broken_links(text:str) -> list:
    "Relative link and image targets of `text` (outside code blocks) that are not files or folders of the repository."
    text = re.sub(r'```.*?```', '', text, flags=re.S)
    targets = re.findall(r'\]\(([^)\s]+)(?:\s+"[^"]*")?\)', text)
    return sorted({t for t in targets if not re.match(r'[a-z]+:|#|/', t) and not (ROOT / t.split('#')[0]).exists()})

if __name__ == '__main__':
    text, readme = render(), ROOT / 'README.md'
    if '--check' in sys.argv:
        if not readme.exists() or readme.read_text() != text:
            sys.exit('README.md is out of date with nbs/index.ipynb: run `make readme` and commit it')
        if bad := broken_links(text): sys.exit(f'README.md links to files that do not exist: {bad} (paths are relative to the repository root)')
        print('ok: README.md matches nbs/index.ipynb')
    else: readme.write_text(text)

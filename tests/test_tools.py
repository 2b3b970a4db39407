"""The repository's own tools: the README generator (`tools/make_readme.py`) rewrites notebook-relative images and finds broken links."""
import json, sys
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT/'tools'))
import make_readme


def test_images_beside_the_notebooks_are_rewritten_to_nbs(tmp_path, monkeypatch):
    (tmp_path/'nbs').mkdir()
    cells = [{'cell_type': 'markdown', 'source': '![tb](shot.png) ![web](https://x.org/a.png) ![abs](/a.png)'},
             {'cell_type': 'code', 'source': 'x = 1'}, {'cell_type': 'code', 'source': '#| hide\nsecret = 2'}]
    (tmp_path/'nbs'/'index.ipynb').write_text(json.dumps({'cells': cells}))
    monkeypatch.setattr(make_readme, 'ROOT', tmp_path)
    out = make_readme.render()
    assert '![tb](nbs/shot.png)' in out and '![web](https://x.org/a.png)' in out and '![abs](/a.png)' in out
    assert '```python\nx = 1\n```' in out and 'secret' not in out
    assert make_readme.broken_links(out) == ['nbs/shot.png']
    (tmp_path/'nbs'/'shot.png').write_bytes(b'png')
    assert make_readme.broken_links(out) == []


def test_links_in_code_blocks_and_anchors_are_not_files():
    text = '[a](README.md#top) [b](#local) [c](nope/missing.md)\n```\n[d](also/missing.md)\n```'
    assert make_readme.broken_links(text) == ['nope/missing.md']


def test_the_committed_readme_has_no_broken_links():
    assert make_readme.broken_links((ROOT/'README.md').read_text()) == []

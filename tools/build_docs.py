#!/usr/bin/env python3
"""Build the documentation site from the notebooks: offline HTML here, Quarto where Quarto exists.

    python tools/build_docs.py             nbs/*.ipynb -> _proc/ -> _docs/ (offline HTML; rewrites a stale nbs/sidebar.yml)
    python tools/build_docs.py --check     the same, but fail (writing nothing) when nbs/sidebar.yml is stale
    python tools/build_docs.py --sidebar   only (re)write nbs/sidebar.yml (add --check to only check it)
    python tools/build_docs.py --quarto    nbs/ -> _proc/ -> `quarto render` -> _docs/: the published site (CI)

Run it with the project venv's python, `.venv/bin` first on PATH (`make docs` does both).

Stage 1, processing: every notebook goes through nbdev's own processors (`nbdev.processors.FilterDefaults`,
exactly what `nbdev_proc_nbs` runs: front matter, `show_doc` cells added after each export and executed,
hidden cells dropped, backtick links) into `_proc/`, cached by content. `nbdev_proc_nbs` itself is not called:
without Quarto it tries to install Quarto and pip-installs the project.

Stage 2, rendering: one page per notebook, named as Quarto names it (`00_core.ipynb` -> `core.html`), with the
sidebar by layer that nbs/sidebar.yml holds, the `show_doc` blocks, stored plotly figures drawn by the plotly.js
of the installed plotly package, Mermaid diagrams drawn by the vendored docs_assets/mermaid.min.js and TeX
typeset by the vendored KaTeX (both checked against docs_assets/SHA256SUMS). Nothing is fetched from a CDN when
the pages are viewed. Links nbdev made to names without a `show_doc` block are pointed at the nearest anchor.
The generated Memory Bank (memory-bank/*.md, `make memory-bank`) joins the site's "Memory Bank" section, one page
each (`memory-bank/models.md` -> `memory-bank-models.html`), rendered like the notebooks' markdown.

A notebook that fails to process or render fails the build, with its name and the cell at fault.
"""
from __future__ import annotations
import argparse, hashlib, html, json, os, re, shutil, subprocess, sys, tempfile, time, traceback
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE_DIR = Path(__file__).resolve().parent / 'docs_template'
ASSETS_DIR = ROOT / 'docs_assets'
CACHE_NAME = '.build_docs_cache.json'
INFO_NAME = '.build-info.json'

# The sidebar by layer: (first, last) notebook number -> section title. Only notebooks that exist are listed.
LAYERS = (((0, 9), 'Core and data'), ((10, 14), 'Models'), ((15, 19), 'Portfolio'),
          ((20, 29), 'Reinforcement learning'), ((30, 37), 'Trainers'), ((38, 49), 'Model manager'),
          ((50, 58), 'Backtest'), ((59, 69), 'Memory Bank'), ((90, 99), 'Quickstart'))
OTHER_NUMBERED, UNNUMBERED = 'More', 'Guides'
MEMORY_BANK, MEMORY_BANK_TITLE = 'memory-bank', 'Memory Bank'
# the Memory Bank's pages in reading order (ai_trading_framework.memory_bank.PAGE_SETS); any other page follows, sorted
MEMORY_BANK_ORDER = ('projectbrief', 'systemPatterns', 'techContext', 'models', 'decisionLog', 'progress', 'experiments', 'testResults')


class BuildError(Exception):
    "The site could not be built: the message names the notebook(s) and what to fix."


# ---------------------------------------------------------------------------------------------- notebooks
def find_notebooks(nbs: Path) -> list[Path]:
    "The notebooks the site is made of: nbs/*.ipynb, except scratch notebooks (`_*`) and hidden files."
    return sorted(p for p in Path(nbs).glob('*.ipynb') if not p.name.startswith(('_', '.')))

def page_name(nb: str | Path) -> str:
    "The page Quarto (and nbdev's doc links) give a notebook: `00_core.ipynb` -> `core.html`."
    return re.sub(r'^\d+[a-zA-Z0-9]*_', '', Path(nb).name.lower()).rsplit('.ipynb', 1)[0] + '.html'

def _number(nb: Path) -> int | None:
    m = re.match(r'^(\d+)', nb.name)
    return int(m.group(1)) if m else None

def layer_of(nb: Path) -> str | None:
    "The sidebar section of a notebook (None for the home page)."
    if nb.stem == 'index': return None
    n = _number(nb)
    if n is None: return UNNUMBERED
    return next((title for (lo, hi), title in LAYERS if lo <= n <= hi), OTHER_NUMBERED)

def sidebar_sections(nbs: Path) -> list[tuple[str | None, list[Path]]]:
    "[(section title or None for the top entries, [notebooks])] in sidebar order."
    top, sections = [], {}
    for nb in find_notebooks(nbs):
        layer = layer_of(nb)
        if layer is None: top.append(nb)
        else: sections.setdefault(layer, []).append(nb)
    order = [t for _, t in LAYERS] + [OTHER_NUMBERED, UNNUMBERED]
    return ([(None, top)] if top else []) + [(t, sections[t]) for t in order if t in sections]

def sidebar_yaml(nbs: Path, extra: list[str] = ()) -> str:
    """nbs/sidebar.yml (Quarto's `website.sidebar`), generated from the notebooks that exist. `extra`: Memory Bank
    pages (file names in _proc) for the Memory Bank section of _proc/sidebar.yml under --quarto."""
    lines = ['# Generated by tools/build_docs.py from the notebooks in nbs/: do not edit by hand.',
             '# `python tools/build_docs.py --sidebar` rewrites it; `--check` fails when it is stale.',
             'website:', '  sidebar:', '    contents:']
    for title, nbs_ in _add_memory_bank(sidebar_sections(nbs), [Path(e) for e in extra]):
        if title is None: lines += [f'      - {nb.name}' for nb in nbs_]
        else: lines += [f'      - section: "{title}"', '        contents:'] + [f'          - {nb.name}' for nb in nbs_]
    return '\n'.join(lines) + '\n'

def sync_sidebar(nbs: Path, check: bool) -> bool:
    "Write nbs/sidebar.yml when stale (or, with `check`, raise). True when it was rewritten."
    path, want = Path(nbs) / 'sidebar.yml', sidebar_yaml(nbs)
    if path.exists() and path.read_text() == want: return False
    if check:
        raise BuildError(f'{path} is stale (notebooks were added, removed or renamed): run '
                         '`python tools/build_docs.py --sidebar` (`make docs` does it) and commit nbs/sidebar.yml')
    path.write_text(want)
    return True


# ---------------------------------------------------------------------------------------------- memory bank
def memory_bank_pages(folder: Path | None) -> list[Path]:
    "The Memory Bank's Markdown pages in `folder` (memory-bank/), in reading order; [] when there is none."
    if folder is None or not Path(folder).is_dir(): return []
    rank = {n: i for i, n in enumerate(MEMORY_BANK_ORDER)}
    return sorted((p for p in Path(folder).glob('*.md') if not p.name.startswith(('_', '.'))),
                  key=lambda p: (rank.get(p.stem, len(rank)), p.name))

def memory_bank_page_name(md: str | Path) -> str:
    "The site page of a Memory Bank file: `memory-bank/models.md` -> `memory-bank-models.html`."
    return f'{MEMORY_BANK}-{Path(md).stem}.html'

def split_md_page(text: str) -> tuple[str, str, str]:
    "(title, description, body) of a Markdown page that starts `# Title` then `> description`, as the notebooks do."
    m = re.match(r'\s*#\s+(.+?)\s*\n(?:\s*\n)*(?:>\s*(.+?)\s*\n)?', text + '\n')
    if not m: return '', '', text
    return m.group(1), m.group(2) or '', text[m.end():]


# ---------------------------------------------------------------------------------------------- config
@dataclass
class SiteConfig:
    title: str
    description: str
    site_url: str   # https://host/baseurl/ : absolute links nbdev writes to our own pages start with it
    repo_url: str
    branch: str

def site_config(root: Path = ROOT) -> SiteConfig:
    import configparser
    cp = configparser.ConfigParser(delimiters=['=']); cp.read(Path(root) / 'settings.ini')
    c = cp['DEFAULT']
    return SiteConfig(c.get('title', c['lib_name']), c.get('description', ''),
                      c.get('doc_host', '').rstrip('/') + '/' + c.get('doc_baseurl', '').strip('/') + '/',
                      c.get('git_url', ''), c.get('branch', 'main'))


# ---------------------------------------------------------------------------------------------- digests
def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts: h.update(hashlib.sha256(p).digest())
    return h.hexdigest()

def _package_digest(root: Path) -> str:
    "Processing executes the package (show_doc reads signatures and docstrings): any change invalidates the cache."
    import nbdev, execnb, fastcore
    pkg = Path(root) / site_config_lib(root)
    files = sorted(pkg.rglob('*.py'))
    return _sha(*(f.relative_to(root).as_posix().encode() + f.read_bytes() for f in files),
                (Path(root) / 'settings.ini').read_bytes(), Path(__file__).read_bytes(),
                f'{nbdev.__version__} {execnb.__version__} {fastcore.__version__}'.encode())

def site_config_lib(root: Path) -> str:
    import configparser
    cp = configparser.ConfigParser(delimiters=['=']); cp.read(Path(root) / 'settings.ini')
    return cp['DEFAULT'].get('lib_path', cp['DEFAULT']['lib_name'])

def inputs_digest(root: Path = ROOT, nbs: Path | None = None) -> str:
    "One hash of everything the offline site is built from (the browser test uses it to know _docs/ is fresh)."
    nbs = Path(nbs or Path(root) / 'nbs')
    files = find_notebooks(nbs) + sorted(p for p in nbs.iterdir() if p.is_file() and p.suffix != '.ipynb'
                                         and p.name != 'sidebar.yml' and not p.name.startswith('.'))
    if nbs == Path(root) / 'nbs': files += memory_bank_pages(Path(root) / MEMORY_BANK)
    files += sorted(p for p in TEMPLATE_DIR.rglob('*') if p.is_file())
    files += sorted(p for p in ASSETS_DIR.rglob('*') if p.is_file())
    return _sha(_package_digest(root).encode(), *(p.name.encode() + p.read_bytes() for p in files))


# ---------------------------------------------------------------------------------------------- stage 1: process
def _shown(p: Path) -> str:
    "A folder as messages show it: relative to the repository when inside it."
    p = Path(p).resolve()
    return p.relative_to(ROOT).as_posix() if p.is_relative_to(ROOT) else str(p)

def _source_cell(src: Path, source: str) -> str:
    "Locate a processed cell's source in the notebook itself: 'cell 12 (id abc)' (0-based, as `nbdev_test` counts)."
    try:
        cells = json.loads(src.read_text())['cells']
        want = split_directives(source)[1].strip()
        for i, c in enumerate(cells):
            if split_directives(_join(c.get('source')))[1].strip() == want: return f"cell {i} (id {c.get('id', '?')})"
    except Exception: pass
    return 'a cell'

def _proc_one(root: str, src: str, dst: str) -> tuple[str, str | None]:
    "Run nbdev's processors (as `nbdev_proc_nbs` does) on one notebook. Returns (name, error or None)."
    import warnings
    os.chdir(root)
    os.environ['IN_TEST'] = '1'   # as nbdev.serve_drv does while processing
    src, dst = Path(src), Path(dst)
    main = sys.modules.get('__main__')   # execnb's IPython shell replaces __main__: put it back afterwards
    with warnings.catch_warnings(record=True):
        warnings.simplefilter('always')
        try:
            from execnb.nbio import read_nb, write_nb
            from nbdev.processors import FilterDefaults
            nb = read_nb(src)
            FilterDefaults()(nb)
            tmp = dst.with_name(f'.{dst.name}.{os.getpid()}.tmp')
            write_nb(nb, tmp); os.replace(tmp, dst)
            return src.name, None
        except Exception as e:
            msg = str(e)
            m = re.match(r'Error(?: in notebook: .*?)? in cell (\d+) :\n(.*)', msg, re.S)
            if m:
                cause = e.__cause__
                where = _source_cell(src, m.group(2))
                first = m.group(2).strip().splitlines()[0] if m.group(2).strip() else ''
                msg = f'{where}, starting `{first[:100]}`: {type(cause).__name__ if cause else "error"}: {cause}'
                if isinstance(cause, NameError):
                    msg += ('\n    nbdev runs only the cells with an import, an export or a show_doc to build the docs, so this '
                            'cell misses what the cells before it made: move its imports into a cell of their own')
                elif isinstance(cause, ImportError):
                    msg += '\n    an import failed: export the notebooks (`make export`), or install what is missing'
            else:
                msg = ''.join(traceback.format_exception(type(e), e, e.__traceback__)[-3:]).strip()
            return src.name, msg
        finally:
            sys.modules['__main__'] = main

def process_notebooks(root: Path, notebooks: list[Path], proc: Path, jobs: int = 2, force: bool = False,
                      log=print) -> None:
    "Stage 1: nbs -> proc with nbdev's processors; only changed notebooks are processed again."
    proc.mkdir(parents=True, exist_ok=True)
    cache_file = proc / CACHE_NAME
    try: cache = {} if force else json.loads(cache_file.read_text())
    except (OSError, ValueError): cache = {}
    pkg = _package_digest(root)
    keys = {nb.name: _sha(pkg.encode(), nb.read_bytes()) for nb in notebooks}
    todo = [nb for nb in notebooks if cache.get(nb.name) != keys[nb.name] or not (proc / nb.name).exists()]
    for stale in proc.glob('*.ipynb'):   # renamed or deleted notebooks must not linger (Quarto renders all of _proc)
        if stale.name not in keys: stale.unlink()
    errors = {}
    if todo:
        args = [(str(root), str(nb), str(proc / nb.name)) for nb in todo]
        if jobs > 1 and len(todo) > 1:
            import multiprocessing as mp
            ctx = mp.get_context('fork' if 'fork' in mp.get_all_start_methods() else 'spawn')
            with ProcessPoolExecutor(max_workers=min(jobs, len(todo)), mp_context=ctx) as ex:
                results = list(ex.map(_proc_one, *zip(*args)))
        else:
            here = os.getcwd()
            try: results = [_proc_one(*a) for a in args]
            finally: os.chdir(here)
        for name, err in results:
            if err: errors[name] = err; cache.pop(name, None)
            else: cache[name] = keys[name]
    cache = {k: v for k, v in cache.items() if k in keys}
    cache_file.write_text(json.dumps(cache, indent=1, sort_keys=True))
    log(f'processed {len(todo)} notebook(s) with nbdev\'s processors ({len(notebooks) - len(todo)} unchanged) into {proc}')
    if errors:
        where = _shown(notebooks[0].parent)
        raise BuildError('nbdev could not process ' + ', '.join(sorted(errors)) + ' for the docs:\n' +
                         '\n'.join(f'  {where}/{k}: {v}' for k, v in sorted(errors.items())))

def copy_support_files(nbs: Path, proc: Path) -> None:
    "Copy what nbdev_proc_nbs copies besides notebooks (_quarto.yml, nbdev.yml, styles.css, ...)."
    for p in Path(nbs).iterdir():
        if p.is_file() and p.suffix != '.ipynb' and (not p.name.startswith(('_', '.')) or p.name in ('_quarto.yml', '_brand.yml')):
            shutil.copy2(p, proc / p.name)


# ---------------------------------------------------------------------------------------------- stage 2: render
def _join(v) -> str: return ''.join(v) if isinstance(v, list) else (v or '')

def pandoc_id(text: str) -> str:
    "The id Pandoc (Quarto) gives a heading, which nbdev's doc links (`page.html#symbol`) rely on."
    t = html.unescape(re.sub(r'<[^>]+>', '', text)).strip().lower()
    t = ''.join(ch for ch in t if ch.isalnum() or ch in '_-. \n\t')
    t = re.sub(r'\s+', '-', t)
    t = re.sub(r'^[^a-z]+', '', t) if re.search(r'[a-z]', t) else ''
    return t or 'section'

_DIRECTIVE = re.compile(r'^\s*#\|\s*(.*)$')

def split_directives(source: str) -> tuple[dict, str]:
    "Quarto/nbdev cell directives (`#| echo: false`) and the source without them."
    lines, opts = source.splitlines(), {}
    i = 0
    while i < len(lines) and (m := _DIRECTIVE.match(lines[i])):
        k, _, v = m.group(1).partition(':')
        opts[k.strip()] = v.strip().lower()
        i += 1
    return opts, '\n'.join(lines[i:]).strip('\n')

_LINK_ATTRS = re.compile(r'(\]\([^)\s]*(?:\s+"[^"]*")?\))\{[^}\n]*\}')
_DIV_OPEN = re.compile(r'^\s*:{3,}\s*\{([^}]*)\}\s*$|^\s*:{3,}\s*([A-Za-z][\w-]*)\s*$')
_DIV_CLOSE = re.compile(r'^\s*:{3,}\s*$')
_FENCE = re.compile(r'^\s*(`{3,}|~{3,})')

def quarto_markdown(src: str) -> str:
    "Turn the Quarto markdown extensions the notebooks use (link attributes, ::: divs) into plain markdown/HTML."
    out, fence = [], None
    for line in src.splitlines():
        m = _FENCE.match(line)
        if fence:
            if m and m.group(1)[0] == fence[0] and len(m.group(1)) >= len(fence): fence = None
            out.append(line); continue
        if m: fence = m.group(1); out.append(line); continue
        if (d := _DIV_OPEN.match(line)):
            classes = ' '.join(t[1:] for t in (d.group(1) or '').split() if t.startswith('.')) or (d.group(2) or '')
            if 'callout' in classes: classes += ' callout'
            out += ['', f'<div class="{html.escape(classes)}">', '']; continue
        if _DIV_CLOSE.match(line): out += ['', '</div>', '']; continue
        out.append(_LINK_ATTRS.sub(r'\1', line))
    return '\n'.join(out)


@dataclass
class Page:
    "One page being rendered: its ids, table of contents and what it contains."
    nb: str
    name: str
    title: str
    description: str
    pages: dict            # notebook file name -> page name, for links to other notebooks
    site_url: str
    ids: set = field(default_factory=lambda: {'sidebar', 'content', 'toc'})   # the template's own ids
    toc: list = field(default_factory=list)
    showdoc: int = 0
    mermaid: int = 0
    plotly: int = 0
    math: int = 0
    figure_seq: int = 0
    md_pages: dict = field(default_factory=dict)   # Memory Bank file name (models.md) -> page name, for links between them

    def new_id(self, text: str, explicit: str | None = None) -> str:
        base = explicit or pandoc_id(text)
        hid, n = base, 0
        while hid in self.ids: n += 1; hid = f'{base}-{n}'
        self.ids.add(hid)
        return hid

    def fix_url(self, url: str) -> str:
        "Links to our own site become relative; links to notebooks become links to their pages."
        if self.site_url and url.startswith(self.site_url): return url[len(self.site_url):] or 'index.html'
        parts = urlsplit(url)
        if not parts.scheme and not parts.netloc and parts.path.endswith('.ipynb'):
            target = self.pages.get(Path(parts.path).name, page_name(parts.path))
            return target + (f'#{parts.fragment}' if parts.fragment else '')
        if not parts.scheme and not parts.netloc and Path(parts.path).name in self.md_pages:
            return self.md_pages[Path(parts.path).name] + (f'#{parts.fragment}' if parts.fragment else '')
        return url


def _markdown(page: Page):
    "A mistune (nbconvert's math-aware parser) renderer that knows the page: heading ids, links, Mermaid."
    from nbconvert.filters.markdown_mistune import IPythonRenderer, MarkdownWithMath
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound

    class Renderer(IPythonRenderer):
        def heading(self, text, level, **attrs):
            explicit = None
            if (m := re.search(r'\s*\{([^}]*)\}\s*$', text)):
                text = text[:m.start()]
                explicit = next((t[1:] for t in m.group(1).split() if t.startswith('#')), None)
            hid = page.new_id(text, explicit)
            if level in (2, 3): page.toc.append((level, hid, re.sub(r'<[^>]+>', '', text)))
            return (f'<h{level} id="{hid}" class="anchored">{text}'
                    f'<a class="anchor-link" href="#{hid}" aria-hidden="true">#</a></h{level}>\n')

        def link(self, text, url, title=None):
            url = page.fix_url(url)
            attrs = ''
            if text.strip() == 'source' and url.startswith('http'): attrs = ' class="source-link" target="_blank" rel="noopener"'
            t = f' title="{html.escape(title)}"' if title else ''
            return f'<a href="{html.escape(url)}"{t}{attrs}>{text}</a>'

        def block_code(self, code, info=None):
            lang = (info or '').strip().strip('{}').split(None, 1)[0] if (info or '').strip() else ''
            if lang == 'mermaid':
                page.mermaid += 1
                return f'<pre class="mermaid">{html.escape(code.strip())}</pre>\n'
            try: lexer = get_lexer_by_name(lang) if lang else None
            except ClassNotFound: lexer = None
            if lexer is None: return f'<pre class="code"><code>{html.escape(code)}</code></pre>\n'
            return highlight(code, lexer, HtmlFormatter(cssclass='highlight'))

        # TeX kept as text, typeset in the browser by the vendored KaTeX (assets/katex)
        def inline_math(self, body):
            page.math += 1
            return f'<span class="math inline">{html.escape(body)}</span>'
        def block_math(self, body):
            page.math += 1
            return f'<div class="math display">{html.escape(body)}</div>\n'
        def latex_environment(self, name, body):
            page.math += 1
            tex = '\\begin{%s}%s\\end{%s}' % (name, body, name)
            return f'<div class="math display">{html.escape(tex)}</div>\n'

    md = MarkdownWithMath(renderer=Renderer(escape=False, exclude_anchor_links=True))
    return lambda src: md.render(quarto_markdown(src))


_PLOTLY_LOADER = ("window.atfPlotly=window.atfPlotly||function(cb){if(window.Plotly)return cb(window.Plotly);"
                  "var q=window.__atfPlotlyQ=window.__atfPlotlyQ||[];q.push(cb);if(q.length>1)return;"
                  "var d=window.define;window.define=undefined;var s=document.createElement('script');"
                  "s.src='assets/plotly.min.js';s.onload=function(){window.define=d;q.forEach(function(f){f(window.Plotly)})};"
                  "s.onerror=function(){window.define=d;console.error('docs site: assets/plotly.min.js did not load')};"
                  "document.head.appendChild(s)};")

def plotly_html(spec: dict, fig_id: str) -> str:
    """A stored plotly figure (`application/vnd.plotly.v1+json`) as HTML that draws it with assets/plotly.min.js.
    The same snippet serves the offline site and Quarto (it loads plotly.js itself, out of reach of require.js)."""
    height = (spec.get('layout') or {}).get('height') or 450
    data = json.dumps(spec, separators=(',', ':')).replace('</', '<\\/')
    return (f'<div class="plotly-figure" id="{fig_id}" style="height:{int(height)}px"></div>\n'
            f'<script type="application/json" id="{fig_id}-spec">{data}</script>\n'
            f'<script>{_PLOTLY_LOADER}(window.__atfPending=window.__atfPending||[]).push(new Promise(function(ok,fail){{'
            f'atfPlotly(function(P){{var el=document.getElementById("{fig_id}");'
            f'var s=JSON.parse(document.getElementById("{fig_id}-spec").textContent);'
            f'P.newPlot(el,s.data||[],s.layout||{{}},Object.assign({{responsive:true,displaylogo:false}},s.config||{{}}))'
            f'.then(function(){{el.dataset.drawn="true";ok()}},fail)}})}}));</script>\n')

_CDN_SCRIPT = re.compile(r'<script\b[^>]*\bsrc\s*=\s*["\']?(?:https?:)?//[^>]*>\s*</script>', re.I)

_PLOTLY_SCRIPT = re.compile(r'<script(?:\s+type="text/javascript")?\s*>(.*?)</script>', re.S | re.I)

def _wrap_plotly_script(m) -> str:
    "Run a plotly HTML output's script once assets/plotly.min.js has loaded (its `require` answered locally)."
    body = m.group(1)
    if 'Plotly.newPlot' not in body: return m.group(0)
    return (f'<script>{_PLOTLY_LOADER}(window.__atfPending=window.__atfPending||[]).push(new Promise(function(ok){{'
            f'atfPlotly(function(Plotly){{var require=function(d,f){{f(Plotly)}};\n{body}\n;ok()}})}}));</script>')

def _is_plotly_bootstrap(h: str) -> bool:
    "plotly's notebook-renderer bootstrap output (a copy of plotly.js, or a CDN loader), drawing nothing itself."
    return 'window.PlotlyConfig' in h and 'Plotly.newPlot' not in h

def _render_output(o: dict, page: Page, md, is_showdoc: bool) -> str:
    kind = o.get('output_type')
    from nbconvert.filters.ansi import ansi2html
    if kind == 'stream':
        return f'<pre class="cell-output cell-output-{o.get("name", "stdout")}">{ansi2html(_join(o.get("text")))}</pre>\n'
    if kind == 'error':
        tb = '\n'.join(o.get('traceback') or [f"{o.get('ename')}: {o.get('evalue')}"])
        return f'<pre class="cell-output cell-output-error">{ansi2html(tb)}</pre>\n'
    data = o.get('data') or {}
    if 'application/vnd.plotly.v1+json' in data:
        page.plotly += 1; page.figure_seq += 1
        fig_id = page.new_id('', f'fig-{page.figure_seq}'); page.ids.add(f'{fig_id}-spec')
        return f'<div class="cell-output cell-output-display">{plotly_html(data["application/vnd.plotly.v1+json"], fig_id)}</div>\n'
    if 'application/vnd.jupyter.widget-view+json' in data:   # live widgets need a kernel; their repr says nothing
        return ('<div class="cell-output widget-note">An interactive widget: run the notebook in JupyterLab '
                '(<code>make lab</code>) to use it.</div>\n')
    if 'text/markdown' in data:
        body = md(_join(data['text/markdown']))
        if is_showdoc:
            page.showdoc += 1
            return f'<div class="cell-output doc-item">\n{body}</div>\n'
        return f'<div class="cell-output cell-output-markdown">\n{body}</div>\n'
    if 'text/html' in data:
        h = _join(data['text/html'])
        if _is_plotly_bootstrap(h): return ''
        if 'Plotly.newPlot' in h:   # a figure stored as HTML by another renderer: draw it with our plotly.js
            page.plotly += 1
            h = _PLOTLY_SCRIPT.sub(_wrap_plotly_script, _CDN_SCRIPT.sub('', h))
        return f'<div class="cell-output cell-output-display">\n{h}\n</div>\n'
    if 'image/svg+xml' in data: return f'<div class="cell-output cell-output-display">{_join(data["image/svg+xml"])}</div>\n'
    for mime in ('image/png', 'image/jpeg', 'image/gif'):
        if mime in data:
            b64 = _join(data[mime]).replace('\n', '')
            return f'<div class="cell-output cell-output-display"><img src="data:{mime};base64,{b64}" alt=""></div>\n'
    if 'text/latex' in data: return f'<pre class="cell-output cell-output-latex">{html.escape(_join(data["text/latex"]))}</pre>\n'
    if 'text/plain' in data: return f'<pre class="cell-output cell-output-text">{ansi2html(_join(data["text/plain"]))}</pre>\n'
    return ''

def _highlight_python(code: str, lang: str = 'python') -> str:
    from pygments import highlight
    from pygments.formatters import HtmlFormatter
    from pygments.lexers import get_lexer_by_name
    from pygments.util import ClassNotFound
    try: lexer = get_lexer_by_name(lang or 'python')
    except ClassNotFound: lexer = get_lexer_by_name('text')
    return highlight(code, lexer, HtmlFormatter(cssclass='highlight'))

def _front_matter(cells: list) -> dict:
    import yaml
    for c in cells:
        if c.get('cell_type') == 'raw':
            s = _join(c.get('source')).strip()
            if s.startswith('---'):
                try: return yaml.safe_load(s.strip('-\n')) or {}
                except yaml.YAMLError: return {}
    return {}

def page_meta(proc_nb: Path) -> dict:
    nb = json.loads(proc_nb.read_text())
    fm = _front_matter(nb['cells'])
    return {'title': str(fm.get('title') or proc_nb.stem), 'description': str(fm.get('description') or ''),
            'output-file': fm.get('output-file') or page_name(proc_nb.name)}

def render_body(proc_nb: Path, page: Page) -> str:
    "The HTML of one processed notebook's cells."
    nb = json.loads(proc_nb.read_text())
    md, out = _markdown(page), []
    lang = (nb.get('metadata', {}).get('kernelspec') or {}).get('language', 'python')
    for cell in nb['cells']:
        kind, src = cell.get('cell_type'), _join(cell.get('source'))
        if kind == 'raw':
            fmt = (cell.get('metadata') or {}).get('format', '') or (cell.get('metadata') or {}).get('raw_mimetype', '')
            if 'html' in fmt.lower(): out.append(src)
            continue
        if kind == 'markdown':
            if src.strip(): out.append(f'<div class="cell cell-markdown">\n{md(src)}</div>\n')
            continue
        if kind != 'code': continue
        opts, code = split_directives(src)
        if opts.get('include') == 'false': continue
        is_showdoc = bool(re.match(r'^show_doc\(', code.strip()))
        parts = []
        if code.strip() and opts.get('echo') != 'false':
            block = _highlight_python(code, (cell.get('metadata') or {}).get('language') or lang)
            if opts.get('code-fold') in ('true', 'show'):
                block = f'<details{" open" if opts["code-fold"] == "show" else ""}><summary>Code</summary>{block}</details>'
            parts.append(f'<div class="cell-input">{block}</div>')
        if opts.get('output') != 'false':
            parts += [_render_output(o, page, md, is_showdoc) for o in cell.get('outputs') or []]
        parts = [p for p in parts if p]
        if parts: out.append('<div class="cell cell-code">\n' + ''.join(parts) + '</div>\n')
    return ''.join(out)


def _env():
    import jinja2
    return jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATE_DIR), autoescape=jinja2.select_autoescape(['html', 'j2']),
                              trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)

def _verify_assets() -> dict:
    "The vendored files, checked against docs_assets/SHA256SUMS (a changed mermaid.min.js fails the build)."
    sums = {}
    for line in (ASSETS_DIR / 'SHA256SUMS').read_text().splitlines():
        if line.strip() and not line.startswith('#'):
            digest, name = line.split(None, 1); sums[name.strip().lstrip('*')] = digest
    for name, digest in sums.items():
        got = hashlib.sha256((ASSETS_DIR / name).read_bytes()).hexdigest()
        if got != digest:
            raise BuildError(f'docs_assets/{name} has sha256 {got}, but docs_assets/SHA256SUMS says {digest}: '
                             'restore it, or follow docs_assets/README.md to update it')
    return sums

def plotly_js() -> Path:
    "plotly.js as the installed plotly package ships it (the version its figures were made for)."
    import importlib.util
    spec = importlib.util.find_spec('plotly')
    if spec is None or spec.origin is None: raise BuildError('plotly is not installed: run `make venv`')
    p = Path(spec.origin).parent / 'package_data' / 'plotly.min.js'
    if not p.exists(): raise BuildError(f'{p} is missing: reinstall plotly')
    return p

def write_assets(out: Path, need_plotly: bool, need_mermaid: bool, need_math: bool) -> None:
    from pygments.formatters import HtmlFormatter
    a = out / 'assets'; a.mkdir(parents=True, exist_ok=True)
    for f in ('site.css', 'site.js'): shutil.copy2(TEMPLATE_DIR / f, a / f)
    (a / 'pygments.css').write_text(HtmlFormatter(style='default').get_style_defs('.highlight') + '\n')
    if need_mermaid:
        shutil.copy2(ASSETS_DIR / 'mermaid.min.js', a / 'mermaid.min.js')
        shutil.copy2(ASSETS_DIR / 'mermaid.LICENSE', a / 'mermaid.LICENSE')
    if need_math: shutil.copytree(ASSETS_DIR / 'katex', a / 'katex')
    if need_plotly: shutil.copy2(plotly_js(), a / 'plotly.min.js')
    for img in sorted(nbs_images()): shutil.copy2(img, out / img.name)  # images the pages' markdown shows (`![..](x.png)`)

IMAGE_SUFFIXES = ('.png', '.jpg', '.jpeg', '.gif', '.svg')
def nbs_images(nbs: Path | None = None) -> list:
    "The image files at the top of nbs/: markdown cells show them by their bare name, in the offline site and Quarto's alike."
    nbs = nbs or Path(__file__).resolve().parents[1] / 'nbs'
    return [p for p in nbs.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]

_INTERNAL_LINK = re.compile(r'<a href="([^"#:/]*\.html)?#([^"]+)"([^>]*)>(.*?)</a>', re.S)

def fix_anchors(body: str, here: str, ids: dict) -> str:
    """Point links to anchors that no page has at the nearest one that exists. nbdev links every name its index
    knows, including methods documented inside their class (`Split.fit_rows` -> #split) and private helpers,
    which have no `show_doc` block: a private name's link is dropped, anything else falls back to the page."""
    def fix(m):
        page, frag, attrs, inner = m.group(1) or '', m.group(2), m.group(3), m.group(4)
        target = ids.get(page or here)
        if target is None or frag in target: return m.group(0)
        parts = frag.split('.')
        for k in range(len(parts) - 1, 0, -1):
            if '.'.join(parts[:k]) in target: return f'<a href="{page}#{".".join(parts[:k])}"{attrs}>{inner}</a>'
        if parts[-1].startswith('_'): return inner
        return f'<a href="{page or here}"{attrs}>{inner}</a>'
    return _INTERNAL_LINK.sub(fix, body)

def _add_memory_bank(sections: list, entries: list) -> list:
    "The sidebar sections with the Memory Bank pages at the end of the Memory Bank section (made where missing)."
    if not entries: return sections
    for title, es in sections:
        if title == MEMORY_BANK_TITLE: es.extend(entries); return sections
    rank = {t: i for i, t in enumerate([None] + [t for _, t in LAYERS] + [OTHER_NUMBERED, UNNUMBERED])}
    return sorted(sections + [(MEMORY_BANK_TITLE, entries)], key=lambda s: rank[s[0]])

def render_site(root: Path, nbs: Path, notebooks: list[Path], proc: Path, out: Path, log=print,
                memory_bank: list[Path] = ()) -> dict:
    "Stage 2: one HTML page per processed notebook and Memory Bank page, with the sidebar by layer, into `out` (replaced at the end)."
    cfg, metas, errors = site_config(root), {}, {}
    def failed(nb, e): errors[nb] = ''.join(traceback.format_exception(type(e), e, e.__traceback__)[-3:]).strip()
    for nb in notebooks:
        try: metas[nb.name] = page_meta(proc / nb.name)
        except Exception as e: failed(nb.name, e); metas[nb.name] = {'title': nb.stem, 'description': '', 'output-file': page_name(nb)}
    mb = {f'{MEMORY_BANK}/{p.name}': p for p in memory_bank}   # key: the page's path in the repository
    md_pages = {p.name: memory_bank_page_name(p) for p in memory_bank}
    for key, p in mb.items():
        title, desc, _ = split_md_page(p.read_text())
        metas[key] = {'title': title or p.stem, 'description': desc, 'output-file': md_pages[p.name]}
    pages = {k: v['output-file'] for k, v in metas.items()}
    seen = {}
    for k, v in pages.items():
        if v in seen: raise BuildError(f'{_shown(nbs)}/{seen[v]} and {_shown(nbs)}/{k} both become the page {v}: rename one of them')
        seen[v] = k
    sections = [(t, [{'href': pages[nb.name], 'title': metas[nb.name]['title'], 'nb': nb.name} for nb in nbs_])
                for t, nbs_ in sidebar_sections(nbs)]
    sections = _add_memory_bank(sections, [{'href': pages[k], 'title': metas[k]['title'], 'nb': k} for k in mb])
    order = [e for _, es in sections for e in es]
    rendered = {}
    for entry in order:   # pass 1: the bodies, and every page's ids
        nb = entry['nb']
        if nb in errors: continue
        page = Page(nb, pages[nb], metas[nb]['title'], metas[nb]['description'], pages, cfg.site_url, md_pages=md_pages)
        try:
            if nb in mb: rendered[nb] = (page, f'<div class="cell cell-markdown">\n{_markdown(page)(split_md_page(mb[nb].read_text())[2])}</div>\n')
            else: rendered[nb] = (page, render_body(proc / nb, page))
        except Exception as e: failed(nb, e)
    if errors:
        raise BuildError('could not render ' + ', '.join(sorted(errors)) + ':\n' +
                         '\n'.join(f'  {k if k in mb else _shown(nbs) + "/" + k}: {v}' for k, v in sorted(errors.items())))
    ids = {page.name: page.ids for page, _ in rendered.values()}
    tmpl = _env().get_template('page.html.j2')
    tmp = Path(tempfile.mkdtemp(prefix='.site-', dir=proc))   # git-ignored; moved to `out` once complete
    info = {}
    try:
        for i, entry in enumerate(order):   # pass 2: links fixed, pages written
            page, body = rendered[entry['nb']]
            doc = tmpl.render(site=cfg, page=page, body=fix_anchors(body, page.name, ids), sections=sections,
                              prev=order[i - 1] if i else None, next=order[i + 1] if i + 1 < len(order) else None,
                              source_url=f'{cfg.repo_url}/blob/{cfg.branch}/{page.nb if page.nb in mb else "nbs/" + page.nb}' if cfg.repo_url else '',
                              source_label=f'Generated page: {page.nb} (make memory-bank)' if page.nb in mb else '')
            (tmp / page.name).write_text(doc)
            info[page.name] = {'notebook': page.nb, 'title': page.title, 'showdoc': page.showdoc,
                               'mermaid': page.mermaid, 'plotly': page.plotly, 'math': page.math}
        write_assets(tmp, *(any(v[k] for v in info.values()) for k in ('plotly', 'mermaid', 'math')))
        (tmp / '.nojekyll').write_text('')
        tmp.chmod(0o755)
        if out.exists(): shutil.rmtree(out)
        shutil.move(str(tmp), str(out))
    finally:
        if tmp.exists(): shutil.rmtree(tmp, ignore_errors=True)
    return info


# ---------------------------------------------------------------------------------------------- Quarto
def prepare_for_quarto(proc: Path, notebooks: list[Path]) -> None:
    """Make the processed notebooks render in Quarto as they do offline: ```mermaid fences (what JupyterLab and
    GitHub draw) become Quarto's ```{mermaid} diagrams, and stored plotly figures (a JSON output Quarto
    ignores) get the HTML that draws them with assets/plotly.min.js."""
    fence = re.compile(r'^(\s*)(`{3,}|~{3,})\s*mermaid\s*$', re.M)
    for nb in notebooks:
        p = proc / nb.name
        d = json.loads(p.read_text()); n = 0
        for c in d['cells']:
            if c.get('cell_type') == 'markdown':
                c['source'] = fence.sub(r'\1\2{mermaid}', _join(c.get('source')))
            for o in c.get('outputs') or []:
                data = o.get('data') or {}
                if 'application/vnd.plotly.v1+json' in data:
                    n += 1
                    data['text/html'] = plotly_html(data.pop('application/vnd.plotly.v1+json'), f'fig-{n}')
        p.write_text(json.dumps(d, indent=1, ensure_ascii=False) + '\n')

def prepare_memory_bank_for_quarto(pages: list[Path], proc: Path) -> list[str]:
    """Copy the Memory Bank pages into `proc` for Quarto (`memory-bank-models.md`, title and description as front
    matter, links to notebooks and to each other pointed at what Quarto renders); the file names written."""
    names = {p.name: memory_bank_page_name(p)[:-len('.html')] + '.md' for p in pages}
    for stale in proc.glob(f'{MEMORY_BANK}-*.md'): stale.unlink()
    for p in pages:
        title, desc, body = split_md_page(p.read_text())
        body = re.sub(r'\]\((?:\.\./)?nbs/([^)\s]+\.ipynb(?:#[^)\s]*)?)\)', r'](\1)', body)
        body = re.sub(r'\]\(([\w.-]+\.md)(#[^)\s]*)?\)', lambda m: f']({names.get(m.group(1), m.group(1))}{m.group(2) or ""})', body)
        body = re.sub(r'^(\s*)(`{3,}|~{3,})\s*mermaid\s*$', r'\1\2{mermaid}', body, flags=re.M)   # Quarto's diagram fence
        fm = json.dumps({'title': title or p.stem, 'description': desc})   # JSON is YAML
        (proc / names[p.name]).write_text(f'---\n{fm}\n---\n\n{body}')
    return list(names.values())

def render_quarto(root: Path, notebooks: list[Path], proc: Path, out: Path, log=print) -> None:
    "Render _proc with Quarto, as `nbdev_docs` does, into `out`."
    if shutil.which('quarto') is None:
        raise BuildError('--quarto needs Quarto on PATH (https://quarto.org/docs/get-started/); without it, '
                         'build the offline site: python tools/build_docs.py')
    prepare_for_quarto(proc, notebooks)
    (proc / CACHE_NAME).unlink(missing_ok=True)   # these notebooks now differ from what the offline build renders
    subprocess.run(['quarto', 'render', '--no-cache'], cwd=proc, check=True)
    built = proc / '_docs'
    if not built.exists(): raise BuildError(f'quarto render wrote no {built}: check nbs/nbdev.yml (output-dir: _docs)')
    if out.exists(): shutil.rmtree(out)
    shutil.move(str(built), str(out))
    (out / 'assets').mkdir(exist_ok=True)
    shutil.copy2(plotly_js(), out / 'assets' / 'plotly.min.js')


# ---------------------------------------------------------------------------------------------- main
def build(root: Path = ROOT, nbs: Path | None = None, out: Path | None = None, proc: Path | None = None,
          jobs: int | None = None, force: bool = False, check: bool = False, sidebar: bool = True,
          quarto: bool = False, log=print, memory_bank: Path | None = None) -> dict:
    """Build the site. `sidebar`: keep nbs/sidebar.yml in sync (False for notebooks outside the project, such
    as test fixtures). `memory_bank`: the Memory Bank folder (default: memory-bank/ when `nbs` is the project's).
    Returns the build info also written to `out`/.build-info.json."""
    t0 = time.time()
    root = Path(root).resolve()
    nbs, out, proc = Path(nbs or root / 'nbs').resolve(), Path(out or root / '_docs').resolve(), Path(proc or root / '_proc').resolve()
    notebooks = find_notebooks(nbs)
    if not notebooks: raise BuildError(f'no notebooks in {nbs}')
    _verify_assets()
    if sidebar and sync_sidebar(nbs, check): log(f'updated {nbs / "sidebar.yml"}: commit it')
    digest = inputs_digest(root, nbs)
    jobs = jobs or max(1, min(2, os.cpu_count() or 1))
    process_notebooks(root, notebooks, proc, jobs=jobs, force=force, log=log)
    copy_support_files(nbs, proc)
    mb = memory_bank_pages(memory_bank if memory_bank is not None else root / MEMORY_BANK if nbs == root / 'nbs' else None)
    # the site always gets the current sidebar (with the Memory Bank pages where Quarto renders them)
    (proc / 'sidebar.yml').write_text(sidebar_yaml(nbs, prepare_memory_bank_for_quarto(mb, proc) if quarto else ()))
    t1 = time.time()
    out.parent.mkdir(parents=True, exist_ok=True)
    if quarto:
        render_quarto(root, notebooks, proc, out, log=log); pages = {}
    else:
        pages = render_site(root, nbs, notebooks, proc, out, log=log, memory_bank=mb)
    info = {'digest': digest, 'quarto': quarto, 'pages': pages}
    (out / INFO_NAME).write_text(json.dumps(info, indent=1, sort_keys=True) + '\n')
    log(f'built {len(notebooks) + len(mb)} pages into {out} in {time.time() - t0:.1f} s '
        f'(processing {t1 - t0:.1f} s, rendering {time.time() - t1:.1f} s)')
    return info

def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument('--check', action='store_true', help='fail when nbs/sidebar.yml is stale instead of rewriting it')
    ap.add_argument('--sidebar', action='store_true', help='only write (or, with --check, check) nbs/sidebar.yml')
    ap.add_argument('--quarto', action='store_true', help='render _proc with Quarto (the published site) instead of offline')
    ap.add_argument('--force', action='store_true', help='process every notebook again, ignoring the _proc cache')
    ap.add_argument('--no-sidebar-sync', action='store_true', help='leave nbs/sidebar.yml alone (the site still gets the current sidebar)')
    ap.add_argument('--nbs', type=Path, help='the notebooks folder (default nbs/; another folder never has its sidebar.yml written)')
    ap.add_argument('--out', type=Path, help='the site folder (default _docs/)')
    ap.add_argument('--proc', type=Path, help='the processed-notebooks folder (default _proc/)')
    ap.add_argument('--memory-bank', type=Path, help='the Memory Bank folder (default memory-bank/ with the project\'s notebooks, none with --nbs)')
    ap.add_argument('-j', '--jobs', type=int, help='processes for stage 1 (default: up to 2)')
    a = ap.parse_args(argv)
    try:
        if a.sidebar:
            nbs = Path(a.nbs or ROOT / 'nbs')
            changed = sync_sidebar(nbs, a.check)
            print(f'{"updated" if changed else "ok:"} {nbs / "sidebar.yml"}')
            return 0
        build(ROOT, a.nbs, a.out, a.proc, jobs=a.jobs, force=a.force, check=a.check, sidebar=a.nbs is None and not a.no_sidebar_sync, quarto=a.quarto,
              memory_bank=a.memory_bank)
    except BuildError as e:
        print(f'FAIL: {e}', file=sys.stderr); return 1
    except subprocess.CalledProcessError as e:
        print(f'FAIL: {e}', file=sys.stderr); return 1
    return 0

if __name__ == '__main__':
    sys.exit(main())

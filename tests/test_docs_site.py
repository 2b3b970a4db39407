"""The docs site, opened page by page in headless Chromium, offline: what a reader sees.

`make docs` (tools/build_docs.py) builds `_docs/` from the notebooks; these tests use it when it is fresh (its
`.build-info.json` digest matches the current inputs) and otherwise build the site themselves into a temporary
folder, so they also work from a fresh clone with plain `pytest`. The site is served on 127.0.0.1 (a free port)
and every page is opened in Debian's Chromium, driven over the DevTools protocol (a pipe, no extra package),
with every host name unresolvable. Checked on every page: no console error or uncaught exception, no request
leaves 127.0.0.1 (no CDN), every Mermaid block became an SVG, every plotly figure drew, every internal link
(page and #anchor) resolves, the sidebar lists every page, and every public function and class that nbdev's
index (`_modidx.py`) documents on a page has its `show_doc` block (heading anchor, signature) there.
A small fixture site checks what the notebooks may not hold today: stored plotly figures (JSON, and HTML from a
CDN renderer), Quarto-style `{mermaid}` fences, links between notebooks, and a failing notebook.
Needs Debian's `chromium` (`make sysdeps`).
"""
import ast, importlib.util, json, os, re, select, shutil, subprocess, sys, threading, time
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit
import pytest

ROOT = Path(__file__).resolve().parents[1]
BUILDER = ROOT / 'tools' / 'build_docs.py'
PAGE_TIMEOUT = 90  # seconds for one page to load and draw (Mermaid's 5.5 MB script on a busy 2-core machine)


def _builder():
    if 'build_docs' not in sys.modules:
        spec = importlib.util.spec_from_file_location('build_docs', BUILDER)
        mod = sys.modules['build_docs'] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
    return sys.modules['build_docs']

def _run_builder(*args, check=True) -> subprocess.CompletedProcess:
    "Run tools/build_docs.py in its own process (it forks workers; this process may hold torch threads)."
    env = {**os.environ, 'PATH': f'{Path(sys.executable).parent}{os.pathsep}{os.environ.get("PATH", "")}'}
    r = subprocess.run([sys.executable, str(BUILDER), *map(str, args)], cwd=ROOT, env=env, capture_output=True,
                       text=True, timeout=900)
    if check and r.returncode: pytest.fail(f'tools/build_docs.py {" ".join(map(str, args))} failed:\n{r.stdout[-2000:]}\n{r.stderr[-6000:]}')
    return r

def _chromium() -> str:
    exe = shutil.which('chromium') or shutil.which('chromium-browser')
    if exe is None: pytest.fail("headless Chromium is not installed: run `make sysdeps` (tools/install_sysdeps.sh installs Debian's chromium)")
    return exe


# ------------------------------------------------------------------------------------------ serving and browsing
class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *a): pass

class Server:
    "The site folder over HTTP on 127.0.0.1, on a free port, in a thread."
    def __init__(self, folder):
        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), partial(_Quiet, directory=str(folder)))
        self.origin = f'http://127.0.0.1:{self.httpd.server_address[1]}/'
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True); self.thread.start()
    def close(self): self.httpd.shutdown(); self.httpd.server_close()


class Chromium:
    "Headless Chromium driven over the DevTools protocol on a pipe (--remote-debugging-pipe: fd 3 in, fd 4 out)."
    def __init__(self, profile: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        def child_fds():
            a, b = os.dup(to_chrome_r), os.dup(from_chrome_w)
            os.dup2(a, 3); os.dup2(b, 4); os.set_inheritable(3, True); os.set_inheritable(4, True)
        cmd = [_chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
               '--disable-component-update', '--no-first-run', '--disable-sync', '--no-default-browser-check',
               f'--user-data-dir={profile}', '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1',
               '--remote-debugging-pipe', '--window-size=1280,900', 'about:blank']
        self.proc = subprocess.Popen(cmd, preexec_fn=child_fds, close_fds=False, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(to_chrome_r); os.close(from_chrome_w)
        self._buf, self._next, self.events = b'', 0, []
        target = self.call('Target.createTarget', {'url': 'about:blank'})['targetId']
        self.session = self.call('Target.attachToTarget', {'targetId': target, 'flatten': True})['sessionId']
        for domain in ('Page', 'Runtime', 'Log', 'Network'): self.call(f'{domain}.enable', session=True)

    def _read(self, timeout):
        while b'\0' not in self._buf:
            ready, _, _ = select.select([self._from_chrome], [], [], timeout)
            if not ready: raise TimeoutError('Chromium did not answer')
            chunk = os.read(self._from_chrome, 1 << 20)
            if not chunk: raise RuntimeError(f'Chromium exited (code {self.proc.poll()})')
            self._buf += chunk
        msg, self._buf = self._buf.split(b'\0', 1)
        return json.loads(msg)

    def call(self, method, params=None, session=False, timeout=60):
        self._next += 1
        msg = {'id': self._next, 'method': method, 'params': params or {}}
        if session: msg['sessionId'] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b'\0')
        deadline = time.monotonic() + timeout
        while True:
            m = self._read(max(0.1, deadline - time.monotonic()))
            if m.get('id') == self._next:
                if 'error' in m: raise RuntimeError(f'{method}: {m["error"]}')
                return m.get('result', {})
            self.events.append(m)

    def evaluate(self, expression, timeout=60):
        r = self.call('Runtime.evaluate', {'expression': expression, 'returnByValue': True, 'awaitPromise': True},
                      session=True, timeout=timeout)
        if 'exceptionDetails' in r: raise RuntimeError(f'{expression[:60]}: {r["exceptionDetails"]}')
        return r['result'].get('value')

    def wait_for(self, method, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if any(e.get('method') == method for e in self.events): return
            self.events.append(self._read(max(0.1, deadline - time.monotonic())))

    def open(self, url, timeout=PAGE_TIMEOUT) -> list:
        "Load `url`, wait until the page says it has drawn everything; return the DevTools events it caused."
        self.events = []
        self.call('Page.navigate', {'url': url}, session=True)
        self.wait_for('Page.loadEventFired', timeout)
        deadline = time.monotonic() + timeout
        while self.evaluate("document.documentElement.dataset.ready === 'true'") is not True:
            if time.monotonic() > deadline: raise TimeoutError(f'{url} never set data-ready (a diagram or figure hung)')
            time.sleep(0.1)
        time.sleep(0.2)   # let late console messages arrive
        self.evaluate('1')
        return self.events

    def close(self):
        try: self.call('Browser.close', timeout=10)
        except Exception: pass
        try: self.proc.wait(10)
        except subprocess.TimeoutExpired: os.killpg(self.proc.pid, 9); self.proc.wait()
        os.close(self._to_chrome); os.close(self._from_chrome)


COLLECT = r"""(() => {
  const q = s => Array.from(document.querySelectorAll(s));
  return {
    ids: q('[id]').map(e => e.id),
    links: q('a[href]').map(a => a.href),
    sidebar: q('#sidebar a').map(a => a.getAttribute('href')),
    mermaid: q('pre.mermaid').map(p => { const svg = p.querySelector('svg');
      return {svg: !!svg, error: !svg || svg.getAttribute('aria-roledescription') === 'error' || /Syntax error/.test(p.textContent),
              text: p.textContent.slice(0, 80)}; }),
    plotly: q('.plotly-figure, .plotly-graph-div').map(d => ({id: d.id, drawn: !!d.querySelector('.main-svg'),
              traces: d.querySelectorAll('g.trace').length})),
    math: q('.math').map(m => ({typeset: !!m.querySelector('.katex') && !m.querySelector('.katex-error'), tex: m.textContent.slice(0, 60)})),
    docs: q('.doc-item').map(d => { const h = d.querySelector('h2[id], h3[id], h4[id]');
      return {id: h ? h.id : null, signature: !!d.querySelector('.highlight pre, pre'), text: d.innerText.trim().length}; }),
  };
})()"""


def _problems(events, origin) -> tuple[list, list]:
    "Console errors and uncaught exceptions; requests that left the site."
    errors, external = [], []
    for e in events:
        m, p = e.get('method'), e.get('params', {})
        if m == 'Runtime.consoleAPICalled' and p.get('type') in ('error', 'assert'):
            errors.append('console.error: ' + ' '.join(str(a.get('value', a.get('description', ''))) for a in p.get('args', [])))
        elif m == 'Runtime.exceptionThrown':
            d = p.get('exceptionDetails', {})
            errors.append('uncaught: ' + str(d.get('exception', {}).get('description') or d.get('text')))
        elif m == 'Log.entryAdded' and p.get('entry', {}).get('level') == 'error':
            errors.append(f"log: {p['entry'].get('text')} {p['entry'].get('url', '')}")
        elif m == 'Network.requestWillBeSent':
            url = p.get('request', {}).get('url', '')
            if not url.startswith((origin, 'data:', 'blob:', 'about:')): external.append(url)
    return errors, external


def visit_site(folder: Path, tmp: Path) -> tuple[dict, list]:
    "Open every page of the site; {page: what the DOM holds + problems}, and the list of pages."
    pages = sorted(p.name for p in folder.glob('*.html'))
    assert 'index.html' in pages, f'{folder} has no index.html'
    server, browser, seen = Server(folder), None, {}
    try:
        browser = Chromium(tmp / 'chromium-profile')
        for name in pages:
            events = browser.open(server.origin + name)
            seen[name] = browser.evaluate(COLLECT)
            seen[name]['errors'], seen[name]['external'] = _problems(events, server.origin)
    finally:
        if browser: browser.close()
        server.close()
    seen['__origin__'] = server.origin
    return seen, pages


def broken_links(seen: dict, folder: Path) -> list:
    "Internal links whose page or #anchor does not exist."
    origin, bad = seen['__origin__'], []
    for name, d in seen.items():
        if name == '__origin__': continue
        for href in d['links']:
            if not href.startswith(origin): continue
            u = urlsplit(href); path = u.path.lstrip('/') or 'index.html'
            if not (folder / path).is_file(): bad.append(f'{name}: link to missing {path}'); continue
            if u.fragment and path in seen and u.fragment not in seen[path]['ids']:
                bad.append(f'{name}: link to {path}#{u.fragment}, an anchor that page does not have')
    return sorted(set(bad))


# ------------------------------------------------------------------------------------------ the project's site
@pytest.fixture(scope='session')
def site(tmp_path_factory) -> Path:
    "_docs/ when `make docs` built it from the current inputs, else a fresh build in a temporary folder."
    docs = ROOT / '_docs'
    info = docs / '.build-info.json'
    try: fresh = json.loads(info.read_text()).get('digest') == _builder().inputs_digest(ROOT) and not json.loads(info.read_text()).get('quarto')
    except (OSError, ValueError): fresh = False
    if fresh: return docs
    out = tmp_path_factory.mktemp('docs') / '_docs'
    _run_builder('--no-sidebar-sync', '--out', out)
    return out

@pytest.fixture(scope='session')
def visited(site, tmp_path_factory):
    return visit_site(site, tmp_path_factory.mktemp('browser'))


def test_sidebar_yml_in_sync():
    "nbs/sidebar.yml (what Quarto reads) lists, by layer, exactly the notebooks that exist."
    b = _builder()
    want = b.sidebar_yaml(ROOT / 'nbs')
    assert (ROOT / 'nbs' / 'sidebar.yml').read_text() == want, \
        'nbs/sidebar.yml is stale: run `python tools/build_docs.py --sidebar` (make docs does it) and commit it'
    listed = re.findall(r'- (\S+\.ipynb)', want)
    assert listed == [nb.name for _, nbs in b.sidebar_sections(ROOT / 'nbs') for nb in nbs]
    assert sorted(listed) == sorted(p.name for p in b.find_notebooks(ROOT / 'nbs'))

def test_ids_and_links_as_quarto_and_nbdev_make_them():
    b = _builder()
    assert b.page_name('00_core.ipynb') == 'core.html' and b.page_name('30a_trainers.metrics.ipynb') == 'trainers.metrics.html'
    assert b.pandoc_id('BacktestResult.__repr__') == 'backtestresult.__repr__'
    assert b.pandoc_id('<code>Split</code> and 2 splits') == 'split-and-2-splits' and b.pandoc_id('1. Intro') == 'intro'
    assert [b.layer_of(Path(n)) for n in ('index.ipynb', '09_dataloaders.ipynb', '16_portfolio.execution.ipynb',
            '30a_trainers.metrics.ipynb', '60_memory_bank.ipynb', '90_quickstart.ipynb', '75_x.ipynb', 'tour.ipynb')] == \
           [None, 'Core and data', 'Portfolio', 'Trainers', 'Memory Bank', 'Quickstart', 'More', 'Guides']
    ids = {'a.html': {'split', 'set_seed'}, 'b.html': {'x'}}
    body = ('<a href="a.html#split.fit_rows">f</a> <a href="a.html#_private">p</a> <a href="a.html#set_seed">s</a> '
            '<a href="#gone">g</a> <a href="https://example.org/#y">e</a>')
    assert b.fix_anchors(body, 'b.html', ids) == ('<a href="a.html#split">f</a> p <a href="a.html#set_seed">s</a> '
                                                 '<a href="b.html">g</a> <a href="https://example.org/#y">e</a>')

def test_one_page_per_notebook(site):
    b = _builder()
    want = {b.page_name(nb) for nb in b.find_notebooks(ROOT / 'nbs')}
    want |= {b.memory_bank_page_name(p) for p in b.memory_bank_pages(ROOT / 'memory-bank')}
    assert {p.name for p in site.glob('*.html')} == want

def test_no_console_errors_and_no_network(visited):
    seen, pages = visited
    errors = [f'{p}: {e}' for p in pages for e in seen[p]['errors']]
    assert not errors, 'console errors:\n' + '\n'.join(errors)
    external = [f'{p}: {u}' for p in pages for u in seen[p]['external']]
    assert not external, 'requests that left the site (a CDN?):\n' + '\n'.join(external)

def test_diagrams_figures_and_formulas_drew(visited):
    seen, pages = visited
    bad = [f'{p}: Mermaid block `{m["text"]}` did not become a diagram' for p in pages for m in seen[p]['mermaid'] if m['error']]
    bad += [f'{p}: plotly figure {f["id"]} did not draw' for p in pages for f in seen[p]['plotly'] if not f['drawn']]
    bad += [f'{p}: KaTeX could not typeset `{m["tex"]}`' for p in pages for m in seen[p]['math'] if not m['typeset']]
    assert not bad, '\n'.join(bad)
    assert any(seen[p]['mermaid'] for p in pages) == any('```mermaid' in nb.read_text() for nb in _builder().find_notebooks(ROOT / 'nbs'))

def test_internal_links_resolve(visited, site):
    seen, pages = visited
    bad = broken_links(seen, site)
    assert not bad, 'broken internal links:\n' + '\n'.join(bad)
    for p in pages:
        assert sorted(set(seen[p]['sidebar'])) == pages, f'{p}: the sidebar does not list every page'

def _documented_symbols() -> dict:
    "{page: {anchor: 'module.symbol'}} for each public top-level function and class nbdev's index documents."
    tree = ast.parse((ROOT / 'ai_trading_framework' / '_modidx.py').read_text())
    d = next(ast.literal_eval(n.value) for n in tree.body if isinstance(n, ast.Assign) and n.targets[0].id == 'd')
    out = {}
    for module, syms in d['syms'].items():
        src = ROOT / (module.replace('.', '/') + '.py')
        if not src.exists(): src = ROOT / module.replace('.', '/') / '__init__.py'
        names = next((ast.literal_eval(n.value) for n in ast.parse(src.read_text()).body if isinstance(n, ast.Assign)
                      and getattr(n.targets[0], 'id', '') == '__all__'), [])
        for qual, (url, _) in syms.items():
            name = qual[len(module) + 1:]
            if '.' in name or name.startswith('_') or name not in names or '#' not in url: continue
            page, anchor = url.split('#', 1)
            out.setdefault(page, {})[anchor] = qual
    return out

def test_show_doc_blocks(visited):
    "Every public function and class has its API block (heading anchor + signature) on its module's page."
    seen, pages = visited
    expected, bad = _documented_symbols(), []
    assert expected, 'nbdev index lists no documented symbols'
    for page, anchors in sorted(expected.items()):
        if page not in seen: bad.append(f'{page}: no such page, but nbdev documents {sorted(anchors.values())[:3]} there'); continue
        for anchor, qual in sorted(anchors.items()):
            # Pandoc (and the offline build) number a repeated heading: a `## BacktestResult` section above the
            # block takes #backtestresult, the block #backtestresult-1; nbdev's links then land on the section.
            blocks = [d for d in seen[page]['docs'] if d['id'] and re.fullmatch(re.escape(anchor) + r'(-\d+)?', d['id'])]
            if anchor not in seen[page]['ids'] or not blocks: bad.append(f'{page}: no show_doc block #{anchor} for {qual}')
            elif not all(d['signature'] for d in blocks): bad.append(f'{page}#{anchor}: show_doc block without a signature')
    assert not bad, '\n'.join(bad)
    b = _builder()
    modules = [nb for nb in b.find_notebooks(ROOT / 'nbs') if '#| export' in nb.read_text() and _public_names(nb)]
    empty = [b.page_name(nb) for nb in modules if not seen[b.page_name(nb)]['docs']]
    assert not empty, f'module pages with public names but no show_doc block: {empty}'


def _public_names(nb) -> list:
    "The `__all__` of the module a notebook exports (a module of private kernels only has none, and no API blocks)."
    import importlib
    m = re.search(r'#\| default_exp ([\w.]+)', nb.read_text())
    return list(getattr(importlib.import_module(f'ai_trading_framework.{m.group(1)}'), '__all__', [])) if m else []


# ------------------------------------------------------------------------------------------ the fixture site
def _nb(cells) -> str:
    return json.dumps({'cells': cells, 'metadata': {'kernelspec': {'display_name': 'Python 3', 'language': 'python', 'name': 'python3'}},
                       'nbformat': 4, 'nbformat_minor': 5}, indent=1)

def _md(src, i): return {'cell_type': 'markdown', 'id': f'md{i}', 'metadata': {}, 'source': src}
def _code(src, i, outputs=()): return {'cell_type': 'code', 'execution_count': None, 'id': f'code{i}', 'metadata': {}, 'outputs': list(outputs), 'source': src}

@pytest.fixture(scope='module')
def fixture_nbs(tmp_path_factory):
    import plotly.graph_objects as go, plotly.io as pio
    fig = go.Figure(go.Scatter(x=[1, 2, 3, 4], y=[3, 1, 4, 1], name='equity'))
    nbs = tmp_path_factory.mktemp('fixture') / 'nbs'; nbs.mkdir()
    (nbs / 'index.ipynb').write_text(_nb([
        _md('# Fixture site\n\n> A site made of two notebooks.', 0),
        _md('The flow:\n\n```mermaid\nflowchart LR\n  A[data] --> B[model] --> C[backtest]\n```\n\n'
            'See [the figures](01_figures.ipynb#a-figure) and [the API page](02_api.ipynb#set_seed).', 1)]))
    (nbs / '01_figures.ipynb').write_text(_nb([
        _md('# Figures\n\n> Stored plotly figures and a Quarto-style diagram.', 0),
        _md('## A figure', 1),
        _code('fig', 2, [{'output_type': 'display_data', 'metadata': {}, 'data': {'application/vnd.plotly.v1+json': json.loads(fig.to_json())}}]),
        _md('## A figure saved as HTML by a CDN renderer\n\n```{mermaid}\nsequenceDiagram\n  Agent->>Env: step\n  Env-->>Agent: reward\n```', 3),
        _code('fig.show()', 4, [{'output_type': 'display_data', 'metadata': {}, 'data': {'text/html': pio.to_html(fig, include_plotlyjs='cdn', full_html=False)}}]),
        _code('print("hello")', 5, [{'output_type': 'stream', 'name': 'stdout', 'text': 'hello\n'}]),
        _md('Back to [the start](index.ipynb).', 6)]))
    (nbs / '02_api.ipynb').write_text(_nb([
        _md('# API\n\n> show_doc of a library function.', 0),
        _code('#| hide\nfrom nbdev.showdoc import show_doc\nfrom ai_trading_framework.core import set_seed', 1),
        _code('show_doc(set_seed)', 2)]))
    return nbs

def test_fixture_site_draws_figures_and_diagrams(fixture_nbs, tmp_path):
    out = tmp_path / 'site'
    _run_builder('--nbs', fixture_nbs, '--out', out, '--proc', tmp_path / 'proc')
    assert not (fixture_nbs / 'sidebar.yml').exists(), 'a build of another folder must not write its sidebar.yml'
    assert sorted(p.name for p in out.glob('*.html')) == ['api.html', 'figures.html', 'index.html']
    assert (out / 'assets' / 'plotly.min.js').exists() and (out / 'assets' / 'mermaid.min.js').exists()
    seen, pages = visit_site(out, tmp_path)
    for p in pages:
        assert not seen[p]['errors'], (p, seen[p]['errors'])
        assert not seen[p]['external'], (p, seen[p]['external'])
    assert [m['error'] for m in seen['index.html']['mermaid']] == [False]
    assert [m['error'] for m in seen['figures.html']['mermaid']] == [False]
    figs = seen['figures.html']['plotly']
    assert len(figs) == 2 and all(f['drawn'] and f['traces'] == 1 for f in figs), figs
    assert [d['id'] for d in seen['api.html']['docs']] == ['set_seed'] and seen['api.html']['docs'][0]['signature']
    assert not broken_links(seen, out)
    links = [h for h in seen['index.html']['links'] if h.startswith(seen['__origin__'])]
    assert any(h.endswith('figures.html#a-figure') for h in links) and any(h.endswith('api.html#set_seed') for h in links), links
    info = json.loads((out / '.build-info.json').read_text())['pages']
    assert info['figures.html']['plotly'] == 2 and info['api.html']['showdoc'] == 1

def test_quarto_preparation(fixture_nbs, tmp_path):
    "What --quarto changes before `quarto render`: Quarto's {mermaid} fences, and HTML for the plotly figures."
    b = _builder()
    proc = tmp_path / 'proc'; proc.mkdir()
    nbs = b.find_notebooks(fixture_nbs)
    for nb in nbs: shutil.copy(nb, proc / nb.name)
    b.prepare_for_quarto(proc, nbs)
    index = json.loads((proc / 'index.ipynb').read_text())
    assert '```{mermaid}\nflowchart LR' in index['cells'][1]['source']
    figs = json.loads((proc / '01_figures.ipynb').read_text())['cells'][2]['outputs'][0]['data']
    assert 'application/vnd.plotly.v1+json' not in figs and 'class="plotly-figure"' in figs['text/html']
    assert 'assets/plotly.min.js' in figs['text/html'] and 'cdn' not in figs['text/html']

def test_failing_notebook_fails_the_build(fixture_nbs, tmp_path):
    "A notebook nbdev cannot process fails the build, naming the notebook and the cell."
    nbs = tmp_path / 'nbs'; shutil.copytree(fixture_nbs, nbs)
    (nbs / '03_broken.ipynb').write_text(_nb([
        _md('# Broken\n\n> A test cell that needs state nbdev does not build.', 0),
        _code('#| export\ndef double(x): return 2 * x', 1),
        _code('import math\nassert math.isfinite(undefined_name)', 2)]))
    r = _run_builder('--nbs', nbs, '--out', tmp_path / 'site', '--proc', tmp_path / 'proc', check=False)
    assert r.returncode == 1, r.stderr
    assert '03_broken.ipynb: cell 2 (id code2)' in r.stderr and "NameError: name 'undefined_name' is not defined" in r.stderr, r.stderr
    assert not (tmp_path / 'site').exists()

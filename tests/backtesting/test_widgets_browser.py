"""Render the interactive backtest widget once in headless Chromium, offline, from its saved HTML page.

The page is written by `save_widget_html`: the widget state plus inlined requirejs, the ipywidgets HTML manager
and anywidget (no CDN). Chromium runs with every host name unresolvable, so a page that needed the network
would not draw. Needs Debian's `chromium` (run `make sysdeps`); no npm or registry: the two JavaScript files ship
with the package (`ai_trading_framework/widget-js`), checked against their pinned sha256 (see `widget_js_assets`).
"""
import re, shutil, subprocess
import numpy as np
import pytest
from ai_trading_framework.synthetic import synthetic_market
from ai_trading_framework.backtest.engine import backtest
from ai_trading_framework.portfolio.costs import CostModel
from ai_trading_framework.backtest.widgets import interactive_backtest, save_widget_html

def _chromium() -> str:
    exe = shutil.which('chromium') or shutil.which('chromium-browser')
    if exe is None: pytest.fail("headless Chromium is not installed: run `make sysdeps` (tools/install_sysdeps.sh installs Debian's chromium)")
    return exe

def _rendered_dom(page, tmp_path) -> str:
    "The DOM after the page's scripts ran, with <script> elements (the raw widget state) removed."
    cmd = [_chromium(), '--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
           '--disable-component-update', '--no-first-run', f'--user-data-dir={tmp_path / "profile"}',
           '--host-resolver-rules=MAP * ~NOTFOUND', '--virtual-time-budget=30000', '--dump-dom', page.as_uri()]
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert r.returncode == 0, r.stderr[-2000:]
    return re.sub(r'<script\b.*?</script>', '', r.stdout, flags=re.S)

def test_widget_draws_offline(tmp_path):
    m = synthetic_market(250, seed=0, freq='B')
    ib = interactive_backtest(m, m['signal'], versions={'inverse': -m['signal']})
    ib.set(commission_bps=10, dates=(m.index[20], m.index[219]), version='inverse')
    want = backtest(m.iloc[20:220], predictions=-m['signal'].iloc[20:220], costs=CostModel(commission_rate=0.001))
    np.testing.assert_allclose(ib.figure.data[0].y, want.equity.to_numpy(), rtol=0, atol=1e-12)
    dom = _rendered_dom(save_widget_html(ib, tmp_path / 'widget.html'), tmp_path)
    assert dom.count('class="main-svg"') >= 2, 'plotly did not draw the figure'
    traces = re.findall(r'class="trace scatter[^"]*"', dom)
    assert len(traces) == 3, traces
    assert len(re.findall(r'<path class="js-line" d="M[^"]{200,}"', dom)) >= 2, 'the equity lines have no points'
    for name in ('strategy', 'buy &amp; hold', 'drawdown'): assert f'>{name}<' in dom, name
    assert 'class="dataframe atf-metrics"' in dom and '>sharpe<' in dom, 'the metrics table was not rendered'
    assert f"{want.metrics['total_return']:.2%}" in dom, 'the metrics table does not show this run'
    assert 'widget-dropdown' in dom and 'inverse' in dom, 'the controls were not rendered'
    labels = re.findall(r'data-unformatted="([^"]*)"', dom)          # axis tick labels and legend entries
    assert any(re.fullmatch(r'[A-Z][a-z]{2} 2015', t) for t in labels), labels   # a date axis ('Mar 2015'), not ns integers
    assert not any(re.fullmatch(r'[\d.]+[TPE]', t) for t in labels), labels

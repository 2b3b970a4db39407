"""Draw the tearsheet HTML in headless Chromium, offline: every figure present.

`BacktestResult.to_html` embeds plotly.js by default; Chromium runs with every host name unresolvable, so a page that
loaded plotly.js from its CDN would show the table and no chart. The backtest is the ragged two-asset hourly file read
with plain pandas (745-bar series such as this once drew an empty rolling-Sharpe panel). Needs Debian's `chromium`
(`make sysdeps`); the browser is driven as in test_widgets_browser.py.
"""
import re
from pathlib import Path
import numpy as np
import pandas as pd
from ai_trading_framework.backtest.engine import backtest
from ai_trading_framework.portfolio.costs import CostModel
from test_widgets_browser import _rendered_dom

DATA = Path(__file__).parents[1] / 'data'


def test_tearsheet_draws_offline(tmp_path):
    raw = pd.read_csv(DATA / 'vendor_hourly.csv')
    n = raw.timestamp.nunique()
    w = pd.DataFrame(np.where(np.arange(n)[:, None] // 24 % 2 == 0, 0.5, -0.5) * [1, 1], pd.to_datetime(sorted(raw.timestamp.unique())), ['AAA', 'BBB'])
    res = backtest(raw, weights=w, costs=CostModel(0.0005), benchmark=None)
    page = tmp_path / 'tearsheet.html'
    res.to_html(page, asset='BBB')
    txt = page.read_text()
    assert 'src="https://cdn.plot.ly' not in txt and len(txt) > 3_000_000          # plotly.js inside the page
    dom = _rendered_dom(page, tmp_path)
    assert dom.count('class="main-svg"') >= 2, 'plotly did not draw the figure'
    for title in ('Equity', 'Drawdown', 'Exposure', 'Rolling Sharpe', 'Monthly returns', 'Trades on BBB'):
        assert re.search(rf'class="annotation-text"[^>]*>{title}', dom), title                 # all six panels
    traces = re.findall(r'class="trace scatter[^"]*"', dom)
    assert len(traces) >= 8, traces                                                              # equity .. exits
    assert 'class="hm"' in dom or 'heatmaplayer' in dom, 'the monthly heatmap was not drawn'
    lines = re.findall(r'<path class="js-line" d="M([^"]*)"', dom)
    assert sum(len(d) > 200 for d in lines) >= 5, 'equity, drawdown, exposure, rolling Sharpe and price lines need points'
    for name in ('equity', 'drawdown', 'rolling sharpe', 'BBB', 'entries'): assert f'>{name}<' in dom, name   # assets by their names
    assert '<table' in dom and 'AAA, BBB' in dom and 'rebalance=always' in dom

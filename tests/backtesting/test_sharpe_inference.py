"""PSR and DSR on skewed, fat-tailed samples, against the formula written out here and against skfolio 1.12.2 (dev extra).

Bailey and Lopez de Prado: PSR(SR*) = Phi((SR - SR*) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1)/4 SR^2)), SR per bar with
std ddof=1, g3 and g4 the population skewness and (non-excess) kurtosis; the DSR is PSR at the expected maximum Sharpe of
N trials of spread sqrt(V): sqrt(V) ((1 - gamma) Phi^-1(1 - 1/N) + gamma Phi^-1(1 - 1/(N e))). A symmetric sample
(g3 = 0, g4 = 3) would let the skew and kurtosis terms be deleted unnoticed; these samples would not.
"""
import math
from statistics import NormalDist
import numpy as np
import pandas as pd
import pytest
from ai_trading_framework.portfolio.metrics import (compute_metrics, deflated_sharpe_ratio, dsr_from_stats, probabilistic_sharpe_ratio,
                                                    psr_from_stats)
from ai_trading_framework.backtest.engine import backtest
from ai_trading_framework.portfolio.costs import CostModel

GAMMA = 0.5772156649015329
PHI, PHI_INV = NormalDist().cdf, NormalDist().inv_cdf


def _sample(seed, n=750):
    "Negatively skewed (exponential crashes) and fat-tailed (Student t, 5 dof) daily returns with a positive Sharpe."
    rng = np.random.default_rng(seed)
    return 3e-3 + 0.01 * rng.standard_t(5, n) - 0.03 * rng.exponential(1, n) * (rng.random(n) < 0.05)


def _psr(r, sr_star):
    "The formula, from the moments computed here."
    sr = r.mean() / r.std(ddof=1); d = r - r.mean(); m2 = (d ** 2).mean()
    g3, g4 = (d ** 3).mean() / m2 ** 1.5, (d ** 4).mean() / m2 ** 2
    return PHI((sr - sr_star) * math.sqrt(len(r) - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr ** 2))


def _max_sr(n, v): return math.sqrt(v) * ((1 - GAMMA) * PHI_INV(1 - 1 / n) + GAMMA * PHI_INV(1 - 1 / (n * math.e)))


@pytest.mark.parametrize('seed', [0, 3, 5])
def test_psr_dsr_on_skewed_fat_tailed_samples(seed):
    r = _sample(seed); d = r - r.mean(); m2 = (d ** 2).mean()
    g3, g4 = (d ** 3).mean() / m2 ** 1.5, (d ** 4).mean() / m2 ** 2
    assert g3 < -1 and g4 > 8                              # the corrections matter on this sample
    assert probabilistic_sharpe_ratio(r) == pytest.approx(_psr(r, 0.0), rel=1e-12)
    assert probabilistic_sharpe_ratio(r, 0.02) == pytest.approx(_psr(r, 0.02), rel=1e-12)
    sr = r.mean() / r.std(ddof=1)
    assert _psr(r, 0.0) != pytest.approx(PHI(sr * math.sqrt(len(r) - 1)), rel=1e-3)   # without the corrections: another number
    for n_trials in (2, 10, 1000, 100_000):                      # many trials, too
        trials = np.random.default_rng(seed + 10).normal(0, 0.03, n_trials)     # per-bar Sharpes of the trials
        want = _psr(r, _max_sr(n_trials, trials.var(ddof=1)))
        assert deflated_sharpe_ratio(r, trials_sharpe=trials) == pytest.approx(want, rel=1e-10, abs=1e-15)
        assert deflated_sharpe_ratio(r, trials_sharpe=trials * math.sqrt(252), periods_per_year=252) == pytest.approx(want, rel=1e-10, abs=1e-15)
        assert dsr_from_stats(sr, len(r), skew=g3, excess_kurtosis=g4 - 3, trials_sharpe=trials) == pytest.approx(want, rel=1e-10, abs=1e-15)
    assert psr_from_stats(sr, len(r), g3, g4 - 3) == pytest.approx(_psr(r, 0.0), rel=1e-12)


@pytest.mark.parametrize('seed', [0, 3])
def test_psr_dsr_match_skfolio(seed):
    try: from skfolio import measures
    except ImportError: pytest.fail('skfolio is not installed: it is in the dev extra (pip install -e ".[dev]")')
    r = _sample(seed)
    assert probabilistic_sharpe_ratio(r, 0.01) == pytest.approx(measures.probabilistic_sharpe_ratio(r, 0.01), rel=1e-10)
    for n_trials in (5, 5000):
        trials = np.random.default_rng(seed).normal(0.01, 0.04, n_trials)
        assert deflated_sharpe_ratio(r, trials_sharpe=trials) == pytest.approx(measures.deflated_sharpe_ratio(r, trials), rel=1e-10, abs=1e-15)


def test_backtest_and_walk_forward_take_the_trials_sharpes():
    "The DSR in a backtest's metrics uses the trials' spread (annualised Sharpes, as `metrics['sharpe']`), not the estimator's."
    idx = pd.bdate_range('2020-01-01', periods=600)
    close = pd.Series(100 * np.cumprod(1 + _sample(5, 600)), idx)
    trials = np.random.default_rng(0).normal(0, 0.6, 200)
    res = backtest(close, weights=pd.Series(1.0, idx), costs=CostModel(), trials_sharpe=trials)
    r = res.returns.iloc[1:].to_numpy()
    assert res.metrics['dsr'] == pytest.approx(_psr(r, _max_sr(200, trials.var(ddof=1) / 252)), rel=1e-10)
    assert res.metrics['dsr'] == pytest.approx(compute_metrics(res.returns.iloc[1:], trials_sharpe=trials)['dsr'], rel=1e-12)
    from ai_trading_framework.backtest.validation import walk_forward
    wf = walk_forward(close, lambda tr, te: np.ones(len(te)), train_size=100, test_size=100, costs=CostModel(), trials_sharpe=trials, progress=False)
    rw = wf.returns.iloc[1:].to_numpy()
    assert wf.metrics['dsr'] == pytest.approx(_psr(rw, _max_sr(200, trials.var(ddof=1) / 252)), rel=1e-10)

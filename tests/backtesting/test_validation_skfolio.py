"""CombinatorialPurgedCV matches skfolio 1.12.2 exactly: the same training and test sets for every split and
the same backtest-path assignment. skfolio's own outputs are stored in data/skfolio_cpcv.json (regenerate with
data/make_skfolio_cpcv.py), so this test needs no skfolio install.

skfolio purges `purged_size` samples before each test block and `purged_size + embargo_size` after it; with one
sample per bar that is our purge with `horizon=purged_size` bars (label windows [i, i + purged_size]) plus an
embargo of `embargo=embargo_size` bars. The label windows are given both ways: as the horizon, and as label ends t1."""
import json
from pathlib import Path
import numpy as np
import pytest
from ai_trading_framework.splits import CombinatorialPurgedCV

CASES = json.loads((Path(__file__).parent / 'data' / 'skfolio_cpcv.json').read_text())
IDS = lambda c: 'n{n_samples}-N{n_folds}-k{n_test_folds}-h{purged_size}-e{embargo_size}'.format(**c)

def _check(cv, splits, case):
    assert cv.get_n_splits() == len(splits) == len(case['splits']) and cv.n_test_paths == case['n_test_paths']
    for (train, test), want in zip(splits, case['splits']):
        assert train.tolist() == want['train']
        assert test.tolist() == sum(want['test'], [])

@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_cpcv_matches_skfolio_with_label_ends(case):
    n, h = case['n_samples'], case['purged_size']
    cv = CombinatorialPurgedCV(case['n_folds'], case['n_test_folds'], embargo=case['embargo_size'])
    t0 = np.arange(n)
    _check(cv, list(cv.split(t0=t0, t1=np.minimum(t0 + h, n - 1))), case)
    paths = cv.paths()  # paths[p, g] = split supplying block g on path p; skfolio: path_ids[s][j] = path of split s's j-th test block
    for s, blocks in enumerate(cv.test_folds):
        for j, g in enumerate(blocks): assert paths[case['path_ids'][s][j], g] == s

@pytest.mark.parametrize('case', CASES, ids=IDS)
def test_cpcv_matches_skfolio_with_horizon(case):
    "The horizon in bars is the same purge as skfolio's purged_size, with no label times at all."
    cv = CombinatorialPurgedCV(case['n_folds'], case['n_test_folds'], horizon=case['purged_size'], embargo=case['embargo_size'])
    _check(cv, list(cv.split(np.zeros((case['n_samples'], 1)))), case)

"""Regenerate skfolio_cpcv.json: skfolio 1.12.2's CombinatorialPurgedCV splits and path ids on a few configurations.

Run in a separate environment with `pip install skfolio==1.12.2` (it is not a project dependency):
    python tests/backtesting/data/make_skfolio_cpcv.py
"""
import json
from pathlib import Path
import numpy as np
from skfolio.model_selection import CombinatorialPurgedCV

CONFIGS = [(100, 6, 2, 0, 0), (103, 6, 2, 3, 2), (57, 5, 3, 2, 0), (61, 4, 2, 1, 1)]  # n_samples, N, k, purged_size, embargo_size

if __name__ == '__main__':
    out = []
    for n, N, k, h, e in CONFIGS:
        cv = CombinatorialPurgedCV(n_folds=N, n_test_folds=k, purged_size=h, embargo_size=e)
        splits = [dict(train=tr.tolist(), test=[t.tolist() for t in te]) for tr, te in cv.split(np.zeros((n, 1)))]
        out.append(dict(n_samples=n, n_folds=N, n_test_folds=k, purged_size=h, embargo_size=e,
                        n_test_paths=int(cv.n_test_paths), path_ids=cv.get_path_ids().tolist(), splits=splits))
    Path(__file__).with_name('skfolio_cpcv.json').write_text(json.dumps(out, separators=(',', ':')))

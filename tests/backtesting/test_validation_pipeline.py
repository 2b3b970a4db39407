"""Cross-layer checks of the validation tools: datasets -> torch model -> walk-forward, and the lookahead detector on
the project's datasets and RL observations (the environment plugs in the same way once it exists)."""
import numpy as np
import pandas as pd
import pytest
import torch
from ai_trading_framework.core import set_seed
from ai_trading_framework.synthetic import synthetic_market, add_returns, rolling_volatility
from ai_trading_framework.datasets import FeatureSpec, make_panel, Normalizer, SupervisedDataset, RLDataset
from ai_trading_framework.portfolio.metrics import information_coefficient
from ai_trading_framework.leakage import check_lookahead, dataset_windows
from ai_trading_framework.backtest.validation import walk_forward

LOOKBACK = 8
EMBARGO = 3 # bars
SPEC = FeatureSpec(['signal', 'ret_1', 'vol_10'], horizon=1)

def features(df):
    return add_returns(df).assign(vol_10=lambda o: rolling_volatility(o, 10)).dropna(subset=['ret_1', 'vol_10'])

@pytest.fixture(scope='module')
def market():
    return features(synthetic_market(1400, seed=11, freq='B', signal_ic=0.15))

def test_walk_forward_retrains_a_torch_model(market):
    "Each fold fits a normaliser and a linear window model on its purged, embargoed training rows only, then predicts its test bars."
    raw = make_panel(market, FeatureSpec(['signal'], horizon=1))
    fitted = []
    def fit_predict(train_idx, test_idx):
        set_seed(0)
        panel = Normalizer().fit(raw, rows=train_idx).transform(raw)  # statistics from the training bars only
        ds = SupervisedDataset(panel, LOOKBACK, rows=train_idx)
        assert ds.t_idx.max() + SPEC.max_horizon + EMBARGO < test_idx[0]  # every training label ends EMBARGO bars before the test window
        assert train_idx.max() + 1 + EMBARGO == test_idx[0] - 1  # and exactly those: 1 bar purged (horizon), EMBARGO embargoed
        xb, yb = ds.__getitems__(np.arange(len(ds)))
        model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(LOOKBACK, 1))
        opt = torch.optim.Adam(model.parameters(), lr=0.01)
        for _ in range(150):
            opt.zero_grad(); loss = torch.nn.functional.mse_loss(model(xb)[:, 0], yb * 100); loss.backward(); opt.step()
        test = SupervisedDataset(panel, LOOKBACK, rows=test_idx)
        out = np.zeros(len(test_idx))
        with torch.no_grad(): out[np.searchsorted(test_idx, test.t_idx)] = model(test.__getitems__(np.arange(len(test)))[0])[:, 0].numpy()
        fitted.append(len(ds)); return out
    wf = walk_forward(market, fit_predict, pass_index=True, train_size=500, test_size=150, horizon=1,
                      embargo=EMBARGO, progress=False)
    assert len(wf.folds) == 6 and len(fitted) == 6 and wf.equity.index.equals(market.index[500:])
    nxt = market['close'].pct_change().shift(-1).loc[wf.predictions.index]
    ic = information_coefficient(wf.predictions.iloc[:-1, 0].to_numpy(), nxt.iloc[:-1].to_numpy())
    assert ic > 0.07, ic  # the planted signal (IC 0.15) is learnt out of sample

def test_project_datasets_are_causal(market):
    raw = lambda d: SupervisedDataset(make_panel(features(d), SPEC), LOOKBACK)
    assert len(check_lookahead(dataset_windows(raw), synthetic_market(400, n_assets=2, seed=3), missing_rows='ignore')) == 0

def test_rl_observations_are_causal():
    "RL observations keyed by bar: the window the agent sees at t must not change when later bars arrive."
    def observations(d):
        rl = RLDataset(make_panel(features(d), SPEC), LOOKBACK)
        return {rl.panel.timestamps[t]: rl.observation(t) for t in range(rl.start, rl.end + 1)}
    def leaky_observations(d):  # normalised with statistics of the whole history
        p = make_panel(features(d), SPEC); rl = RLDataset(Normalizer().fit(p).transform(p), LOOKBACK)
        return {rl.panel.timestamps[t]: rl.observation(t) for t in range(rl.start, rl.end + 1)}
    data = synthetic_market(300, n_assets=2, seed=4)
    assert len(check_lookahead(observations, data)) == 0
    assert len(check_lookahead(leaky_observations, data, strict=False)) > 0

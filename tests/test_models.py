"""End-to-end tests of the model layer on the synthetic market: datasets -> every architecture -> plain torch
training loop -> out-of-sample information coefficient; save/load of a trained model; stacking of trained
models on their purged out-of-fold predictions from `trainers.evaluation.cross_validate` (`stack_ensemble`).

The synthetic market plants `signal` at t with a correlation of `signal_ic` to the (standardised) return
t -> t+1. With signal_ic=0.3 a perfect model reaches an IC of about 0.3 on the test split (about 750
samples, standard error about 0.037); every architecture must clear 0.15. Budget: the whole file runs in well
under 90 s on two busy CPU cores (tiny models, one thread, a few epochs).
"""
import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import spearmanr

from ai_trading_framework.core import set_seed, get_device
from ai_trading_framework.synthetic import synthetic_market, add_returns
from ai_trading_framework.features import FeatureSpec
from ai_trading_framework.datasets import make_datasets
from ai_trading_framework.models.core import create_model, list_models, save_model, load_model, model_spec, pinball_loss

LOOKBACK, SIGNAL_IC, MIN_IC = 16, 0.3, 0.15
SMALL = {'cnn': {'d_model': 16}, 'tcn': {'d_model': 16},
         'lstm': {'d_model': 16, 'n_layers': 1}, 'gru': {'d_model': 16, 'n_layers': 1},
         'transformer': {'d_model': 16, 'n_heads': 2, 'n_layers': 1},
         'multi_transformer': {'d_model': 16, 'n_heads': 2, 'n_layers': 1}}


pytestmark = pytest.mark.usefixtures('one_torch_thread')  # tiny models (tests/conftest.py)


@pytest.fixture(scope='module')
def bundle():
    df = add_returns(synthetic_market(n_bars=3000, seed=0, signal_ic=SIGNAL_IC), periods=[1, 5]).dropna()
    spec = FeatureSpec(features=['signal', 'ret_1', 'ret_5'], target='log_return', horizon=1)
    return make_datasets(df, spec, LOOKBACK, valid=0.15, test=0.25)


def _arrays(ds, idx=None):
    "All (or some) samples of a SupervisedDataset as two tensors on the default device."
    xb, yb = ds.__getitems__(np.arange(len(ds)) if idx is None else idx)
    return xb.to(get_device()), yb.reshape(len(xb), -1).to(get_device())


def _train(model, x, y, epochs=6, bs=64, lr=3e-3, seed=0):
    "A plain Adam loop on standardised targets (no trainer layer here on purpose)."
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    scale = y.std()
    model.train()
    for _ in range(epochs):
        for idx in torch.randperm(len(x), generator=g).split(bs):
            opt.zero_grad(); F.mse_loss(model(x[idx]), y[idx] / scale).backward(); opt.step()
    return model.eval()


def _predict(model, x):
    with torch.no_grad(): return model(x).squeeze(-1).cpu().numpy()


def _ic(pred, y): return spearmanr(pred, np.asarray(y.cpu()).reshape(-1)).statistic


def test_every_architecture_has_a_small_config():
    assert sorted(SMALL) == list_models()


@pytest.mark.parametrize('name', sorted(SMALL))
def test_learns_planted_signal(bundle, name):
    "Each architecture finds the planted signal: out-of-sample IC well above zero, and saving keeps it exactly."
    set_seed(0)
    model = create_model(name, bundle.train, config={**SMALL[name], 'dropout': 0.})  # dims read from the dataset
    assert model.dims.lookback == LOOKBACK and model.dims.n_features == 3
    _train(model, *_arrays(bundle.train))
    xt, yt = _arrays(bundle.test)
    pred = _predict(model, xt)
    ic = _ic(pred, yt)
    assert ic > MIN_IC, f'{name}: out-of-sample IC {ic:.3f} <= {MIN_IC} (planted {SIGNAL_IC})'


def test_classification_from_class_targets():
    "Down/flat/up targets: the task and class count come from the dataset; P(up) - P(down) ranks the outcomes."
    df = add_returns(synthetic_market(n_bars=3000, seed=0, signal_ic=SIGNAL_IC), periods=[1, 5]).dropna()
    spec = FeatureSpec(features=['signal', 'ret_1', 'ret_5'], target='class', thresholds=(-0.004, 0.004), horizon=1)
    b = make_datasets(df, spec, LOOKBACK, valid=0.15, test=0.25)
    set_seed(0)
    model = create_model('gru', b.train, config={**SMALL['gru'], 'dropout': 0.})
    assert (model.task, model.dims.n_classes) == ('classification', 3)
    (x, y), (xt, yt) = b.train.__getitems__(np.arange(len(b.train))), b.test.__getitems__(np.arange(len(b.test)))
    g, opt = torch.Generator().manual_seed(0), torch.optim.Adam(model.parameters(), lr=3e-3)
    x, y, xt = x.to(get_device()), y.to(get_device()), xt.to(get_device())
    for _ in range(6):
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad(); F.cross_entropy(model(x[idx]), y[idx]).backward(); opt.step()
    with torch.no_grad(): p = model.eval()(xt).softmax(-1).cpu().numpy()
    assert spearmanr(p[:, 2] - p[:, 0], yt.numpy()).statistic > 0.12


def test_quantiles_cover_out_of_sample(bundle):
    "A quantile model trained with the pinball loss: test coverage close to the nominal levels, median ranks returns."
    set_seed(0)
    qs = [0.1, 0.5, 0.9]
    model = create_model('lstm', bundle.train, 'quantile', config={**SMALL['lstm'], 'dropout': 0.}, quantiles=qs)
    (x, y), (xt, yt) = _arrays(bundle.train), _arrays(bundle.test)
    scale, g = y.std(), torch.Generator().manual_seed(0)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for _ in range(6):
        for idx in torch.randperm(len(x), generator=g).split(64):
            opt.zero_grad(); pinball_loss(model(x[idx]), y[idx] / scale, qs).backward(); opt.step()
    with torch.no_grad(): q = (model.eval()(xt)[:, 0] * scale).cpu().numpy()  # (n, 3), in return units
    yt = yt.cpu().numpy().reshape(-1)
    cover = (yt[:, None] <= q).mean(0)
    assert 0.04 < cover[0] < 0.2 and 0.35 < cover[1] < 0.65 and 0.8 < cover[2] < 0.96, cover
    assert (np.diff(q, axis=1) > 0).all()  # never crossing
    assert _ic(q[:, 1], torch.tensor(yt)) > MIN_IC


@pytest.mark.parametrize('target', ['return', 'class'])
def test_models_from_trading_dataloaders(target):
    "Every architecture builds from `trading_dataloaders` (multi-asset, asset ids, feature groups) and takes its batches."
    from ai_trading_framework.dataloaders import trading_dataloaders
    df = add_returns(synthetic_market(n_bars=300, n_assets=3, seed=1), periods=[1, 5]).dropna()
    df['day_of_week'] = df.index.get_level_values('timestamp').day_of_week.astype(float)
    spec = FeatureSpec(features=['signal', 'ret_1', 'ret_5', 'volume'], known_features=['day_of_week'], target=target,
                       thresholds=(-0.004, 0.004) if target == 'class' else None, horizon=(1, 5),
                       groups={'price': ['signal', 'ret_1', 'ret_5'], 'volume': ['volume'], 'calendar': ['day_of_week']})
    dls = trading_dataloaders(df, spec, LOOKBACK, bs=32, with_asset=True)
    xb, asset, yb = dls.train.one_batch()
    models = {}
    for name in list_models():
        set_seed(0)
        model = models[name] = create_model(name, dls, config=SMALL[name])
        assert (model.dims.n_assets, model.dims.n_targets, model.task) == (3, 2, dls.task)
        out = model(xb, asset)
        if target == 'class':
            assert out.shape == (32, 3, 2)
            F.cross_entropy(out, yb).backward()
        else:
            assert out.shape == yb.shape == (32, 2)
            F.mse_loss(out, yb).backward()
    assert models['multi_transformer'].encoder.embed.names == ['price', 'volume', 'calendar']  # it reads the groups


def test_save_load_trained_model(bundle, tmp_path):
    set_seed(0)
    model = _train(create_model('tcn', bundle.train, config=SMALL['tcn']), *_arrays(bundle.train), epochs=1)
    save_model(model, tmp_path / 'tcn')
    loaded = load_model(tmp_path / 'tcn')
    xt, _ = _arrays(bundle.test)
    assert model_spec(loaded) == model_spec(model)
    assert np.array_equal(_predict(loaded, xt), _predict(model, xt))


def test_stacking_trained_models_out_of_fold():
    "Stack an LSTM and a TCN on their purged out-of-fold predictions from cross_validate (stack_ensemble); members refit on the training bars predict the later bars."
    from ai_trading_framework.splits import PurgedKFold
    from ai_trading_framework.trainers.config import TrainConfig
    from ai_trading_framework.trainers.supervised_trainer import SupervisedTrainer
    from ai_trading_framework.trainers.evaluation import predict, stack_ensemble
    df = add_returns(synthetic_market(n_bars=1400, seed=1, signal_ic=SIGNAL_IC), periods=[1, 5]).dropna()
    spec = FeatureSpec(features=['signal', 'ret_1', 'ret_5'], target='log_return', horizon=1)
    base = dict(lookback=LOOKBACK, bs=64, epochs=3, lr=3e-3, valid=0.2, out_dir=None, spec=spec, seed=0)
    configs = {n: TrainConfig(model=n, model_config={**SMALL[n], 'dropout': 0.}, **base) for n in ('lstm', 'tcn')}
    train, later = df.iloc[:1000], df.iloc[1000 - LOOKBACK + 1:]  # the later bars keep a lookback of context
    stack = stack_ensemble(configs, train, PurgedKFold(3, horizon=1))
    assert stack.oof_mask_.all() and stack.oof_frame_.index.is_unique  # every training sample has one out-of-fold prediction per member
    for name in configs: assert spearmanr(stack.oof_frame_[name], stack.target_).statistic > MIN_IC
    assert all(w >= 0 for w in stack.weights.values()) and sum(stack.weights.values()) > 0
    members = {}
    for name, c in configs.items():
        set_seed(0); t = SupervisedTrainer.from_frame(c, train); t.fit(progress=False); members[name] = predict(t, later)
    pred = stack.predict(pd.DataFrame(members))
    fwd = np.log(later['close']).diff().shift(-1).reindex(members['lstm'].index)  # the next bar's log return
    ok = fwd.notna().to_numpy()
    assert spearmanr(pred[ok], fwd[ok]).statistic > MIN_IC
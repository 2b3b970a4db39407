"""The CUDA path of each layer that has one, held to the CPU path: loaders (batches land on the device with the
CPU's values), models (the same forward pass within float tolerance), and supervised training (plain torch
steps and a fastai `Learner` epoch reach the same loss and weights within tolerance).

Every test is marked `gpu`: `tests/conftest.py` skips them, with the reason and a printed line, where
`torch.cuda.is_available()` is False; `make test` says which way it went. TF32 is switched off inside these
tests (cuDNN uses it for convolutions and RNNs by default on Ampere and later), so float32 on both devices
agrees to about 1e-5.
"""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from ai_trading_framework.core import set_seed, get_device
from ai_trading_framework.synthetic import synthetic_market
from ai_trading_framework.features import FeatureSpec
from ai_trading_framework.datasets import make_datasets
from ai_trading_framework.dataloaders import trading_dataloaders, datasets_to_dataloaders, TimeMask, GaussianNoise, FeatureDropout
from ai_trading_framework.models.core import InputDims, create_model, list_models, model_spec, model_from_spec

pytestmark = pytest.mark.gpu
DEV = torch.device('cuda')  # the device held to the CPU (tests/conftest.py skips these without CUDA)
LOOKBACK = 12
SMALL = {'cnn': {'d_model': 16}, 'tcn': {'d_model': 16},
         'lstm': {'d_model': 16, 'n_layers': 1}, 'gru': {'d_model': 16, 'n_layers': 1},
         'transformer': {'d_model': 16, 'n_heads': 2, 'n_layers': 1},
         'multi_transformer': {'d_model': 16, 'n_heads': 2, 'n_layers': 1}}


@pytest.fixture(autouse=True)
def full_float32():
    "No TF32 on the device: the comparisons below are float32 against float32."
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


@pytest.fixture(scope='module')
def frame():
    return synthetic_market(600, n_assets=3, seed=2)

SPEC = FeatureSpec(['signal', 'close', 'volume'])


def test_device_default_and_seed():
    "CUDA is the default device where present, and `set_seed` fixes the device's random stream too."
    assert get_device().type == DEV.type
    set_seed(3); a = torch.randn(5, device=DEV)
    set_seed(3); b = torch.randn(5, device=DEV)
    assert a.device.type == DEV.type and torch.equal(a, b)


@pytest.mark.parametrize('tfms', [None, 'timemask'])
def test_loader_batches_land_on_the_device_with_cpu_values(frame, tfms):
    "Same seed, no device-drawn randomness: every training and validation batch is on CUDA and bit-equal to the CPU's."
    mk = lambda dev: trading_dataloaders(frame, SPEC, lookback=LOOKBACK, bs=64, seed=7, device=dev,
                                         tfms=[TimeMask(0.5)] if tfms else None)  # TimeMask draws from NumPy: same on both
    cpu, gpu = mk('cpu'), mk(DEV)
    assert gpu.device.type == DEV.type
    for dl_cpu, dl_gpu in ((cpu.train, gpu.train), (cpu.valid, gpu.valid)):
        bc, bg = list(dl_cpu), list(dl_gpu)
        assert len(bc) == len(bg) > 1
        for tc, tg in zip(bc, bg):
            for u, v in zip(tc, tg):
                assert u.device.type == 'cpu' and v.device.type == DEV.type
                assert torch.equal(u, v.cpu())


def test_loader_device_augmentations_reproducible(frame):
    "Noise and dropout drawn on the device: batches on CUDA, same seed same batches, validation untouched."
    mk = lambda: trading_dataloaders(frame, SPEC, lookback=LOOKBACK, bs=64, seed=7, device=DEV,
                                     tfms=[FeatureDropout(0.2), GaussianNoise(0.1)])
    a, b, plain = mk(), mk(), trading_dataloaders(frame, SPEC, lookback=LOOKBACK, bs=64, seed=7, device='cpu')
    for (xa, ya), (xb, yb), (xp, yp) in zip(a.train, b.train, plain.train):
        assert xa.device.type == DEV.type and torch.equal(xa, xb) and torch.equal(ya, yb)
        assert torch.equal(ya.cpu(), yp) and not torch.equal(xa.cpu(), xp)  # targets untouched, inputs augmented
    for (xa, _), (xp, _) in zip(a.valid, plain.valid): assert torch.equal(xa.cpu(), xp)


@pytest.mark.parametrize('name', sorted(SMALL))
def test_model_forward_cpu_vs_cuda(name):
    "Each architecture, same weights: the CUDA forward (and its input gradient) matches the CPU's within float tolerance."
    assert sorted(SMALL) == list_models(), 'a new architecture needs a small config here'
    dims = InputDims(lookback=LOOKBACK, n_features=5, n_targets=2, n_assets=3, feature_groups={'price': [0, 1, 2], 'volume': [3]})
    set_seed(0)
    m = create_model(name, dims, 'regression', config={**SMALL[name], 'dropout': 0.}, device='cpu').eval()
    mg = model_from_spec(model_spec(m), device=DEV).eval(); mg.load_state_dict(m.state_dict())
    assert all(p.device.type == DEV.type for p in mg.parameters())
    g = torch.Generator().manual_seed(1)
    x, asset = torch.randn(32, LOOKBACK, 5, generator=g), torch.arange(32) % 3
    xc, xg = x.clone().requires_grad_(), x.to(DEV).requires_grad_()
    out_c, out_g = m(xc, asset), mg(xg, asset.to(DEV))
    assert out_g.device.type == DEV.type
    torch.testing.assert_close(out_g.detach().cpu(), out_c.detach(), rtol=1e-4, atol=1e-5)
    w = torch.randn(out_c.shape, generator=g)
    (out_c * w).sum().backward(); (out_g * w.to(DEV)).sum().backward()
    torch.testing.assert_close(xg.grad.cpu(), xc.grad, rtol=1e-3, atol=1e-5)


def _sgd_steps(model, x, y, steps=5, lr=0.05):
    "A few plain SGD steps on one batch; the loss before each step."
    # not Adam: its m/sqrt(v) turns float noise in a near-zero gradient into a full-size step, so two devices could
    # part by lr per step for reasons that are not bugs
    opt, losses = torch.optim.SGD(model.parameters(), lr=lr), []
    model.train()
    for _ in range(steps):
        opt.zero_grad(); loss = F.mse_loss(model(x), y); loss.backward(); opt.step(); losses.append(loss.item())
    return losses


@pytest.mark.parametrize('name', ['cnn', 'lstm', 'transformer'])
def test_training_steps_cpu_vs_cuda(name):
    "Five SGD steps from the same weights on the same batch: same losses and weights on both devices, within tolerance."
    dims = InputDims(lookback=LOOKBACK, n_features=4, n_targets=1)
    set_seed(0)
    m = create_model(name, dims, 'regression', config={**SMALL[name], 'dropout': 0.}, device='cpu')
    mg = model_from_spec(model_spec(m), device=DEV); mg.load_state_dict(m.state_dict())
    g = torch.Generator().manual_seed(2)
    x = torch.randn(64, LOOKBACK, 4, generator=g); y = x[:, -1, :1] * 0.5 + 0.1 * torch.randn(64, 1, generator=g)
    lc, lg = _sgd_steps(m, x, y), _sgd_steps(mg, x.to(DEV), y.to(DEV))
    np.testing.assert_allclose(lg, lc, rtol=1e-4)
    assert lc[-1] < lc[0]
    for (k, p), pg in zip(m.state_dict().items(), mg.state_dict().values()):
        torch.testing.assert_close(pg.cpu(), p, rtol=1e-3, atol=1e-4, msg=lambda s: f'{name} {k}: {s}')


def test_fastai_learner_epoch_cpu_vs_cuda(frame):
    "One fastai `Learner` epoch on the project's loaders (no device randomness): same validation loss and weights on both devices."
    from fastai.learner import Learner
    from fastai.losses import MSELossFlat
    from fastai.optimizer import SGD
    import fastai.callback.progress  # noqa: F401  (Learner.no_bar)
    b = make_datasets(frame, FeatureSpec(['signal', 'close', 'volume']), LOOKBACK, valid=0.2, test=0.0)
    def fit(dev):
        dls = datasets_to_dataloaders(b.train, b.valid, bs=128, seed=5, device=dev)
        set_seed(0)
        model = create_model('lstm', dls, config={**SMALL['lstm'], 'dropout': 0.}, device=dev)
        learn = Learner(dls, model, loss_func=MSELossFlat(), opt_func=SGD, lr=0.05)  # SGD: see _sgd_steps
        with learn.no_bar(), learn.no_logging(): learn.fit(1)
        assert next(learn.model.parameters()).device.type == torch.device(dev).type
        return learn.validate()[0], {k: v.detach().cpu() for k, v in learn.model.state_dict().items()}
    (loss_c, w_c), (loss_g, w_g) = fit('cpu'), fit(DEV)
    np.testing.assert_allclose(loss_g, loss_c, rtol=1e-3)
    for k in w_c: torch.testing.assert_close(w_g[k], w_c[k], rtol=1e-3, atol=1e-4, msg=lambda s: f'{k}: {s}')

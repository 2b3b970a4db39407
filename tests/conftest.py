"""Session set-up shared by every test file.

- A fresh temporary folder per test run as `ATF_CACHE_DIR` (the compiled loader kernel, 08_kernels), removed at the
  end: tests never write into `~/.cache/ai_trading_framework`, and never reuse what an earlier run compiled there.
  Subprocesses the tests start inherit it.
- Tests marked `gpu` need CUDA: where `torch.cuda.is_available()` is False they are skipped with the reason
  "no CUDA device: run on a GPU machine", and a line says how many. This is the one marker skipped this way;
  every other missing prerequisite fails its test.
"""
import os, shutil, tempfile
import pytest

NO_CUDA = 'no CUDA device: run on a GPU machine'
_saved = {}


def pytest_configure(config):
    cache = tempfile.mkdtemp(prefix='atf-pytest-cache-')
    _saved.update(dir=cache, old=os.environ.get('ATF_CACHE_DIR'))
    os.environ['ATF_CACHE_DIR'] = cache


def pytest_unconfigure(config):
    if 'dir' not in _saved: return
    if _saved['old'] is None: os.environ.pop('ATF_CACHE_DIR', None)
    else: os.environ['ATF_CACHE_DIR'] = _saved['old']
    shutil.rmtree(_saved.pop('dir'), ignore_errors=True)


def _cuda() -> str | None:
    "The CUDA device's name, or None where torch sees no CUDA device."
    import torch
    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


def pytest_collection_modifyitems(config, items):
    gpu = [it for it in items if it.get_closest_marker('gpu')]
    if not gpu: return
    name, tr = _cuda(), config.pluginmanager.get_plugin('terminalreporter')
    line = (f'gpu: {len(gpu)} tests marked gpu run on {name}' if name else
            f'gpu: {len(gpu)} tests marked gpu are skipped: {NO_CUDA}')
    if tr is not None: tr.write_line(line)
    else: print(line)
    if name: return
    for it in gpu: it.add_marker(pytest.mark.skip(reason=NO_CUDA))


@pytest.fixture(scope='module')
def one_torch_thread():
    "torch on one thread for a module of tests on tiny models (a second thread only adds overhead on a shared CPU)."
    import torch
    old = torch.get_num_threads(); torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)

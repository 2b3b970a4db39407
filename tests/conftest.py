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


def free_port() -> int:
    "A TCP port free on 127.0.0.1 now."
    import socket
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def as_postgres(*cmd):
    "Run `cmd` as the postgres OS user when we are root (initdb refuses root), else as ourselves."
    import subprocess
    prefix = ['runuser', '-u', 'postgres', '--'] if os.geteuid() == 0 else []
    return subprocess.run(prefix + [str(c) for c in cmd], check=True, capture_output=True, text=True, timeout=120)


def pg_bin(name:str) -> str:
    "The newest installed PostgreSQL's `name` binary; fails (never skips) when there is none."
    import glob, re
    found = glob.glob(f'/usr/lib/postgresql/*/bin/{name}')
    if not found:
        pytest.fail(f'PostgreSQL is not installed (no /usr/lib/postgresql/*/bin/{name}): run `make sysdeps` '
                    '(tools/install_sysdeps.sh) to install it', pytrace=False)
    return max(found, key=lambda p: int(re.search(r'postgresql/(\d+)', p).group(1)))


class PgCluster:
    "A throwaway PostgreSQL cluster on 127.0.0.1 (trust auth, no fsync); `url(db)` creates a database once and names it."
    def __init__(self, port:int, sockets:str): self.port, self.sockets, self.dbs = port, sockets, set()
    def url(self, db:str, driver:str='postgresql+psycopg', timezone:str|None=None) -> str:
        if db not in self.dbs:
            as_postgres(pg_bin('createdb'), '-h', '127.0.0.1', '-p', self.port, '-U', 'postgres', db)
            if timezone: as_postgres(pg_bin('psql'), '-h', '127.0.0.1', '-p', self.port, '-U', 'postgres', '-d', db,
                                     '-c', f"ALTER DATABASE {db} SET timezone TO '{timezone}'")
            self.dbs.add(db)
        return f'{driver}://postgres@127.0.0.1:{self.port}/{db}'


@pytest.fixture(scope='session')
def postgres():
    "One throwaway PostgreSQL cluster for the test session (the data sources, sweeps and team-store tests), stopped at the end."
    import subprocess
    initdb, pg_ctl = pg_bin('initdb'), pg_bin('pg_ctl')
    tmp = tempfile.mkdtemp(prefix='atf_pg_'); os.chmod(tmp, 0o755)
    if os.geteuid() == 0: shutil.chown(tmp, 'postgres', 'postgres')
    data, log, port = os.path.join(tmp, 'data'), os.path.join(tmp, 'server.log'), free_port()
    started = False
    try:
        as_postgres(initdb, '-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync')
        opts = f'-p {port} -c listen_addresses=127.0.0.1 -k {tmp} -c fsync=off'
        try: as_postgres(pg_ctl, '-D', data, '-l', log, '-w', '-t', '60', '-o', opts, 'start')
        except subprocess.CalledProcessError as e:
            pytest.fail(f'pg_ctl start failed: {e.stderr}\n{open(log).read() if os.path.exists(log) else ""}', pytrace=False)
        started = True
        yield PgCluster(port, tmp)
    finally:
        if started: as_postgres(pg_ctl, '-D', data, 'stop', '-m', 'immediate')
        shutil.rmtree(tmp, ignore_errors=True)

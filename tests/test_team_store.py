"""The team store: a real `mlflow server` backed by PostgreSQL, reached over HTTP.

A module fixture takes two databases on the session's throwaway PostgreSQL cluster (`postgres` in tests/conftest.py:
Debian's package, initdb + pg_ctl as the `postgres` OS user when we are root, trust auth, 127.0.0.1 and a free port) and
starts `mlflow server --backend-store-uri postgresql://...
--artifacts-destination <tmp>` on another free port (job execution off: 2 processes instead of 10), and stops it
(process groups) afterwards, whatever happened. Through `http://127.0.0.1:<port>`: an `Experiment` with params,
metrics and a figure read back by `search` and the artifact API; a trainer's MLflow logger nesting into it; and a
`ModelManager` save + load of a pipeline that predicts the same numbers.
The server runs MLflow's built-in authentication (`--app-name basic-auth`, the `mlflow[auth]` extra, users in a
second PostgreSQL database), as a team would run it: the admin creates a user, the test works as that user through
MLflow's `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`, and a request without them is refused (401).
PostgreSQL missing fails with the command that installs it (`make sysdeps`), like every other missing prerequisite.
"""
import base64, importlib.util, os, shutil, signal, subprocess, sys, tempfile, time, urllib.error, urllib.request
from pathlib import Path

import numpy as np
import pytest
from mlflow import MlflowClient
from plotly import graph_objects as go

from ai_trading_framework.experiments import Experiment, search
from conftest import free_port

ADMIN, ADMIN_PASSWORD = 'admin', 'admin-password-for-tests'
USER, USER_PASSWORD = 'researcher', 'researcher-password-42'

def _wait_health(url, proc, log, timeout=120):
    "Poll the server's /health until it answers OK; fail with its log if it dies or never answers."
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None: pytest.fail(f'mlflow server exited with {proc.returncode}:\n{Path(log).read_text()[-3000:]}', pytrace=False)
        try:
            with urllib.request.urlopen(f'{url}/health', timeout=2) as r:
                if r.status == 200: return time.time() - t0
        except OSError: time.sleep(0.5)
    pytest.fail(f'mlflow server gave no /health answer in {timeout} s:\n{Path(log).read_text()[-3000:]}', pytrace=False)


def _stop_group(proc):
    "SIGTERM the process group, SIGKILL it if it lingers."
    if proc.poll() is not None: return
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=5)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL); proc.wait(timeout=10)
    except ProcessLookupError: pass


AUTH_INI = """[mlflow]
default_permission = READ
database_uri = {db}
admin_username = {user}
admin_password = {password}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
auth_cache_ttl_seconds = 60
"""


@pytest.fixture(scope='module')
def server(postgres):
    "http://127.0.0.1:<port> of an mlflow server (basic auth) on two fresh databases of the session's PostgreSQL cluster; stopped afterwards."
    if importlib.util.find_spec('flask_wtf') is None:
        pytest.fail("MLflow's basic-auth app needs the mlflow[auth] extra (Flask-WTF): pip install 'mlflow[auth]'", pytrace=False)
    tmp, mlf = Path(tempfile.mkdtemp(prefix='atf_team_')), None
    try:
        (tmp/'auth.ini').write_text(AUTH_INI.format(db=postgres.url('mlflow_auth', driver='postgresql'), user=ADMIN, password=ADMIN_PASSWORD))
        http_port, mlf_log = free_port(), tmp/'mlflow.log'
        cmd = [str(Path(sys.executable).with_name('mlflow')), 'server', '--app-name', 'basic-auth',
               '--backend-store-uri', postgres.url('mlflow', driver='postgresql'), '--artifacts-destination', str(tmp/'artifacts'),
               '--host', '127.0.0.1', '--port', str(http_port), '--workers', '1']
        env = {**os.environ, 'MLFLOW_SERVER_ENABLE_JOB_EXECUTION': 'false', 'MLFLOW_AUTH_CONFIG_PATH': str(tmp/'auth.ini'),
               'MLFLOW_FLASK_SERVER_SECRET_KEY': 'a-test-secret-key'}
        with open(mlf_log, 'w') as out:
            mlf = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp, start_new_session=True)
        url = f'http://127.0.0.1:{http_port}'
        _wait_health(url, mlf, mlf_log)
        yield url
    finally:
        if mlf is not None: _stop_group(mlf)
        shutil.rmtree(tmp, ignore_errors=True)


def _get(url, user=None, password=None) -> int:
    "The HTTP status of a GET, with basic-auth credentials if given."
    req = urllib.request.Request(url)
    if user: req.add_header('Authorization', 'Basic ' + base64.b64encode(f'{user}:{password}'.encode()).decode())
    try:
        with urllib.request.urlopen(req, timeout=10) as r: return r.status
    except urllib.error.HTTPError as e: return e.code


@pytest.fixture
def researcher(server, tmp_path, monkeypatch):
    "Work as a user the admin created, in a fresh working directory (nothing may land in a local store)."
    from mlflow.server import get_app_client
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv('MLFLOW_TRACKING_USERNAME', ADMIN); monkeypatch.setenv('MLFLOW_TRACKING_PASSWORD', ADMIN_PASSWORD)
    get_app_client('basic-auth', tracking_uri=server).create_user(username=USER, password=USER_PASSWORD)
    monkeypatch.setenv('MLFLOW_TRACKING_USERNAME', USER); monkeypatch.setenv('MLFLOW_TRACKING_PASSWORD', USER_PASSWORD)
    monkeypatch.setenv('MLFLOW_TRACKING_URI', server) # how a team points the whole project at its server
    return tmp_path


def test_login_is_required(server):
    api = f'{server}/api/2.0/mlflow/experiments/search?max_results=1'
    assert _get(api) == 401 and _get(api, ADMIN, 'wrong-password-123') == 401
    assert _get(api, ADMIN, ADMIN_PASSWORD) == 200


def test_experiment_trainer_and_model_manager_over_http(server, researcher):
    workdir = researcher
    from ai_trading_framework.trainers.supervised_trainer import synth_data, synth_trainer
    fig = go.Figure(go.Scatter(y=[1.0, 1.03, 1.01], name='team-equity'))
    with Experiment('team', run_name='study', tags={'owner': 'desk-a'}) as exp: # no uri: MLFLOW_TRACKING_URI
        exp.log_params({'lookback': 8, 'model': {'name': 'lstm'}})
        for step, v in enumerate([0.2, 0.4]): exp.log_metrics({'ic': v}, step)
        assert exp.log_figure(fig, 'equity') == 'figures/equity.html'
        trainer = synth_trainer(epochs=2, loggers=('mlflow',)) # no tracking_uri: the experiment's server
        trainer.fit(progress=False)
        saved_version = _save_pipeline(trainer, exp.run_id)
    assert exp.uri == server and exp.url == f'{server}/#/experiments/{exp.experiment_id}/runs/{exp.run_id}' and exp.ui_command is None

    runs = search('team', uri=server).set_index('run_name')
    assert runs.loc['study', ['status', 'params.model.name', 'metrics.ic', 'tags.owner']].tolist() == ['FINISHED', 'lstm', 0.4, 'desk-a']
    assert runs.loc['run', 'parent_run_id'] == exp.run_id and runs.loc['run', 'status'] == 'FINISHED' # the trainer's child run
    c = MlflowClient(server)
    kid = runs.loc['run', 'run_id']
    assert [m.step for m in c.get_metric_history(kid, 'valid_loss')] == [0, 1]
    assert c.get_run(kid).data.params['model'] == 'lstm'
    page = (Path(c.download_artifacts(exp.run_id, 'figures/equity.html', str(workdir/'dl')))).read_text()
    assert '"name":"team-equity"' in page
    assert exp.artifact_uri.startswith('mlflow-artifacts:') # stored by the server, not on this machine
    assert not (workdir/'mlruns.db').exists() and not (workdir/'mlartifacts').exists()

    # the registered pipeline, loaded back through HTTP, predicts what the trained one does
    from ai_trading_framework.model_manager import ModelManager, Pipeline
    df, _ = synth_data()
    loaded = ModelManager().load('team-lstm') # no uri: MLFLOW_TRACKING_URI
    assert int(loaded.info['registry']['version']) == saved_version
    np.testing.assert_array_equal(np.asarray(loaded.predict(df)), np.asarray(Pipeline.from_trainer(trainer).predict(df)))


def _save_pipeline(trainer, run_id) -> int:
    "Register the trainer's pipeline under the experiment's run; its version."
    from ai_trading_framework.model_manager import ModelManager, Pipeline
    mv = ModelManager().save('team-lstm', Pipeline.from_trainer(trainer), run_id=run_id)
    return int(mv.version)

"""A team server: checkpoints in the run's artifact store (fast, a store forced to be
"remote"), and a real PostgreSQL + ``mlflow server`` with proxied artifacts against a SQLite
baseline: a run, a run killed and resumed from another folder, and a sweep served by a chief
alone to two workers started separately (slow; skipped without PostgreSQL or psycopg2)."""

from __future__ import annotations

import json

import mlflow
import pytest
from conftest import tiny_recipe

from kerasnets.recipe import validate
from kerasnets.train import checkpoint as checkpoint_module
from kerasnets.train import loop
from kerasnets.train.callbacks import EpochTimer


def _artifact_paths(client, run_id: str, path: str | None = None) -> set[str]:
    """Every artifact file of a run, recursively."""
    paths = set()
    for item in client.list_artifacts(run_id, path):
        paths |= _artifact_paths(client, run_id, item.path) if item.is_dir else {item.path}
    return paths


def test_a_remote_checkpoint_goes_to_the_artifact_store_and_resumes_from_it(tracking, monkeypatch, tmp_path):
    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setattr("tempfile.tempdir", str(staging))
    # treat the SQLite store's artifact folder as a remote store: no checkpoint is written in place
    monkeypatch.setattr(checkpoint_module, "local_artifact_dir", lambda uri: None)
    recipe = validate(
        tiny_recipe(
            optimizer={"name": "sgd", "learning_rate": 0.1, "momentum": 0.9},
            train={"epochs": 5, "seed": 1},
            tracking={"enabled": True, "experiment": "remote-checkpoint", "log_model": False},
        ),
        "t",
    )
    original = EpochTimer.on_epoch_end

    def interrupt(self, epoch, logs=None):
        if epoch == 3:  # during the end of the fourth epoch: three are checkpointed
            raise KeyboardInterrupt
        return original(self, epoch, logs)

    with monkeypatch.context() as patch:
        patch.setattr(EpochTimer, "on_epoch_end", interrupt)
        with pytest.raises(KeyboardInterrupt):
            loop.run(recipe, echo=lambda _: None)
    client = mlflow.MlflowClient(tracking)
    experiment = client.get_experiment_by_name("remote-checkpoint")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "KILLED"
    stored = _artifact_paths(client, run.info.run_id, "checkpoint")
    # the latest epoch only: two weight slots (epochs 2 and 3) and state.json naming the current one
    assert stored == {
        "checkpoint/state.json",
        "checkpoint/weights-even.npz",
        "checkpoint/weights-odd.npz",
    }
    state = json.loads(
        (tmp_path / client.download_artifacts(run.info.run_id, "checkpoint/state.json")).read_text()
    )
    assert state["epoch"] == 3 and state["weights"] == "weights-odd.npz" and len(state["history"]) == 3
    assert not list(staging.glob("kerasnets-checkpoint-*"))  # the local copy is gone: the store has it

    lines = []
    result = loop.resume(run.info.run_id, echo=lines.append)
    assert "resuming run" in lines[0] and "after epoch 3 of 5" in lines[0]
    assert sorted(m.step for m in client.get_metric_history(result.run_id, "loss")) == [1, 2, 3, 4, 5]
    assert client.get_run(result.run_id).info.status == "FINISHED"
    assert not _artifact_paths(client, result.run_id, "checkpoint")  # deleted once finished
    assert "kerasnets.checkpoint" not in client.get_run(result.run_id).data.tags
    assert not list(staging.glob("kerasnets-checkpoint-*"))


# ------------------------------------------------------------------ PostgreSQL + mlflow server (slow)

RUN = """
data: {dataset: synthetic, batch_size: 64, options: {num_samples: 600, num_classes: 4, shape: [16, 16, 1]}}
model: {name: mlp, hidden: [32]}
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 2, seed: 0, verbose: 0}
tracking: {experiment: team-run, log_model: false}
"""
KILLED = """
data: {dataset: synthetic, batch_size: 64, options: {num_samples: 4000, num_classes: 4, shape: [32, 32, 3]}}
model: {name: mlp, hidden: [128]}
optimizer: {name: sgd, learning_rate: 0.01, momentum: 0.9}
train: {epochs: 6, seed: 2, verbose: 2, steps_per_execution: 1}
tracking: {experiment: team-killed, log_model: false}
"""
SWEEP_BASE = """
data: {dataset: digits, batch_size: 64}
model: {name: mlp, hidden: [16]}
optimizer: {name: adam, learning_rate: 0.01}
train: {epochs: 2, seed: 0, verbose: 0}
tracking: {experiment: team-sweep, log_model: false}
"""
SWEEP = """
name: team-sweep
recipe: base.yaml
objective: val_accuracy
tuner: {name: random, seed: 1}
max_trials: 3
space:
  optimizer.learning_rate: {type: float, min: 1.0e-3, max: 0.1, log: true}
"""


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _postgres_driver() -> str:
    """The SQLAlchemy driver name for an installed PostgreSQL client library."""
    import importlib.util

    for module, driver in (("psycopg", "postgresql+psycopg"), ("psycopg2", "postgresql+psycopg2")):
        if importlib.util.find_spec(module) is not None:
            return driver
    pytest.skip("no PostgreSQL driver: pip install 'kerasnets[team]' (psycopg)")


def _as_postgres_user() -> tuple[list[str], str | None]:
    """initdb refuses root: as root, run the server as 'nobody'."""
    import os
    import shutil

    if os.geteuid() != 0:
        return [], None
    if shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as another user")
    return ["runuser", "-u", "nobody", "--"], "nobody"


@pytest.fixture
def postgres():
    """A throwaway PostgreSQL server on 127.0.0.1 (a free port); yields its SQLAlchemy URI."""
    import os
    import shutil
    import subprocess
    import tempfile

    if not (shutil.which("initdb") and shutil.which("pg_ctl")):
        pytest.skip("PostgreSQL (initdb, pg_ctl) is not on PATH")
    driver = _postgres_driver()
    prefix, user = _as_postgres_user()
    folder = tempfile.mkdtemp(prefix="kerasnets-pg-")  # under /tmp: pytest's tmp_path is root-only
    data, port = os.path.join(folder, "data"), _free_port()
    password = os.path.join(folder, "password")
    with open(password, "w") as handle:
        handle.write("team-secret\n")
    if user:
        shutil.chown(folder, user)
        shutil.chown(password, user)

    def pg(*args: str) -> None:
        subprocess.run([*prefix, *args], check=True, capture_output=True, timeout=120)

    pg("initdb", "-D", data, "-U", "mlflow", f"--pwfile={password}", "--auth-host=scram-sha-256",
       "--auth-local=trust", "-E", "UTF8")  # fmt: skip
    options = f"-h 127.0.0.1 -p {port} -k {folder} -c max_connections=50"
    pg("pg_ctl", "-D", data, "-l", os.path.join(folder, "server.log"), "-w", "-o", options, "start")
    try:
        pg(
            "psql",
            "-h",
            folder,
            "-p",
            str(port),
            "-U",
            "mlflow",
            "-d",
            "postgres",
            "-c",
            "CREATE DATABASE mlflow",
        )
        yield f"{driver}://mlflow:team-secret@127.0.0.1:{port}/mlflow"
    finally:
        pg("pg_ctl", "-D", data, "-m", "fast", "-w", "stop")
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def mlflow_server(postgres, tmp_path):
    """``mlflow server`` on the PostgreSQL store with proxied artifacts, bound to 127.0.0.1;
    yields (tracking URI, artifacts folder)."""
    import os
    import signal
    import subprocess
    import sys
    import time
    import urllib.request
    from pathlib import Path

    artifacts, port = tmp_path / "server-artifacts", _free_port()
    log = open(tmp_path / "mlflow-server.log", "w")
    command = [
        str(Path(sys.executable).parent / "mlflow"), "server",
        "--backend-store-uri", postgres,
        "--artifacts-destination", str(artifacts),
        "--serve-artifacts",
        "--host", "127.0.0.1", "--port", str(port),
        "--workers", "1",
    ]  # fmt: skip
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}  # no job consumers: 2 cores
    server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 240
        while True:
            try:
                with urllib.request.urlopen(f"{uri}/health", timeout=5) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert server.poll() is None, (tmp_path / "mlflow-server.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "mlflow server did not answer /health in time"
            time.sleep(1)
        yield uri, artifacts
    finally:
        os.killpg(server.pid, signal.SIGTERM)  # the server and the processes it started
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        log.close()


def _cli(cwd, uri: str, *args: str, env: dict | None = None):
    """Start ``python -m kerasnets ARGS`` in ``cwd`` (this checkout's package) against ``uri``."""
    import os
    import subprocess
    import sys

    from conftest import ROOT

    (cwd / "tmp").mkdir(parents=True, exist_ok=True)
    full = {
        **os.environ,
        "MLFLOW_TRACKING_URI": uri,
        "PYTHONPATH": str(ROOT),
        "TMPDIR": str(cwd / "tmp"),
        **(env or {}),
    }
    return subprocess.Popen(
        [sys.executable, "-m", "kerasnets", *args],
        cwd=cwd,
        env=full,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: a "host" and its tracking process die together
    )


def _finish(process, timeout: float = 600) -> str:
    out, _ = process.communicate(timeout=timeout)
    assert process.returncode == 0, out[-4000:]
    return out


def _wait_for(condition, process, what: str, timeout: float = 300):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = condition()
        if found:
            return found
        assert process.poll() is None, f"ended before {what}: " + process.stdout.read()[-4000:]
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _checkpoint_epochs(root) -> int:
    """The highest epoch of any checkpoint/state.json under ``root`` (0 without one)."""
    best = 0
    for state in root.glob("**/checkpoint/state.json"):
        try:
            best = max(best, json.loads(state.read_text())["epoch"])
        except (ValueError, OSError, KeyError):
            pass
    return best


def _exercise(folder, uri: str, checkpoints, sweep_state) -> dict:
    """A run, a run SIGKILLed after two epochs and resumed from another folder, and a sweep
    served by ``--workers 0`` to two workers started separately; returns what the chief said."""
    import os
    import signal

    host_a, host_b, sweep = folder / "host-a", folder / "host-b", folder / "sweep"
    for path in (host_a, host_b, sweep):
        path.mkdir(parents=True)
    (host_a / "run.yaml").write_text(RUN)
    (host_a / "killed.yaml").write_text(KILLED)
    (sweep / "base.yaml").write_text(SWEEP_BASE)
    (sweep / "sweep.yaml").write_text(SWEEP)

    _finish(_cli(host_a, uri, "run", "run.yaml"))

    killed = _cli(host_a, uri, "run", "killed.yaml")
    _wait_for(lambda: _checkpoint_epochs(checkpoints) >= 2, killed, "two checkpointed epochs")
    os.killpg(killed.pid, signal.SIGKILL)  # the host dies: the run and its tracking process
    killed.wait(timeout=60)
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name("team-killed").experiment_id])
    assert run.info.status == "RUNNING"  # SIGKILL: nobody could end it
    resumed = _finish(_cli(host_b, uri, "run", "--resume", run.info.run_id))  # "another host"
    assert "resuming run" in resumed

    port = str(_free_port())
    oracle = {"KERASNETS_ORACLE_PORT": port}  # bound to 127.0.0.1 (KERASNETS_ORACLE_BIND unset)
    chief = _cli(sweep, uri, "tune", "sweep.yaml", "--workers", "0", env=oracle)
    _wait_for(lambda: (sweep_state / "sweep.json").is_file(), chief, "the sweep state")
    workers = [
        _cli(
            sweep,
            uri,
            "tune",
            "sweep.yaml",
            "--worker",
            env={
                "KERASTUNER_TUNER_ID": f"elsewhere-{i}",
                "KERASTUNER_ORACLE_IP": "127.0.0.1",
                "KERASTUNER_ORACLE_PORT": port,
            },
        )
        for i in range(2)
    ]
    for worker in workers:
        _finish(worker)
    said = _finish(chief)
    assert "waiting for workers started elsewhere" in said
    assert "3 of 3 trials completed" in said
    return {"resume": resumed, "chief": said, "killed_run": run.info.run_id}


def _census(uri: str) -> dict:
    """Per run (by experiment and role): status, steps per metric key, artifact files."""
    client = mlflow.MlflowClient(uri)
    census = {}
    for experiment in client.search_experiments():
        for run in client.search_runs([experiment.experiment_id], max_results=1000):
            tags = run.data.tags
            role = tags.get("sweep.trial") or tags.get("kerasnets.kind") or "run"
            steps = {
                key: sorted(m.step for m in client.get_metric_history(run.info.run_id, key))
                for key in run.data.metrics
            }
            census[(experiment.name, role)] = {
                "status": run.info.status,
                "params": len(run.data.params),
                "steps": steps,
                "artifacts": sorted(_artifact_paths(client, run.info.run_id)),
            }
    return census


@pytest.mark.slow
def test_postgres_team_server_matches_a_sqlite_baseline(mlflow_server, tmp_path):
    uri, server_artifacts = mlflow_server
    team = _exercise(
        tmp_path / "team", uri, server_artifacts, tmp_path / "team/sweep/mlruns/tuning/team-sweep"
    )
    # the kill waited for checkpoints in the server's artifact store; none went to the clients'
    # folders (no mlruns/ there), and the resume in another folder continued from the store's
    assert not list((tmp_path / "team").glob("host-*/mlruns"))
    assert "after epoch" in team["resume"]
    assert not list((tmp_path / "team" / "host-b" / "tmp").glob("kerasnets-checkpoint-*"))
    # finished: its checkpoint/ was deleted from the server's store
    assert not list(server_artifacts.glob("**/checkpoint"))

    store = tmp_path / "baseline" / "store"
    sqlite = f"sqlite:///{store}/mlflow.db"
    _exercise(tmp_path / "baseline", sqlite, store / "artifacts", store / "tuning" / "team-sweep")

    served, baseline = _census(uri), _census(sqlite)
    assert sorted(served) == sorted(baseline)
    assert len([k for k in served if k[0] == "team-sweep"]) == 4  # the parent and three trials
    for key in baseline:
        assert served[key] == baseline[key], key
    for (experiment, role), run in sorted(served.items()):  # shown with -s
        steps = sum(len(s) for s in run["steps"].values())
        print(f"{experiment}/{role}: {run['status']}, {len(run['steps'])} metric keys, {steps} steps, "
              f"{run['params']} params, {len(run['artifacts'])} artifacts")  # fmt: skip
    for key in (("team-killed", "run"), ("team-run", "run")):
        assert served[key]["steps"]["loss"] == list(range(1, {"team-killed": 7, "team-run": 3}[key[0]]))

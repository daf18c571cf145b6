"""Reliability: resumable runs, honest run states, concurrent writers, safe names."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import mlflow
import numpy as np
import pytest
from conftest import tiny_recipe

from kerasnets.recipe import validate
from kerasnets.train import loop
from kerasnets.train.callbacks import EpochTimer, MlflowMetrics

SCHEDULE = {"name": "step", "step_size": 2, "factor": 0.5}


def resumable_recipe(experiment: str, epochs: int = 6):
    return validate(
        tiny_recipe(
            optimizer={"name": "sgd", "learning_rate": 0.1, "momentum": 0.9},
            schedule=SCHEDULE,
            train={"epochs": epochs, "seed": 1},
            tracking={"enabled": True, "experiment": experiment, "log_model": False},
        ),
        "t",
    )


def interrupt_at(monkeypatch, callback_class, epoch_index: int) -> None:
    original = callback_class.on_epoch_end

    def on_epoch_end(self, epoch, logs=None):
        if epoch == epoch_index:
            raise KeyboardInterrupt
        return original(self, epoch, logs)

    monkeypatch.setattr(callback_class, "on_epoch_end", on_epoch_end)


def only_run(uri: str, experiment: str):
    client = mlflow.MlflowClient(uri)
    (run,) = client.search_runs([client.get_experiment_by_name(experiment).experiment_id])
    return run


def steps(uri: str, run_id: str, key: str) -> list[int]:
    return sorted(m.step for m in mlflow.MlflowClient(uri).get_metric_history(run_id, key))


@pytest.mark.parametrize(
    "where, experiment", [(EpochTimer, "resume-before-checkpoint"), (MlflowMetrics, "resume-before-metrics")]
)
def test_interrupted_run_resumes_in_the_same_run_without_gaps_or_duplicates(
    tracking, monkeypatch, where, experiment
):
    with monkeypatch.context() as patch:
        interrupt_at(patch, where, 2)  # during the end of the third epoch
        with pytest.raises(KeyboardInterrupt):
            loop.run(resumable_recipe(experiment), echo=lambda _: None)
    killed = only_run(tracking, experiment)
    assert killed.info.status == "KILLED"
    result = loop.resume(killed.info.run_id, echo=lambda _: None)
    assert result.run_id == killed.info.run_id
    finished = only_run(tracking, experiment)
    assert finished.info.status == "FINISHED"
    for key in ("loss", "val_accuracy", "learning_rate"):
        assert steps(tracking, result.run_id, key) == [1, 2, 3, 4, 5, 6], key
    lr = [
        m.value
        for m in sorted(
            mlflow.MlflowClient(tracking).get_metric_history(result.run_id, "learning_rate"),
            key=lambda m: m.step,
        )
    ]
    np.testing.assert_allclose(lr, [0.1, 0.1, 0.05, 0.05, 0.025, 0.025], rtol=1e-5)  # the schedule went on
    assert len(result.history["loss"]) == 6
    artifacts = {a.path for a in mlflow.MlflowClient(tracking).list_artifacts(result.run_id)}
    assert "checkpoint" not in artifacts  # removed once finished
    assert "model.keras" in artifacts


def test_resumed_run_matches_an_uninterrupted_one(tracking, monkeypatch):
    straight = loop.run(resumable_recipe("straight"), echo=lambda _: None)
    with monkeypatch.context() as patch:
        interrupt_at(patch, EpochTimer, 3)
        with pytest.raises(KeyboardInterrupt):
            loop.run(resumable_recipe("interrupted"), echo=lambda _: None)
    resumed = loop.resume(only_run(tracking, "interrupted").info.run_id, echo=lambda _: None)
    # the first three epochs are the same computation; afterwards shuffling restarts, so
    # the end agrees within noise
    np.testing.assert_allclose(resumed.history["loss"][:3], straight.history["loss"][:3], rtol=1e-4)
    assert abs(resumed.test_accuracy - straight.test_accuracy) < 0.1


def test_resume_refuses_finished_and_unknown_runs(tracking):
    from kerasnets.errors import KerasnetsError

    done = loop.run(resumable_recipe("done", epochs=1), echo=lambda _: None)
    with pytest.raises(KerasnetsError, match="already finished"):
        loop.resume(done.run_id)
    with pytest.raises(KerasnetsError, match="no run 'nope'"):
        loop.resume("nope")


def test_nan_marks_the_run_failed_with_epoch_and_reason(tracking):
    from kerasnets.errors import TrainingDiverged

    recipe = validate(
        tiny_recipe(
            optimizer={"name": "sgd", "learning_rate": 1e38},
            tracking={"enabled": True, "experiment": "nan", "log_model": False},
        ),
        "t",
    )
    with pytest.raises(TrainingDiverged):
        loop.run(recipe, echo=lambda _: None)
    run = only_run(tracking, "nan")
    assert run.info.status == "FAILED"
    assert run.data.tags["failure"] == (
        "TrainingDiverged: training diverged: the loss became NaN/inf at epoch 1"
    )


def test_experiment_names_cannot_escape_the_store(tmp_path):
    from kerasnets.tracking import artifact_location, safe_folder_name

    assert safe_folder_name("../../etc/passwd") == "etc_passwd"
    assert safe_folder_name("..") == "experiment"
    location = artifact_location(f"sqlite:///{tmp_path}/mlflow.db", "../../outside")
    assert location.startswith((tmp_path / "artifacts").as_uri() + "/")


def test_full_disk_is_refused_before_training(tmp_path, monkeypatch):
    import shutil

    from kerasnets.errors import KerasnetsError
    from kerasnets.tracking import check_store

    monkeypatch.setattr(shutil, "disk_usage", lambda path: shutil._ntuple_diskusage(100, 100, 10 * 2**20))
    with pytest.raises(KerasnetsError, match="has only 10 MB free"):
        check_store(f"sqlite:///{tmp_path}/mlflow.db")


# ----------------------------------------------------------------------------- real processes

SLOW_RECIPE = """
data: {dataset: synthetic, batch_size: 64, options: {num_samples: 6000, num_classes: 4, shape: [32, 32, 3]}}
model: {name: mlp, hidden: [256, 256]}
optimizer: {name: sgd, learning_rate: 0.01, momentum: 0.9}
schedule: {name: step, step_size: 2, factor: 0.5}
train: {epochs: 8, seed: 2, verbose: 2, steps_per_execution: 1}
tracking: {experiment: killed, log_model: false}
"""


def _start(tmp_path: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path}/mlruns/mlflow.db"}
    return subprocess.Popen(
        [sys.executable, "-m", "kerasnets", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group: "host" kills it with its tracking process
    )


def _wait_for_epochs(tmp_path: Path, count: int, process: subprocess.Popen, timeout: float = 180) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        for state in tmp_path.glob("mlruns/artifacts/**/checkpoint/state.json"):
            try:
                import json

                if json.loads(state.read_text())["epoch"] >= count:
                    return
            except (ValueError, OSError):
                pass
        assert process.poll() is None, process.stdout.read()
        time.sleep(0.1)
    raise AssertionError("training did not reach the epoch in time")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["SIGKILL", "SIGTERM", "host"])
def test_killed_process_is_honest_and_resumable(tmp_path, how, monkeypatch):
    """SIGTERM: the run ends KILLED. SIGKILL of the training process: its tracking process logs
    what it was sent and ends the run KILLED. The host dying (both processes killed): the run
    stays RUNNING, shown INTERRUPTED. Each resumes to a whole history."""
    (tmp_path / "r.yaml").write_text(SLOW_RECIPE)
    process = _start(tmp_path, "run", "r.yaml")
    _wait_for_epochs(tmp_path, 3, process)
    if how == "host":
        os.killpg(process.pid, signal.SIGKILL)
    else:
        process.send_signal(getattr(signal, how))
    process.wait(timeout=60)
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    from kerasnets.runs import displayed_status

    run = only_run(uri, "killed")
    if how == "host":
        assert run.info.status == "RUNNING" and displayed_status(run) == "INTERRUPTED"
    elif how == "SIGKILL":
        deadline = time.time() + 60  # the orphaned tracking process finishes on its own
        while run.info.status == "RUNNING" and time.time() < deadline:
            time.sleep(0.2)
            run = only_run(uri, "killed")
        assert run.info.status == "KILLED" and process.returncode == -signal.SIGKILL
    else:
        assert run.info.status == "KILLED" and process.returncode == 130
    resumed = _start(tmp_path, "run", "--resume", run.info.run_id)
    out, _ = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, out
    assert "resuming run" in out
    run = only_run(uri, "killed")
    assert run.info.status == "FINISHED"
    assert steps(uri, run.info.run_id, "loss") == list(range(1, 9))


@pytest.mark.slow
def test_four_concurrent_writers_on_one_sqlite_store(tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text(
        SLOW_RECIPE.replace("num_samples: 6000", "num_samples: 800")
        .replace("epochs: 8", "epochs: 5")
        .replace("experiment: killed", "experiment: crowd")
    )
    processes = [_start(tmp_path, "run", "r.yaml", "--set", f"train.seed={i}") for i in range(4)]
    outputs = [p.communicate(timeout=600)[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0, 0, 0], outputs
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    client = mlflow.MlflowClient(uri)
    runs = client.search_runs([client.get_experiment_by_name("crowd").experiment_id])
    assert len(runs) == 4 and {r.info.status for r in runs} == {"FINISHED"}
    for run in runs:
        assert steps(uri, run.info.run_id, "val_loss") == [1, 2, 3, 4, 5]
        assert "test_accuracy" in run.data.metrics

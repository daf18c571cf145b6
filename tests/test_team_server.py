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
        "checkpoint/weights-even.weights.h5",
        "checkpoint/weights-odd.weights.h5",
    }
    state = json.loads(
        (tmp_path / client.download_artifacts(run.info.run_id, "checkpoint/state.json")).read_text()
    )
    assert state["epoch"] == 3 and state["weights"] == "weights-odd.weights.h5" and len(state["history"]) == 3
    assert not list(staging.glob("kerasnets-checkpoint-*"))  # the local copy is gone: the store has it

    lines = []
    result = loop.resume(run.info.run_id, echo=lines.append)
    assert "resuming run" in lines[0] and "after epoch 3 of 5" in lines[0]
    assert sorted(m.step for m in client.get_metric_history(result.run_id, "loss")) == [1, 2, 3, 4, 5]
    assert client.get_run(result.run_id).info.status == "FINISHED"
    assert not _artifact_paths(client, result.run_id, "checkpoint")  # deleted once finished
    assert "kerasnets.checkpoint" not in client.get_run(result.run_id).data.tags
    assert not list(staging.glob("kerasnets-checkpoint-*"))

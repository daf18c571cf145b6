"""Sweeps: sweep-file errors (exact texts), the oracles' resume and failure cap, a tracked sweep
on digits with its parent and child runs, failures, SIGKILL + resume for every tuner, and
two workers."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, run_cli

from kerasnets.errors import RecipeError
from kerasnets.tuning.sweep import load_sweep

SWEEPS = sorted((ROOT / "tuning").glob("*.yaml"))

#: a small, fast base recipe: an MLP on the embedded digits, tracked, no MLflow model per trial
BASE = {
    "data": {"dataset": "digits", "batch_size": 64},
    "model": {"name": "mlp", "hidden": [16]},
    "optimizer": {"name": "adam", "learning_rate": 0.01},
    "train": {"epochs": 1, "seed": 0, "verbose": 0},
    "tracking": {"experiment": "sweeps", "log_model": False},
}


def write_sweep(folder: Path, name: str = "sweep", base: dict | None = None, **fields) -> Path:
    (folder / "base.yaml").write_text(yaml.safe_dump(base or BASE))
    sweep = {
        "recipe": "base.yaml",
        "objective": "val_accuracy",
        "max_trials": 3,
        "space": {"optimizer.learning_rate": {"type": "float", "min": 1e-3, "max": 0.1, "log": True}},
        **fields,
    }
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


@pytest.fixture
def store(tmp_path, monkeypatch) -> str:
    """A fresh SQLite store in tmp_path (state goes to tmp_path/mlruns/tuning)."""
    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    return uri


def runs_of(uri: str, experiment: str = "sweeps"):
    import mlflow

    client = mlflow.MlflowClient(uri)
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    return client, parents, children


# ----------------------------------------------------------------------------- sweep files (fast)


@pytest.mark.parametrize("path", SWEEPS, ids=[p.name for p in SWEEPS])
def test_every_shipped_sweep_validates(path):
    from kerasnets.models import MODELS
    from kerasnets.recipe import Recipe
    from kerasnets.recipe_files import resolve_extends

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    fixed = data.get("set") or {}
    base = resolve_extends(path.parent / data["recipe"])
    named = (
        fixed.get("model.name")
        or (fixed.get("model") or {}).get("name")
        or base.get("model", {}).get("name", Recipe().model.name)
    )
    assert named in MODELS, f"{path.name} trains {named!r}, which is not a registered model"
    sweep = load_sweep(path)
    assert sweep.base.get("model", {}).get("name", Recipe().model.name) == named
    assert sweep.space


BAD_SWEEPS = {
    "unknown recipe key": (
        {"space": {"optimizer.learnig_rate": {"type": "float", "min": 1e-4, "max": 0.1}}},
        [
            "space.optimizer.learnig_rate: unknown recipe key 'optimizer.learnig_rate'. "
            "Did you mean 'optimizer.learning_rate'?"
        ],
    ),
    "unknown type and key": (
        {
            "space": {
                "optimizer.name": {"type": "choise", "values": ["sgd"]},
                "train.epochs": {"type": "int", "min": 1, "max": 3, "stepp": 1},
            }
        },
        [
            "space.optimizer.name.type: unknown type 'choise': expected one of float, int, choice, boolean. "
            "Did you mean 'choice'?",
            "space.train.epochs.stepp: unknown key 'stepp'. Did you mean 'step'?",
        ],
    ),
    "top level": (
        {"max_trial": 3, "tuner": {"name": "random", "max_epochs": 3}},
        [
            "max_trial: unknown key 'max_trial' at top level. Did you mean 'max_trials'?",
            "tuner.max_epochs: not an option of tuner 'random'",
        ],
    ),
    "range": (
        {
            "space": {
                "regularization.dropout": {"type": "float", "min": 0.5, "max": 0.1},
                "optimizer.learning_rate": {"type": "float", "min": 0.0, "max": 0.1, "log": True},
            }
        },
        [
            "space.regularization.dropout: min (0.5) must be less than max (0.1)",
            "space.optimizer.learning_rate: log sampling needs min > 0, got min 0.0",
        ],
    ),
    "values the recipe rejects": (
        {
            "space": {
                "optimizer.name": {"type": "choice", "values": ["sgd", "adamx"]},
                "optimizer.momentum": {
                    "type": "float",
                    "min": 0.5,
                    "max": 1.5,
                    "when": {"optimizer.name": "sgd"},
                },
                "optimizer.nesterov": {"type": "boolean"},
            }
        },
        [
            "space.optimizer.name: value 'adamx' makes the recipe invalid: optimizer.name: unknown optimizer "
            "'adamx'. Did you mean 'adam'?",
            "space.optimizer.momentum: max 1.5 makes the recipe invalid: optimizer.momentum: "
            "expected a number less than 1.0, got 1.5",
            "space.optimizer.nesterov: value False makes the recipe invalid: optimizer.nesterov: "
            "not an option of optimizer 'adam'. Valid: beta_1, beta_2, epsilon, amsgrad, weight_decay, "
            "clipnorm, clipvalue, global_clipnorm, ema_momentum",
        ],
    ),
    "conditions": (
        {
            "space": {
                "optimizer.name": {"type": "choice", "values": ["sgd", "adam"]},
                "optimizer.momentum": {
                    "type": "float",
                    "min": 0.5,
                    "max": 0.9,
                    "when": {"optimizer.name": "nadam"},
                },
                "optimizer.nesterov": {"type": "boolean", "when": {"optimizer.kind": "sgd"}},
            }
        },
        [
            "space.optimizer.momentum.when.optimizer.name: 'nadam' is not one of its values: sgd, adam",
            "space.optimizer.nesterov.when: 'optimizer.kind' must be a tuned key listed before "
            "'optimizer.nesterov' (tuned before it: optimizer.name, optimizer.momentum)",
        ],
    ),
}


@pytest.mark.parametrize("case", BAD_SWEEPS, ids=list(BAD_SWEEPS))
def test_sweep_file_errors_name_file_key_and_fix(tmp_path, case):
    fields, expected = BAD_SWEEPS[case]
    path = write_sweep(tmp_path, **fields)
    with pytest.raises(RecipeError) as error:
        load_sweep(path)
    assert [p.render() for p in error.value.problems] == expected
    assert error.value.render().startswith(f"{path}: {len(expected)} problem")


def test_choice_values_merge_mappings_and_replace_lists(tmp_path):
    space = {
        "optimizer": {
            "type": "choice",
            "values": {"momentum": {"name": "sgd", "momentum": 0.9}, "adam": {"name": "adam"}},
        },
        "augment": {"type": "choice", "values": {"none": [], "flip": [{"HorizontalFlip": {"p": 0.5}}]}},
        "data.batch_size": {"type": "choice", "values": ["full"], "when": {"optimizer": "momentum"}},
    }
    sweep = load_sweep(write_sweep(tmp_path, space=space))
    recipe = sweep.trial_recipe({"optimizer": "momentum", "augment": "flip", "data.batch_size": "full"})
    assert (recipe.optimizer.name, recipe.optimizer.momentum, recipe.optimizer.learning_rate) == (
        "sgd",
        0.9,
        0.01,
    )
    assert recipe.augment == [{"HorizontalFlip": {"p": 0.5}}] and recipe.data.batch_size == "full"
    assert sweep.trial_recipe({"optimizer": "adam", "augment": "none"}).data.batch_size == 64


def test_the_sweep_builds_its_space_through_the_hypermodel(tmp_path):
    import keras_tuner as kt

    from kerasnets.tuning.tuner import RecipeHyperModel

    space = {
        "optimizer.name": {"type": "choice", "values": ["sgd", "adam"]},
        "optimizer.momentum": {"type": "float", "min": 0.5, "max": 0.9, "when": {"optimizer.name": "sgd"}},
    }
    model = RecipeHyperModel(load_sweep(write_sweep(tmp_path, space=space)))
    hp = kt.HyperParameters()
    assert model.sample(hp) == {"optimizer.name": "sgd", "optimizer.momentum": 0.5}
    hp.values["optimizer.name"] = "adam"
    assert model.sample(hp) == {"optimizer.name": "adam"}  # momentum is inactive for adam
    assert model.build(hp)["optimizer"] == {"name": "adam", "learning_rate": 0.01}


# ----------------------------------------------------------------------------- oracles (fast, no training)


def _blackbox_search(folder: Path, oracle, interrupt_at: int | None = None, fail: bool = False):
    import keras_tuner as kt

    class Tuner(kt.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            x = trial.hyperparameters.Choice("x", [1, 2, 3])
            trial.hyperparameters.Choice("y", ["a", "b"])
            if interrupt_at is not None and len(self.oracle.trials) == interrupt_at:
                raise KeyboardInterrupt
            if fail:
                raise kt.errors.FailedTrialError("boom")
            return float(x)

    tuner = Tuner(oracle=oracle, directory=str(folder), project_name="p")
    try:
        tuner.search(verbose=0)
    except KeyboardInterrupt:
        pass
    return tuner.oracle


def test_grid_search_resumes_where_keras_tuner_1_4_8_raises_keyerror(tmp_path):
    import keras_tuner as kt

    from kerasnets.tuning.oracles import GridOracle

    objective = kt.Objective("score", "max")
    _blackbox_search(tmp_path / "kt", kt.oracles.GridSearchOracle(objective, max_trials=6), interrupt_at=3)
    with pytest.raises(KeyError):  # keras-tuner#1055, reproduced
        _blackbox_search(tmp_path / "kt", kt.oracles.GridSearchOracle(objective, max_trials=6))

    _blackbox_search(tmp_path / "ours", GridOracle(objective, max_trials=6), interrupt_at=3)
    oracle = _blackbox_search(tmp_path / "ours", GridOracle(objective, max_trials=6))
    combos = [tuple(t.hyperparameters.values.values()) for t in oracle.trials.values()]
    assert all(t.status == "COMPLETED" for t in oracle.trials.values())
    assert sorted(combos) == sorted((x, y) for x in (1, 2, 3) for y in "ab")  # each combination once


def test_consecutive_failures_stop_the_search_with_the_reason(tmp_path):
    import keras_tuner as kt

    from kerasnets.tuning.oracles import RandomOracle

    oracle = RandomOracle(
        kt.Objective("score", "max"), max_trials=10, max_consecutive_failed_trials=2, seed=1
    )
    oracle = _blackbox_search(tmp_path, oracle, fail=True)
    assert len(oracle.trials) == 2
    assert oracle.stopped_by_failures.startswith("2 trials failed in a row (max_consecutive_failures: 2)")
    assert oracle.stopped_by_failures.endswith("boom")


def _end(oracle, trial, score: float) -> None:
    oracle.update_trial(trial.trial_id, {"score": score})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def test_the_chief_waits_until_every_workers_trial_has_ended(tmp_path):
    import threading

    import keras_tuner as kt

    from kerasnets.tuning.oracles import RandomOracle
    from kerasnets.tuning.workers import wait_for_trials

    hp = kt.HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = RandomOracle(kt.Objective("score", "max"), max_trials=2, hyperparameters=hp, seed=1)
    oracle._set_project_dir(str(tmp_path), "p")
    assert not oracle.all_trials_ended()  # --workers 0: no worker has asked yet
    local, remote = oracle.create_trial("tuner0"), oracle.create_trial("host-b-0")
    _end(oracle, local, 1.0)
    assert oracle.create_trial("tuner0").status == "STOPPED"  # the local worker is done...
    assert not oracle.all_trials_ended()  # ...while the other host's trial is in flight
    assert oracle.running_on() == ["host-b-0 (trial 2)"]

    def remote_worker_finishes():
        _end(oracle, remote, 2.0)
        oracle.create_trial("host-b-0")  # told to stop

    stop, lines = threading.Event(), []
    server = threading.Thread(target=stop.wait, daemon=True)
    server.start()
    threading.Timer(0.3, remote_worker_finishes).start()
    wait_for_trials(oracle, server, lines.append, poll=0.02)
    stop.set()
    assert oracle.all_trials_ended()
    assert [t.status for t in oracle.trials.values()] == ["COMPLETED", "COMPLETED"]
    assert lines == ["  waiting for trials in flight: host-b-0 (trial 2)"]


# ----------------------------------------------------------------------------- a tracked sweep (slow)


@pytest.mark.slow
def test_three_trial_sweep_logs_one_parent_and_three_children(tmp_path, store):
    from kerasnets.tuning import tune

    space = {
        "optimizer.name": {"type": "choice", "values": ["sgd", "adam"]},
        "optimizer.momentum": {"type": "float", "min": 0.5, "max": 0.9, "when": {"optimizer.name": "sgd"}},
        "optimizer.learning_rate": {"type": "float", "min": 1e-3, "max": 0.1, "log": True},
    }
    result = tune(write_sweep(tmp_path, space=space, description="optimizers"), echo=lambda line: None)
    client, parents, children = runs_of(store)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    parent = parents[0]
    assert (
        parent.data.tags["sweep.tuner"] == "random"
        and parent.data.tags["sweep.objective"] == "val_accuracy (max)"
    )
    # what the UI shows as the parent's Description, Created by and Source
    assert parent.data.tags["mlflow.note.content"] == "optimizers"
    assert parent.data.tags["mlflow.user"] and parent.data.tags["mlflow.source.name"]
    assert len(children) == 3 and {c.data.tags["mlflow.parentRunId"] for c in children} == {
        parent.info.run_id
    }
    for child, row in zip(
        sorted(children, key=lambda c: c.data.tags["sweep.trial"]), result.trials, strict=True
    ):
        assert child.info.status == "FINISHED"
        tuned = {k.removeprefix("tuned."): v for k, v in child.data.params.items() if k.startswith("tuned.")}
        assert tuned == {k: str(row[k]) for k in space if row[k] not in (None, "")}
        assert child.data.params["optimizer.learning_rate"] == str(row["optimizer.learning_rate"])
        assert child.data.metrics["objective"] == pytest.approx(row["objective"])
        assert len(client.get_metric_history(child.info.run_id, "val_accuracy")) == 1  # one epoch
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {"trials.csv", "objective_per_trial.png", "objective_by_key.png", "best_recipe.yaml"} <= artifacts
    assert parent.data.metrics["best_objective"] == max(r["objective"] for r in result.trials)
    with open(result.state_dir / "report" / "trials.csv") as handle:
        assert [r["status"] for r in csv.DictReader(handle)] == ["COMPLETED"] * 3

    done = run_cli("run", str(result.best_recipe), env={"MLFLOW_TRACKING_URI": store}, cwd=tmp_path)
    assert done.returncode == 0, done.stderr  # best_recipe.yaml runs as it is

    again = tune(write_sweep(tmp_path, space=space), echo=lambda line: None)  # finished: nothing to redo
    assert again.parent_run_id == result.parent_run_id and len(runs_of(store)[2]) == 3


@pytest.mark.slow
def test_a_deep_copied_tracking_callback_still_logs_every_epoch(tmp_path, store, monkeypatch):
    """keras-tuner deep-copies the callbacks it hands to fit; the per-epoch MLflow callback
    holds only the URI and run id, so a copy logs to the same child run."""
    import copy

    import kerasnets.train.callbacks as callbacks
    from kerasnets.tuning import tune

    copies, original = [], callbacks.MlflowMetrics

    def deep_copied(*args, **kwargs):
        copies.append(copy.deepcopy(original(*args, **kwargs)))
        return copies[-1]

    monkeypatch.setattr(callbacks, "MlflowMetrics", deep_copied)
    base = {**BASE, "train": {**BASE["train"], "epochs": 2}}
    tune(write_sweep(tmp_path, base=base, max_trials=1), echo=lambda line: None)
    client, _, children = runs_of(store)
    assert len(copies) == 1 and len(children) == 1
    assert [m.step for m in client.get_metric_history(children[0].info.run_id, "val_loss")] == [1, 2]


@pytest.mark.slow
def test_failed_trials_are_failed_children_and_a_run_of_them_stops_the_sweep(tmp_path, store):
    from kerasnets.tuning import tune
    from kerasnets.tuning.session import SweepStopped

    space = {"optimizer.learning_rate": {"type": "choice", "values": [1.0e12, 0.01, 1.0e13, 1.0e14]}}
    base = {**BASE, "optimizer": {"name": "sgd", "learning_rate": 0.01}}
    path = write_sweep(
        tmp_path, base=base, space=space, tuner="grid", max_trials=4, max_consecutive_failures=2
    )
    with pytest.raises(
        SweepStopped,
        match=r"2 trials failed in a row \(max_consecutive_failures: 2\); the last "
        r"one: .*TrainingDiverged: training diverged",
    ):
        tune(path, echo=lambda line: None)
    _, parents, children = runs_of(store)
    statuses = {c.data.params["tuned.optimizer.learning_rate"]: c.info.status for c in children}
    assert statuses == {
        "1000000000000.0": "FAILED",
        "0.01": "FINISHED",
        "10000000000000.0": "FAILED",
        "100000000000000.0": "FAILED",
    }
    failed = [c for c in children if c.info.status == "FAILED"]
    assert all(c.data.tags["failure"].startswith("TrainingDiverged: training diverged") for c in failed)
    assert parents[0].info.status == "FAILED" and "failed in a row" in parents[0].data.tags["failure"]


# ----------------------------------------------------------------------------- kill and resume (slow)

RESUME_CASES = {
    "random": ({"name": "random", "seed": 1}, {}),
    "bayesian": ({"name": "bayesian", "seed": 1, "num_initial_points": 2}, {}),
    "hyperband": ({"name": "hyperband", "seed": 1, "max_epochs": 3, "factor": 3}, {}),
    "grid": (
        {"name": "grid"},
        {
            "optimizer.learning_rate": {"type": "choice", "values": [0.01, 0.003]},
            "regularization.label_smoothing": {"type": "choice", "values": [0.0, 0.1]},
        },
    ),
}


def _child_running(uri: str, trial_id: str) -> bool:
    import sqlite3

    db = uri.removeprefix("sqlite:///")
    if not os.path.exists(db):
        return False
    try:
        with sqlite3.connect(db, timeout=1) as connection:
            rows = connection.execute(
                "select r.status from runs r join tags t on t.run_uuid = r.run_uuid "
                "where t.key = 'sweep.trial' and t.value = ?",
                (trial_id,),
            ).fetchall()
    except sqlite3.Error:
        return False
    return any(status == "RUNNING" for (status,) in rows)


@pytest.mark.slow
@pytest.mark.parametrize("tuner", RESUME_CASES, ids=list(RESUME_CASES))
def test_sigkill_mid_trial_then_rerun_completes_each_trial_once(tmp_path, store, tuner):
    settings, space = RESUME_CASES[tuner]
    base = {
        **BASE,
        "model": {"name": "lenet5"},
        "data": {"dataset": "digits", "image_size": [32, 32], "batch_size": 32},
        "train": {**BASE["train"], "epochs": 2},
    }
    path = write_sweep(
        tmp_path, base=base, tuner=settings, max_trials=3, **({"space": space} if space else {})
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": store}
    process = subprocess.Popen(
        [sys.executable, "-m", "kerasnets", "tune", str(path)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not _child_running(store, "1") and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process.poll() is None, "the sweep ended before its second trial could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert _child_running(store, "1")  # killed mid-trial: its child run was left RUNNING

    done = run_cli("tune", str(path), env={"MLFLOW_TRACKING_URI": store}, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    _, parents, children = runs_of(store)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    trial_ids = sorted(c.data.tags["sweep.trial"] for c in children)
    assert trial_ids == ["0", "1", "2"]  # one child run per trial: the killed one was continued
    assert all(c.info.status == "FINISHED" and "objective" in c.data.metrics for c in children)
    with open(tmp_path / "mlruns" / "tuning" / "sweep" / "report" / "trials.csv") as handle:
        assert [r["status"] for r in csv.DictReader(handle)] == ["COMPLETED"] * 3


# ----------------------------------------------------------------------------- workers (slow)


@pytest.mark.slow
def test_two_workers_complete_every_trial_once(tmp_path, store):
    path = write_sweep(tmp_path, max_trials=4)
    done = run_cli("tune", str(path), "--workers", "2", env={"MLFLOW_TRACKING_URI": store}, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    client, parents, children = runs_of(store)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert sorted(c.data.tags["sweep.trial"] for c in children) == ["0", "1", "2", "3"]
    assert all(c.info.status == "FINISHED" and "objective" in c.data.metrics for c in children)
    assert {c.data.tags["kerasnets.pid"] for c in children} != {parents[0].data.tags["kerasnets.pid"]}
    assert all(len(client.get_metric_history(c.info.run_id, "val_accuracy")) == 1 for c in children)

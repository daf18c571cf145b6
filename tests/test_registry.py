"""The model registry: ``tracking.register_as`` registers a run's model as a new version that a
fresh process loads by ``models:/NAME/VERSION`` (keras and pyfunc flavors) and that predicts
what the run's ``model.keras`` predicts."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import mlflow
import numpy as np
import pytest
from conftest import ROOT, tiny_recipe

from kerasnets.recipe import validate
from kerasnets.train import loop

LOAD = textwrap.dedent(
    """
    import sys
    import numpy as np
    import mlflow, mlflow.keras, mlflow.pyfunc

    uri, x_path, out = sys.argv[1:4]
    mlflow.set_tracking_uri(uri)
    x = np.load(x_path)
    keras_model = mlflow.keras.load_model("models:/registry-test/1")
    pyfunc_model = mlflow.pyfunc.load_model("models:/registry-test/1")
    np.savez(out, keras=keras_model.predict(x, verbose=0), pyfunc=np.asarray(pyfunc_model.predict(x)))
    """
)


def test_a_registered_model_loads_in_a_fresh_process_and_predicts_as_the_run(tracking, tmp_path):
    import keras

    recipe = validate(
        tiny_recipe(tracking={"enabled": True, "experiment": "registry", "register_as": "registry-test"}), "t"
    )
    result = loop.run(recipe, echo=lambda _: None)
    c = mlflow.MlflowClient(tracking)
    (version,) = c.search_model_versions("name='registry-test'")
    assert str(version.version) == "1" and version.run_id == result.run_id
    assert f"test_accuracy {result.test_accuracy:.4f}" in version.description
    assert float(version.tags["metric.test_accuracy"]) == round(result.test_accuracy, 4)

    x = np.random.default_rng(2).normal(size=(5, 8, 8, 1)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    done = subprocess.run(
        [sys.executable, "-c", LOAD, tracking, str(tmp_path / "x.npy"), str(tmp_path / "out.npz")],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    loaded = np.load(tmp_path / "out.npz")
    artifact = keras.saving.load_model(c.download_artifacts(result.run_id, "model.keras"), safe_mode=True)
    expected = artifact.predict(x, verbose=0)
    np.testing.assert_allclose(loaded["keras"], expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(loaded["pyfunc"], expected, rtol=1e-5, atol=1e-6)


def _sweep(folder, log_model: bool, **fields):
    import yaml

    base = {
        "data": {"dataset": "digits", "batch_size": 64},
        "model": {"name": "mlp", "hidden": [16]},
        "train": {"epochs": 1, "seed": 0, "verbose": 0},
        "tracking": {"experiment": "sweep-registry", "log_model": log_model, "system_metrics": False},
    }
    (folder / "base.yaml").write_text(yaml.safe_dump(base))
    sweep = {
        "recipe": "base.yaml",
        "objective": "val_accuracy",
        "max_trials": 2,
        "space": {"optimizer.learning_rate": {"type": "float", "min": 1e-3, "max": 0.1, "log": True}},
        **fields,
    }
    path = folder / "lr.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    return path


def test_a_sweep_registers_only_a_logged_best_model(tmp_path):
    from kerasnets.errors import RecipeError
    from kerasnets.tuning.sweep import load_sweep

    try:
        load_sweep(_sweep(tmp_path, log_model=False, register_as="best-lr"))
    except RecipeError as exc:
        assert [p.render() for p in exc.problems] == [
            "register_as: the trials log no model (tracking.log_model false in the base recipe or set): "
            "set tracking.log_model true to register the best trial"
        ]
    else:
        raise AssertionError("a sweep whose trials log no model cannot register its best")


@pytest.mark.slow
def test_a_sweep_registers_its_best_trial(tmp_path, monkeypatch):
    from kerasnets.tuning import tune

    uri = f"sqlite:///{tmp_path}/mlruns/mlflow.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.chdir(tmp_path)
    result = tune(_sweep(tmp_path, log_model=True, register_as="best-lr"), echo=lambda _: None)
    (version,) = mlflow.MlflowClient(uri).search_model_versions("name='best-lr'")
    best_run = result.best["run_ids"].split(" ")[0]
    assert version.run_id == best_run and version.tags["sweep.trial"] == str(result.best["number"])
    assert f"val_accuracy {result.best['objective']:.4f}" in version.description
    parent = mlflow.MlflowClient(uri).get_run(result.parent_run_id)
    assert parent.data.tags["registered.name"] == "best-lr" and parent.data.tags["registered.version"] == "1"

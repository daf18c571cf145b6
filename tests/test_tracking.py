"""MLflow tracking: an end-to-end run checked through MlflowClient, honest end states, a
callback that survives deepcopy and never kills training."""

from __future__ import annotations

import copy

import mlflow
import numpy as np
import pytest
from conftest import ROOT, tiny_recipe

from kerasnets.cli import main
from kerasnets.recipe import validate
from kerasnets.train import loop
from kerasnets.train.callbacks import MlflowMetrics


def client(uri: str) -> mlflow.MlflowClient:
    return mlflow.MlflowClient(uri)


def runs_of(uri: str, experiment: str):
    exp = client(uri).get_experiment_by_name(experiment)
    return [] if exp is None else client(uri).search_runs([exp.experiment_id])


def test_end_to_end_digits_run_logs_params_metrics_and_artifacts(tracking, capsys):
    code = main(
        [
            "run",
            str(ROOT / "recipes" / "digits_lenet5.yaml"),
            "--epochs",
            "2",
            "--set",
            "tracking.experiment=e2e",
            "--set",
            "train.verbose=0",
        ]
    )
    assert code == 0
    (run,) = runs_of(tracking, "e2e")
    assert run.info.status == "FINISHED"
    params = run.data.params
    assert params["model.name"] == "lenet5" and params["data.dataset"] == "digits"
    assert params["train.epochs"] == "2" and params["optimizer.name"] == "adam"
    assert params["train.jit_compile"] == "False"  # the resolved value, not 'auto'
    metrics = run.data.metrics
    for key in ("test_loss", "test_accuracy", "params", "seconds_per_epoch", "images_per_second"):
        assert key in metrics
    assert metrics["params"] == 61_706
    assert metrics["test_accuracy"] > 0.5
    c = client(tracking)
    for key in ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate"):
        assert [m.step for m in c.get_metric_history(run.info.run_id, key)] == [1, 2], key
    artifacts = {a.path for a in c.list_artifacts(run.info.run_id)}
    assert {
        "recipe.yaml",
        "model_summary.txt",
        "learning_curves.png",
        "confusion_matrix.png",
        "model.keras",
        "versions.json",
        "history.csv",
    } <= artifacts
    logged = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id='{run.info.run_id}'",
        output_format="list",
    )
    assert len(logged) == 1
    tags = run.data.tags
    assert tags["recipe"].endswith("digits_lenet5.yaml") and tags["kerasnets.version"]
    recipe_text = c.download_artifacts(run.info.run_id, "recipe.yaml")
    assert "epochs: 2" in open(recipe_text).read()
    out = capsys.readouterr().out
    assert run.info.run_id in out and "test accuracy" in out


def test_saved_model_loads_safely(tracking):
    import keras

    recipe = validate(tiny_recipe(tracking={"enabled": True, "experiment": "saved", "log_model": False}), "t")
    result = loop.run(recipe, echo=lambda _: None)
    path = client(tracking).download_artifacts(result.run_id, "model.keras")
    model = keras.saving.load_model(path, safe_mode=True)
    x = np.zeros((2, 8, 8, 1), dtype=np.float32)
    np.testing.assert_allclose(model.predict(x, verbose=0), result.model.predict(x, verbose=0), rtol=1e-5)


@pytest.mark.parametrize("error, status", [(RuntimeError("boom"), "FAILED"), (KeyboardInterrupt(), "KILLED")])
def test_a_failure_after_the_run_opened_ends_it_honestly(tracking, monkeypatch, error, status):
    def explode(*args, **kwargs):
        raise error

    monkeypatch.setattr(loop, "log_results", explode)
    experiment = f"states-{status}"
    recipe = validate(tiny_recipe(tracking={"enabled": True, "experiment": experiment}), "t")
    with pytest.raises(type(error)):
        loop.run(recipe, echo=lambda _: None)
    (run,) = runs_of(tracking, experiment)
    assert run.info.status == status
    if status == "FAILED":
        assert run.data.tags["failure"] == "RuntimeError: boom"


def test_missing_data_creates_no_run(tracking, tmp_path):
    from kerasnets.errors import DataError

    recipe = validate(
        {
            **tiny_recipe(tracking={"enabled": True, "experiment": "nodata"}),
            "data": {"dataset": "cifar100", "dir": str(tmp_path)},
        },
        "t",
    )
    with pytest.raises(DataError):
        loop.run(recipe, echo=lambda _: None)
    assert runs_of(tracking, "nodata") == []


def test_callback_survives_deepcopy_and_logs(tracking):
    import keras

    from kerasnets.tracking_process import TrackingProcess

    process = TrackingProcess(tracking).start("copy", "copied", {})
    callback = copy.deepcopy(MlflowMetrics(process))
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.25), loss="mse")
    callback.set_model(model)
    callback.on_epoch_end(0, {"loss": 1.5})  # handed to the tracking process...
    with process:
        pass  # ...and in the store once the run has ended
    (run,) = runs_of(tracking, "copy")
    history = client(tracking).get_metric_history(run.info.run_id, "loss")
    assert [(m.step, m.value) for m in history] == [(1, 1.5)]
    assert client(tracking).get_metric_history(run.info.run_id, "learning_rate")[0].value == pytest.approx(
        0.25
    )


def test_logging_trouble_never_kills_training(tracking, capfd):
    from kerasnets.tracking_process import TrackingProcess

    with TrackingProcess(tracking).start("trouble", "r", {}) as process:
        process.set_tags({"k" * 300: "a tag key longer than MLflow takes"})
        process.log_metrics({"loss": 1.0}, step=1)
    (run,) = runs_of(tracking, "trouble")
    assert run.info.status == "FINISHED" and run.data.metrics["loss"] == 1.0
    assert "MLflow: could not set a tag" in capfd.readouterr().err


def test_a_store_that_cannot_open_stops_the_run_at_the_first_epoch_end(tracking):
    from kerasnets.errors import KerasnetsError
    from kerasnets.tracking_process import TrackingProcess

    process = TrackingProcess("nosuchscheme://store").start("e", "r", {})
    with pytest.raises(KerasnetsError, match="nosuchscheme"):
        _ = process.run_id
    with pytest.raises(KerasnetsError, match="nosuchscheme"):
        process.check()  # what MlflowMetrics calls at every epoch end: never waits
    process.close()


def test_closing_waits_for_a_new_store_to_be_whole(tmp_path):
    from kerasnets.tracking_process import TrackingProcess

    TrackingProcess(f"sqlite:///{tmp_path}/fresh/mlflow.db").close()  # no run started: none created
    assert client(f"sqlite:///{tmp_path}/fresh/mlflow.db").search_experiments()  # the Default one
    assert not client(f"sqlite:///{tmp_path}/fresh/mlflow.db").search_runs(["0"])


def test_a_training_process_that_dies_leaves_its_run_killed_with_what_it_sent(tracking, tmp_path):
    """SIGKILL cannot be caught: the tracking process logs what it was sent, then ends the run."""
    import os
    import subprocess
    import sys

    script = (
        "import os, signal\n"
        "from kerasnets.tracking_process import TrackingProcess\n"
        f"p = TrackingProcess({tracking!r}).start('died', 'r', {{}})\n"
        "p.log_metrics({'loss': 0.5}, step=1)\n"
        "p.run_id\n"
        "os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], env={**os.environ}, timeout=120, check=False)
    assert done.returncode == -9
    for _ in range(300):  # the orphaned tracking process finishes on its own
        (run,) = runs_of(tracking, "died")
        if run.info.status != "RUNNING":
            break
        import time

        time.sleep(0.1)
    assert run.info.status == "KILLED"
    assert run.data.metrics["loss"] == 0.5


def test_unwritable_store_is_a_clear_error_before_training(tmp_path):
    from kerasnets.errors import KerasnetsError
    from kerasnets.tracking import check_store

    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(KerasnetsError, match="is not writable"):
        check_store(f"sqlite:///{blocker}/mlflow.db")


# ---------------------------------------------------------------- issue 15: a run a person can read


def test_a_run_reads_well_in_the_ui(tracking):
    """Experiment kind tag, a name from the recipe, its description, one data set input per
    split (digest of the split's content) and a logged model with a signature."""
    import keras

    from kerasnets.dataset_inputs import digest
    from kerasnets.tracking import DESCRIPTION_TAG, EXPERIMENT_KIND_TAG

    experiment = "readable"
    recipe = validate(
        tiny_recipe(
            description="an MLP on shapes it can learn",
            tracking={"enabled": True, "experiment": experiment, "system_metrics": False},
        ),
        "t",
    )
    result = loop.run(recipe, echo=lambda _: None, recipe_path="recipes/some_stem.yaml")
    c = client(tracking)
    run = c.get_run(result.run_id)
    assert c.get_experiment(run.info.experiment_id).tags[EXPERIMENT_KIND_TAG] == "custom_model_development"
    assert run.info.run_name == "some_stem"
    assert run.data.tags[DESCRIPTION_TAG] == "an MLP on shapes it can learn"

    inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
    assert set(inputs) == {"synthetic-train", "synthetic-validation", "synthetic-test"}
    contexts = {name: {t.key: t.value for t in d.tags}["mlflow.data.context"] for name, d in inputs.items()}
    assert contexts == {
        "synthetic-train": "training",
        "synthetic-validation": "validation",
        "synthetic-test": "test",
    }
    from kerasnets.data.pipeline import load_splits

    splits = load_splits(recipe.data)
    assert inputs["synthetic-train"].dataset.digest == digest(splits.x_train, splits.y_train)
    assert inputs["synthetic-test"].dataset.digest == digest(splits.x_test, splits.y_test)
    assert len({d.dataset.digest for d in inputs.values()}) == 3
    assert '"features_shape": [204, 8, 8, 1]' in inputs["synthetic-train"].dataset.profile

    (logged,) = mlflow.search_logged_models(
        experiment_ids=[run.info.experiment_id],
        filter_string=f"source_run_id='{run.info.run_id}'",
        output_format="list",
    )
    info = mlflow.models.get_model_info(f"models:/{logged.model_id}")
    assert info.signature is not None and info.saved_input_example_info is not None
    assert info.signature.inputs.inputs[0].shape == (-1, 8, 8, 1)
    assert info.signature.outputs.inputs[0].shape == (-1, 4)
    # model.keras is the logged model's own file: one serialisation, two artifacts
    path = c.download_artifacts(run.info.run_id, "model.keras")
    x = np.random.default_rng(1).normal(size=(3, 8, 8, 1)).astype(np.float32)
    reloaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(reloaded.predict(x, verbose=0), result.model.predict(x, verbose=0), rtol=1e-5)


def test_run_names_default_to_the_recipe_and_run_name_wins(tracking):
    recipe = tiny_recipe(tracking={"enabled": True, "experiment": "names", "log_model": False})
    unnamed = loop.run(validate(recipe, "t"), echo=lambda _: None)
    named = loop.run(
        validate({**recipe, "tracking": {**recipe["tracking"], "run_name": "mine"}}, "t"),
        echo=lambda _: None,
        recipe_path="recipes/ignored.yaml",
    )
    assert client(tracking).get_run(unnamed.run_id).info.run_name == "mlp-synthetic"
    assert client(tracking).get_run(named.run_id).info.run_name == "mine"


def test_an_existing_experiment_without_the_kind_tag_gets_it(tracking):
    from kerasnets.tracking import EXPERIMENT_KIND_TAG, training_experiment

    c = client(tracking)
    old = c.create_experiment("untagged-before")
    assert EXPERIMENT_KIND_TAG not in c.get_experiment(old).tags
    assert training_experiment(c, tracking, "untagged-before") == old
    assert c.get_experiment(old).tags[EXPERIMENT_KIND_TAG] == "custom_model_development"


@pytest.mark.parametrize("on", [True, False])
def test_system_metrics_are_logged_only_when_asked(tracking, monkeypatch, on):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "0.5")
    recipe = validate(
        tiny_recipe(
            train={"epochs": 3},
            tracking={"enabled": True, "experiment": "sysmetrics", "log_model": False, "system_metrics": on},
        ),
        "t",
    )
    result = loop.run(recipe, echo=lambda _: None)
    metrics = client(tracking).get_run(result.run_id).data.metrics
    system = {k for k in metrics if k.startswith("system/")}
    if on:
        assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= system
    else:
        assert system == set()


def test_file_digests_hash_paths_and_sizes_without_decoding(tmp_path):
    from kerasnets.data.files import ImageFiles
    from kerasnets.dataset_inputs import digest

    paths = []
    for i in range(3):
        path = tmp_path / f"{i}.jpg"
        path.write_bytes(b"not an image, never decoded" * (i + 1))
        paths.append(str(path))
    files = ImageFiles(np.array(paths), (32, 32))
    labels = np.array([0, 1, 0], dtype=np.int32)
    before = digest(files, labels)
    assert before == digest(files, labels)
    (tmp_path / "2.jpg").write_bytes(b"changed")
    assert digest(files, labels) != before
    assert digest(files.subset(np.array([0, 1])), labels[:2]) != before


def test_register_as_needs_a_logged_model():
    from kerasnets.errors import RecipeError

    with pytest.raises(RecipeError) as caught:
        validate(tiny_recipe(tracking={"enabled": True, "log_model": False, "register_as": "m"}), "r.yaml")
    assert caught.value.problems[0].render() == (
        "tracking.register_as: registers the logged model: needs tracking.log_model true"
    )


def test_the_keras_file_flavor_writes_what_mlflow_keras_writes(tmp_path):
    """The tracking process logs the MLflow model from the saved ``model.keras`` without Keras:
    the same files and flavors as ``mlflow.keras.save_model``, and it loads and predicts."""
    import keras
    import mlflow.keras
    import yaml
    from mlflow.models import Model, infer_signature

    from kerasnets.keras_flavor import KerasFile, KerasFileFlavor

    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, activation="softmax")])
    x = np.random.default_rng(0).random((2, 3)).astype(np.float32)
    signature = infer_signature(x, net.predict(x, verbose=0))
    (tmp_path / "theirs").mkdir()  # mlflow.keras 3.17 writes the example before the folder (#16183)
    mlflow.keras.save_model(
        net, str(tmp_path / "theirs"), signature=signature, input_example=x, pip_requirements=["keras"]
    )
    net.save(tmp_path / "model.keras")
    saved = KerasFile(str(tmp_path / "model.keras"), keras.__version__, keras.backend.backend())
    KerasFileFlavor.save_model(
        str(tmp_path / "ours"),
        saved,
        Model(),
        signature=signature,
        input_example=x,
        pip_requirements=["keras"],
    )

    def files(folder):
        return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

    assert files(tmp_path / "ours") == files(tmp_path / "theirs")
    theirs, ours = (yaml.safe_load((tmp_path / f / "MLmodel").read_text()) for f in ("theirs", "ours"))
    for key in ("flavors", "signature", "saved_input_example_info"):
        assert ours[key] == theirs[key], key
    for name in ("requirements.txt", "conda.yaml", "data/keras_module.txt"):
        assert (tmp_path / "ours" / name).read_text() == (tmp_path / "theirs" / name).read_text(), name
    loaded = mlflow.keras.load_model(str(tmp_path / "ours"))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), net.predict(x, verbose=0), rtol=1e-6)


def test_checkpoint_variables_round_trip_the_model_and_its_optimizer(tmp_path):
    import keras

    from kerasnets.errors import KerasnetsError
    from kerasnets.train.checkpoint import load_variables, save_variables

    def compiled():
        net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dropout(0.5)])
        net.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        return net

    x, y = np.random.default_rng(0).random((8, 3)), np.zeros((8, 4))
    trained = compiled()
    trained.fit(x, y, epochs=2, verbose=0)
    save_variables(trained, tmp_path / "weights.npz")
    fresh = compiled()
    fresh.optimizer.build(fresh.trainable_variables)
    load_variables(fresh, tmp_path / "weights.npz")
    before = trained.variables + trained.optimizer.variables
    for a, b in zip(before, fresh.variables + fresh.optimizer.variables, strict=True):
        np.testing.assert_array_equal(keras.ops.convert_to_numpy(a), keras.ops.convert_to_numpy(b))
    assert int(fresh.optimizer.iterations.numpy()) == 2  # the step count came back too
    other = keras.Sequential([keras.Input((3,)), keras.layers.Dense(5)])
    other.compile(optimizer="adam", loss="mse")
    other.optimizer.build(other.trainable_variables)
    with pytest.raises(KerasnetsError, match="do not match"):
        load_variables(other, tmp_path / "weights.npz")


def test_the_training_process_never_imports_mlflow(tracking, tmp_path):
    """MLflow's import, the store and the figures are the tracking process's: in the training
    process they would hold the GIL that training needs (matplotlib is imported by Keras)."""
    import os
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from kerasnets.cli import main\n"
        f"code = main(['run', {str(ROOT / 'recipes' / 'digits_lenet5.yaml')!r}, '--epochs', '1',\n"
        "             '--set', 'tracking.experiment=lean', '--set', 'train.verbose=0'])\n"
        "print('LOADED', code, sorted(m for m in sys.modules if m.split('.')[0] == 'mlflow'))\n"
    )
    env = {**os.environ, "MLFLOW_TRACKING_URI": tracking, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert "LOADED 0 []" in done.stdout, done.stdout[-2000:] + done.stderr[-2000:]
    (run,) = runs_of(tracking, "lean")
    artifacts = {a.path for a in client(tracking).list_artifacts(run.info.run_id)}
    assert {
        "learning_curves.png",
        "confusion_matrix.png",
        "augmentation_preview.png",
        "model.keras",
    } <= artifacts

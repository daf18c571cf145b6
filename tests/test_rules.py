"""One home per rule: the task table, the metric direction, cross-section problems reported at
their keys all at once, image sizes checked at validation, and a light `validate`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from kerasnets.cli import main
from kerasnets.errors import RecipeError
from kerasnets.recipe import TASK_NAMES, load_recipe, validate
from kerasnets.rules import TASK_RULES, UnknownMetricError, input_size, is_maximized, metric_mode

ROOT = Path(__file__).resolve().parents[1]
SEGMENT = {"task": {"name": "segment"}, "model": {"name": "segnet"}, "data": {"dataset": "shapes"}}


def _problems(data: dict) -> dict[str, str]:
    with pytest.raises(RecipeError) as info:
        validate(data, "r.yaml")
    return {p.key: p.message for p in info.value.problems}


def test_the_table_names_every_registered_task():
    from kerasnets.train.tasks import TASKS

    assert set(TASK_RULES) == set(TASKS.names()) == set(TASK_NAMES)
    for name, rules in TASK_RULES.items():
        task = TASKS.get(name)({})
        assert task.rules is rules
        assert all(metric_mode(m) for m in rules.metrics)  # every logged metric has a direction


@pytest.mark.parametrize(
    ("metric", "maximised"),
    [
        ("accuracy", True),
        ("val_accuracy", True),
        ("val_mean_iou", True),
        ("test_psnr_gain", True),
        ("predictions_accuracy", True),
        ("loss", False),
        ("val_loss", False),
        ("aux1_loss", False),
        ("g_loss", False),
        ("val_mae", False),
    ],
)
def test_metric_direction(metric, maximised):
    assert is_maximized(metric) is maximised


def test_an_unknown_metric_has_no_guessed_direction():
    with pytest.raises(UnknownMetricError, match="val_wombat"):
        metric_mode("val_wombat")


def test_plateau_on_mean_iou_waits_while_the_iou_rises():
    """The bug: a word list without 'iou' made plateau treat a rising IoU as getting worse."""
    import keras

    from kerasnets.train.schedules import schedule_callback

    recipe = validate(
        {
            **SEGMENT,
            "schedule": {"name": "plateau", "patience": 1, "monitor": "val_mean_iou"},
        },
        "t",
    )
    callback = schedule_callback(recipe.schedule, 0.1, 10, "segment")
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    callback.set_model(model)
    callback.on_train_begin()
    for epoch, iou in enumerate([0.5, 0.6, 0.7, 0.8]):
        callback.on_epoch_end(epoch, {"val_mean_iou": iou})
    assert float(model.optimizer.learning_rate) == pytest.approx(0.1)
    callback.on_epoch_end(4, {"val_mean_iou": 0.75})  # one epoch without a better IoU
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01)


def test_early_stopping_keeps_going_while_the_iou_rises():
    from kerasnets.train.callbacks import early_stopping

    recipe = validate(
        {
            **SEGMENT,
            "regularization": {"early_stopping": {"monitor": "val_mean_iou", "patience": 1}},
        },
        "t",
    )
    import keras

    callback = early_stopping(recipe.regularization.early_stopping)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    callback.set_model(model)
    model.stop_training = False
    callback.on_train_begin()
    for epoch, iou in enumerate([0.5, 0.6, 0.7, 0.8]):
        callback.on_epoch_end(epoch, {"val_mean_iou": iou})
        assert not model.stop_training
    callback.on_epoch_end(4, {"val_mean_iou": 0.7})
    assert model.stop_training


def test_sweep_objective_direction_comes_from_the_one_function(tmp_path):
    from kerasnets.tuning.sweep import Objective

    assert Objective(name="val_mean_iou").mode == "max"
    assert Objective(name="test_psnr").mode == "max"
    assert Objective(name="val_loss").mode == "min"
    assert Objective(name="custom", direction="max").mode == "max"
    with pytest.raises(ValueError, match="set objective.direction"):
        Objective(name="custom")


def test_every_broken_rule_is_reported_at_its_key_at_once():
    problems = _problems(
        {
            "task": {"name": "generate"},
            "model": {"name": "lenet5"},
            "data": {"layout": "rows"},
            "schedule": {"name": "cosine", "warmup_epochs": 2},
            "augment_batch": [{"mixup": {"alpha": 0.2}}],
            "eval": {"tta": "hflip"},
            "train": {"loss": "mse"},
        }
    )
    assert set(problems) == {
        "data.layout",
        "schedule.name",
        "schedule.warmup_epochs",
        "augment_batch",
        "eval.tta",
        "train.loss",
        "model.name",
    }
    assert "models that do: dcgan" in problems["model.name"]
    assert "tasks that accept it: classify" in problems["eval.tta"]


@pytest.mark.parametrize(
    ("data", "key", "text"),
    [
        ({"task": {"name": "generate"}, "model": {"name": "dcgan"}, "schedule": {"warmup_epochs": 1}},
         "schedule.warmup_epochs", "not available for task 'generate'"),
        ({"regularization": {"early_stopping": {"monitor": "val_mean_iou"}}},
         "regularization.early_stopping.monitor", "logs no 'val_mean_iou'"),
        ({"data": {"validation_split": 0.0}, "schedule": {"name": "plateau"}},
         "schedule.monitor", "data.validation_split is 0"),
        ({"task": {"name": "reconstruct"}, "model": {"name": "dense_autoencoder"},
          "schedule": {"name": "plateau", "monitor": "val_accuracy"}},
         "schedule.monitor", "Valid: loss, mae, val_loss, val_mae"),
        ({"init": {"kernel": "glorot_uniform", "leaky_slope": 0.2}}, "init.leaky_slope", "he_normal"),
        ({"optimizer": {"name": "gd"}}, "data.batch_size", "full-batch"),
        ({"task": {"name": "generate"}, "model": {"name": "dcgan"}, "regularization": {"dropout": 0.2}},
         "regularization.dropout", "no dropout option"),
    ],
)  # fmt: skip
def test_cross_section_rules(data, key, text):
    problems = _problems(data)
    assert key in problems and text in problems[key], problems


def test_an_image_too_small_for_the_model_is_a_recipe_error():
    problems = _problems({"data": {"image_size": [16, 16]}})
    assert problems == {"data.image_size": "model 'lenet5' needs at least 32x32 input, got 16x16"}
    zfnet = _problems({"model": {"name": "zfnet"}, "data": {"dataset": "cifar10", "image_size": [32, 32]}})
    assert zfnet == {"data.image_size": "model 'zfnet' needs at least 53x53 input, got 32x32"}


def test_the_empty_recipe_is_lenet5_on_digits_raised_to_its_input(tmp_path):
    path = tmp_path / "empty.yaml"
    path.write_text("{}\n")
    recipe = load_recipe(path)
    assert (recipe.model.name, recipe.data.dataset) == ("lenet5", "digits")
    assert input_size(recipe) == (32, 32)  # digits are 8x8; LeNet-5 needs 32x32
    assert input_size(validate({"data": {"dataset": "mnist"}}, "t")) == (32, 32)
    assert input_size(validate({"data": {"dataset": "cifar10"}}, "t")) is None  # 32x32 already


def test_the_empty_recipe_runs(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "empty.yaml"
    path.write_text("{}\n")
    code = main(["run", str(path), "--set", "train.epochs=1", "--set", "tracking.enabled=false"])
    assert code == 0


def test_a_build_failure_after_validation_is_a_recipe_error_and_leaves_no_run(tmp_path, monkeypatch, capsys):
    """A folder's image size is only known once it is read: 8x8 images on LeNet-5 fail when
    the model is built, which happens before an MLflow run is created."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("a", "b"):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(6):
            pixels = rng.integers(0, 255, (8, 8, 3), dtype=np.uint8)
            Image.fromarray(pixels).save(tmp_path / "images" / label / f"{i}.png")
    recipe = tmp_path / "folder.yaml"
    store = tmp_path / "store"
    recipe.write_text(
        yaml.safe_dump(
            {
                "data": {"dataset": "folder", "dir": str(tmp_path / "images"), "validation_split": 0.0},
                "train": {"epochs": 1},
                "tracking": {"uri": f"sqlite:///{store}/mlflow.db"},
            }
        )
    )
    assert main(["validate", str(recipe)]) == 0
    code = main(["run", str(recipe)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "model: model 'lenet5' cannot be built for input 8x8x3" in err and "Traceback" not in err
    # the store opened beside loading and building (whole: the run waited for it), but holds no run
    from mlflow import MlflowClient

    client = MlflowClient(f"sqlite:///{store}/mlflow.db")
    experiments = [e.experiment_id for e in client.search_experiments()]
    assert client.search_runs(experiments) == []


LIGHT = "import sys; from kerasnets.cli import main; code = main(sys.argv[1:]); heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'keras_tuner', 'mlflow')); print(heavy); sys.exit(code)"  # noqa: E501


@pytest.mark.parametrize(
    "args",
    [
        ["validate", *sorted(str(p) for p in (ROOT / "recipes").glob("*.yaml"))],
        ["schema"],
        ["models"],
        ["validate", str(ROOT / "recipes" / "digits_lenet5.yaml"), "--set", "data.image_size=[16,16]"],
    ],
    ids=["validate", "schema", "models", "validate-bad"],
)
def test_light_commands_import_no_tensorflow_or_keras(args):
    done = subprocess.run([sys.executable, "-c", LIGHT, *args], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode in (0, 2), done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout[-2000:]


def test_help_imports_no_tensorflow():
    code = "import sys\nfrom kerasnets.cli import build_parser\nbuild_parser().format_help()\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"  # noqa: E501
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert done.stdout.strip() == "[]", done.stderr

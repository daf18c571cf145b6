"""Issue 16, item 3: sigmoid and linear classifier heads, binary and multi-label targets.

A sigmoid head gives one independent probability per class; its losses are binary
cross-entropy and the L2 loss; it logs binary accuracy and AUC. ``rules.py`` rejects the
combinations that cannot learn (a sigmoid head on sparse labels, a softmax on multi-hot ones)."""

from __future__ import annotations

import warnings
from pathlib import Path

import keras
import mlflow
import numpy as np
import pytest
from conftest import tiny_recipe

from kerasnets.blocks import set_head_activation
from kerasnets.data.datasets import DATASETS
from kerasnets.data.segmentation import make_shapes
from kerasnets.errors import RecipeError
from kerasnets.models import build
from kerasnets.recipe import load_recipe, validate
from kerasnets.rules import HEAD_RULES, monitors, plateau_monitor, resolved_loss
from kerasnets.train.loop import run

ROOT = Path(__file__).resolve().parents[1]


def _problems(data: dict) -> dict[str, str]:
    with pytest.raises(RecipeError) as err:
        validate(data, "r.yaml")
    return {p.key: p.message for p in err.value.problems}


def test_sigmoid_head_outputs_independent_probabilities():
    model = set_head_activation(build("lenet5", (32, 32, 1), 4), "sigmoid")
    x = np.random.default_rng(0).normal(size=(8, 32, 32, 1)).astype("float32")
    probabilities = model(x).numpy()
    features = keras.Model(model.inputs, model.get_layer("predictions").input)(x).numpy()
    kernel, bias = model.get_layer("predictions").get_weights()
    logits = features @ kernel + bias
    np.testing.assert_allclose(probabilities, 1 / (1 + np.exp(-logits)), rtol=1e-5, atol=1e-6)
    assert np.all((probabilities > 0) & (probabilities < 1))
    assert not np.allclose(probabilities.sum(axis=1), 1.0)  # not one distribution over classes
    # raising one class's score moves that class alone
    bumped = bias.copy()
    bumped[0] += 3.0
    model.get_layer("predictions").set_weights([kernel, bumped])
    moved = model(x).numpy()
    assert np.all(moved[:, 0] > probabilities[:, 0])
    np.testing.assert_allclose(moved[:, 1:], probabilities[:, 1:], rtol=1e-6)


def test_linear_head_and_non_classifiers():
    model = set_head_activation(build("vgg11", (32, 32, 3), 3, head="gap", fc_units=8), "linear")
    assert model.get_layer("head_predictions").activation.__name__ == "linear"
    googlenet = set_head_activation(build("googlenet", (96, 96, 3), 5, aux_classifiers=True), "sigmoid")
    assert len(googlenet.outputs) == 3  # the auxiliary heads change too
    with pytest.raises(ValueError, match="not softmax"):
        set_head_activation(build("conv_autoencoder", (28, 28, 1), 10), "sigmoid")


def test_head_rules_decide_loss_and_metrics():
    recipe = validate(
        {"model": {"head_activation": "sigmoid"}, "data": {"options": {"classes": [3, 8]}}}, "r"
    )
    assert resolved_loss(recipe) == "binary_crossentropy"
    assert monitors("classify", True, None, "sigmoid") == [
        "loss", "binary_accuracy", "auc", "val_loss", "val_binary_accuracy", "val_auc",
    ]  # fmt: skip
    assert HEAD_RULES["softmax"].metrics == ("loss", "accuracy")
    plateau = validate({"model": {"head_activation": "sigmoid"}, "schedule": {"name": "plateau"}}, "r")
    assert plateau.schedule.monitor is None  # resolved to val_auc, which exists: it validated


SIGMOID = {"head_activation": "sigmoid"}
CANNOT_LEARN = [
    (
        {"model": SIGMOID, "train": {"loss": "sparse_categorical_crossentropy"}},
        "train.loss",
        "does not fit a sigmoid head",
    ),
    ({"train": {"loss": "binary_crossentropy"}}, "train.loss", "takers: sigmoid"),
    ({"data": {"dataset": "shapes_multilabel"}}, "model.head_activation", "several labels per image"),
    ({"model": {"num_classes": 1}}, "model.num_classes", "needs model.head_activation sigmoid"),
    ({"model": {"num_classes": 1, **SIGMOID}}, "model.num_classes", "the data have 10"),
    ({"model": SIGMOID, "eval": {"tta": "hflip"}}, "eval.tta", "one class per image"),
    (
        {"model": SIGMOID, "schedule": {"name": "plateau", "monitor": "val_accuracy"}},
        "schedule.monitor",
        "val_binary_accuracy",
    ),
    (
        {"task": {"name": "reconstruct"}, "model": {"name": "conv_autoencoder", **SIGMOID}},
        "model.head_activation",
        "applies to task classify",
    ),
]


@pytest.mark.parametrize(("data", "key", "words"), CANNOT_LEARN)
def test_head_rules_reject_what_cannot_learn(data, key, words):
    problems = _problems(data)
    assert key in problems and words in problems[key], problems


def test_multilabel_shapes_are_the_visible_kinds():
    raw = DATASETS.get("shapes_multilabel")([], num_samples=200, size=32, seed=3)
    _, masks = make_shapes(200, 32, 3, 16.0, 3)
    assert raw.class_names == ["circle", "square", "triangle"]
    assert raw.y_train.shape == (200, 3) and set(np.unique(raw.y_train)) <= {0, 1}
    for kind in range(3):
        np.testing.assert_array_equal(raw.y_train[:, kind], (masks == kind + 1).sum(axis=(1, 2)) >= 4)
    assert (raw.y_train.sum(axis=1) >= 2).mean() > 0.2  # many images carry several labels


def test_digits_classes_keeps_and_relabels():
    raw = DATASETS.get("digits")([], classes=[8, 3])
    assert raw.class_names == ["8", "3"] and set(np.unique(raw.y_train)) == {0, 1}
    assert 340 < len(raw.y_train) < 370  # about 180 of each digit in the 1,797


def _brief(path: str, **train) -> dict:
    recipe = load_recipe(ROOT / "recipes" / path).model_dump(mode="json")
    recipe["train"].update({"epochs": 2, "verbose": 0, **train})
    recipe["tracking"].update(enabled=True, log_model=False, experiment="heads")
    return recipe


def test_two_class_recipe_trains_one_sigmoid_unit_and_logs_auc(tracking):
    recipe = validate(_brief("digits_lenet5_binary.yaml"), "binary")
    result = run(recipe, echo=lambda _: None)
    logged = mlflow.MlflowClient(tracking).get_run(result.run_id).data.metrics
    for key in (
        "binary_accuracy",
        "auc",
        "val_binary_accuracy",
        "val_auc",
        "test_binary_accuracy",
        "test_auc",
    ):
        assert key in logged and 0.0 <= logged[key] <= 1.0, key
    assert "accuracy" not in logged and "test_accuracy" not in logged
    assert logged["test_auc"] > 0.9  # 3 vs 8 is easy, even after two epochs


def test_multilabel_recipe_learns_multi_hot_targets(tracking):
    data = _brief("shapes_multilabel_lenet5.yaml", epochs=4)
    data["data"]["options"] = {"num_samples": 600, "size": 32}
    recipe = validate(data, "multilabel")
    assert plateau_monitor(recipe) == "val_auc"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = run(recipe, echo=lambda _: None)
    client = mlflow.MlflowClient(tracking)
    logged = client.get_run(result.run_id).data.metrics
    for key in ("binary_accuracy", "auc", "val_auc", "test_binary_accuracy", "test_auc"):
        assert key in logged and 0.0 <= logged[key] <= 1.0, key
    assert result.metrics["test_auc"] == pytest.approx(logged["test_auc"])
    # it learns the multi-hot targets: the training loss falls and the AUC rises
    loss = [m.value for m in client.get_metric_history(result.run_id, "loss")]
    auc = [m.value for m in client.get_metric_history(result.run_id, "auc")]
    assert loss[-1] < loss[0] and auc[-1] > auc[0]
    # the plateau schedule watched val_auc (a sigmoid head logs no val_accuracy)
    assert not [w for w in caught if "not available" in str(w.message)], [str(w.message) for w in caught]


def test_mse_on_a_sigmoid_head_and_a_linear_head_train():
    sigmoid = tiny_recipe(model={"head_activation": "sigmoid"}, train={"loss": "mse", "epochs": 1})
    result = run(validate(sigmoid, "t"), echo=lambda _: None)
    assert {"test_binary_accuracy", "test_auc"} <= set(result.metrics)
    linear = tiny_recipe(model={"head_activation": "linear"}, train={"epochs": 1})
    result = run(validate(linear, "t"), echo=lambda _: None)
    assert "test_accuracy" in result.metrics and np.isfinite(result.metrics["test_loss"])

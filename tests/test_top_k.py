"""Top-k accuracy (``eval.top_k``): Keras' own metric per epoch, at test and under TTA, on the
main output only; logged for classifiers with more than k classes, absent otherwise."""

from __future__ import annotations

from types import SimpleNamespace

import keras
import mlflow
import numpy as np
import pytest
from conftest import tiny_recipe

from kerasnets.errors import RecipeError
from kerasnets.recipe import validate
from kerasnets.rules import metric_mode, monitors, top_k_metric
from kerasnets.train.loop import run
from kerasnets.train.tasks import TASKS
from kerasnets.train.tasks.classify import evaluate_tta, top_k_accuracy

#: the rank of each sample's label among 10 class scores (1 = the highest)
RANKS = [1, 3, 5, 6, 10, 2, 7, 5]
TOP1, TOP5 = 1 / 8, 5 / 8  # ranks <= 1: one sample; ranks <= 5: 1, 3, 5, 2, 5


def _case() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One-hot inputs, labels, and a logit table putting label i at rank RANKS[i]."""
    labels = np.array([3, 0, 7, 9, 1, 4, 2, 8])
    logits = np.zeros((8, 10), np.float32)
    for i, (label, rank) in enumerate(zip(labels, RANKS, strict=True)):
        others = [c for c in range(10) if c != label]
        order = others[: rank - 1] + [int(label)] + others[rank - 1 :]  # highest first
        logits[i, order] = np.arange(10, 0, -1)
    return np.eye(8, dtype=np.float32), labels, logits


def _fixed_model(logits: np.ndarray, aux: bool = False) -> keras.Model:
    """Sample i (one-hot input) -> softmax(logits[i]); frozen, so fit leaves it as it is."""
    inputs = keras.Input((8,))
    head = keras.layers.Dense(10, use_bias=False, activation="softmax", name="head", trainable=False)
    outputs = [head(inputs)]
    if aux:
        outputs.append(keras.layers.Dense(10, activation="softmax", name="aux")(inputs))
    model = keras.Model(inputs, outputs if aux else outputs[0])
    head.set_weights([logits])
    return model


@pytest.mark.parametrize("smoothing", [0.0, 0.1])  # sparse labels, then one-hot ones
def test_top5_logged_per_epoch_and_at_test_equals_the_hand_count(smoothing):
    x, y, logits = _case()
    recipe = validate(tiny_recipe(regularization={"label_smoothing": smoothing}), "t")
    task = TASKS.get("classify")(recipe)
    model = _fixed_model(logits)
    task.compile(model, keras.optimizers.SGD(0.0), False, 1)
    targets = keras.utils.to_categorical(y, 10) if task.one_hot() else y
    history = model.fit(x, targets, validation_data=(x, targets), batch_size=3, epochs=1, verbose=0).history
    assert history["top_5_accuracy"][0] == pytest.approx(TOP5)
    assert history["val_top_5_accuracy"][0] == pytest.approx(TOP5)
    assert history["accuracy"][0] == pytest.approx(TOP1)
    import tensorflow as tf

    pipelines = SimpleNamespace(test=tf.data.Dataset.from_tensor_slices((x, targets)).batch(3))
    metrics = task.evaluate(task.inference(model), pipelines, SimpleNamespace(y_test=y), 3)
    assert metrics["test_top_5_accuracy"] == pytest.approx(TOP5)
    assert metrics["test_accuracy"] == pytest.approx(TOP1)
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))
    assert top_k_accuracy(y, probabilities, 5) == pytest.approx(TOP5)
    assert top_k_accuracy(y, probabilities, 1) == pytest.approx(TOP1)


def test_auxiliary_heads_get_top5_on_the_main_output_only():
    x, y, logits = _case()
    task = TASKS.get("classify")(validate(tiny_recipe(), "t"))
    model = _fixed_model(logits, aux=True)
    task.compile(model, keras.optimizers.SGD(0.0), False, 1)
    history = model.fit(
        x, (y, y), validation_data=(x, (y, y)), epochs=1, verbose=0, callbacks=task.callbacks(model, None)
    ).history
    assert history["top_5_accuracy"][0] == pytest.approx(TOP5)  # the main output's, aliased
    assert history["val_top_5_accuracy"][0] == pytest.approx(TOP5)
    assert not [k for k in history if k.startswith(("aux_top", "val_aux_top"))]
    net = task.inference(model)
    assert len(net.outputs) == 1
    assert net.evaluate(x, y, verbose=0, return_dict=True)["top_5_accuracy"] == pytest.approx(TOP5)


def test_tta_scores_top5_from_the_averaged_softmax():
    x = np.zeros((8, 4, 4, 1), np.uint8)
    _, y, logits = _case()
    probabilities = keras.ops.convert_to_numpy(keras.ops.softmax(logits))

    class Table:  # both views of image i -> row i: the average is that row
        def predict_on_batch(self, images):
            return np.repeat(probabilities[: len(images) // 2], 2, axis=0)

    splits = SimpleNamespace(x_test=x, y_test=y, input_shape=(4, 4, 1), mean=[0.0], std=[1.0])
    recipe = SimpleNamespace(
        eval=SimpleNamespace(tta="hflip", crop_fraction=0.875), crop=SimpleNamespace(eval_side=None)
    )
    metrics = evaluate_tta(Table(), splits, recipe, 8, top_k=5)
    assert metrics == {
        "test_accuracy_tta": pytest.approx(TOP1),
        "test_top_5_accuracy_tta": pytest.approx(TOP5),
    }


def test_top_k_rules_and_monitors():
    assert top_k_metric("classify", 5, 10) == "top_5_accuracy"
    assert top_k_metric("classify", 5, 5) is None and top_k_metric("classify", None, 10) is None
    assert top_k_metric("reconstruct", 5, 10) is None
    assert "val_top_5_accuracy" in monitors("classify", True, "top_5_accuracy")
    for name in ("val_top_5_accuracy", "test_top_5_accuracy", "test_top_3_accuracy_tta"):
        assert metric_mode(name) == "max"
    # digits has 10 classes: a valid monitor; 4 synthetic classes have no top-5
    validate({"regularization": {"early_stopping": {"monitor": "val_top_5_accuracy"}}}, "t")
    no_top5 = r"logs no 'val_top_5_accuracy'.*needs more than eval.top_k classes; 4"
    with pytest.raises(RecipeError, match=no_top5):
        validate(tiny_recipe(regularization={"early_stopping": {"monitor": "val_top_5_accuracy"}}), "t")
    plateau = {"name": "plateau", "monitor": "val_top_3_accuracy"}
    validate(tiny_recipe(eval={"top_k": 3}, schedule=plateau), "t")


def _synthetic(classes: int, **sections) -> dict:
    return tiny_recipe(
        data={"options": {"num_samples": 200, "num_classes": classes, "shape": [8, 8, 1]}},
        train={"epochs": 1},
        **sections,
    )


def test_a_ten_class_run_logs_top5_per_epoch_and_at_test(tracking):
    tracked = {"enabled": True, "experiment": "top-k", "log_model": False}
    result = run(validate(_synthetic(10, tracking=tracked), "t"), echo=lambda _: None)
    logged = mlflow.MlflowClient(tracking).get_run(result.run_id).data.metrics
    for key in ("top_5_accuracy", "val_top_5_accuracy", "test_top_5_accuracy"):
        assert key in logged and 0.0 <= logged[key] <= 1.0, key
    assert logged["test_top_5_accuracy"] >= logged["test_accuracy"]
    assert result.metrics["test_top_5_accuracy"] == pytest.approx(logged["test_top_5_accuracy"])


@pytest.mark.parametrize("classes", [2, 5])
def test_runs_with_at_most_five_classes_log_no_top5(classes):
    result = run(validate(_synthetic(classes), "t"), echo=lambda _: None)
    assert not [k for k in (*result.history, *result.metrics) if "top_" in k]

"""Transfer learning's phases: blocks from layer names, a frozen base (BatchNormalization in
inference mode, kernels unchanged) under a training head, and a two-phase run that logs its
trainable and frozen parameter counts and fine-tunes at its own learning rate."""

from __future__ import annotations

import numpy as np
import pytest

from kerasnets.models import build
from kerasnets.weights.phases import block_of, head_layers, set_trainable


@pytest.mark.parametrize(
    "name, block",
    [
        ("stage4_block3_1_conv", "stage4_block3"),
        ("block5_conv1", "block5"),
        ("transition2_bn", "transition2"),
        ("stem_conv", "stem"),
        ("stage1_layer2_1_bn", "stage1_layer2"),
        ("c5", "c5"),
    ],
)
def test_block_of_layer_names(name, block):
    assert block_of(name) == block


def test_frozen_base_keeps_kernels_and_batchnorm_statistics():
    model = build("resnet20", (16, 16, 3), 4)
    assert head_layers(model) == ["head_predictions"]
    trainable, frozen = set_trainable(model, "head")
    assert trainable == 64 * 4 + 4 and frozen == model.count_params() - trainable - sum(
        int(np.prod(w.shape)) for w in model.non_trainable_weights if "moving" in w.path
    )
    before = {w.path: w.numpy().copy() for w in model.weights}
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).normal(size=(8, 16, 16, 3)).astype("float32")
    model.fit(x, np.arange(8) % 4, epochs=1, verbose=0)
    changed = {p for p, v in before.items() if not np.array_equal(v, _value(model, p))}
    assert changed and all(p.startswith("head_predictions") for p in changed)  # BN stats too stay
    top_trainable, _ = set_trainable(model, "top", 1)
    assert top_trainable > trainable  # the last block (stage3_block3) trains too
    assert (
        model.get_layer("stage3_block3_1_conv").trainable
        and not model.get_layer("stage3_block2_1_conv").trainable
    )


def _value(model, path: str) -> np.ndarray:
    return next(w for w in model.weights if w.path == path).numpy()


def test_two_phase_run_logs_counts_and_fine_tunes_at_its_rate(mlflow_store, monkeypatch, tmp_path):
    from mlflow import MlflowClient

    from kerasnets.recipe import validate
    from kerasnets.train import loop

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    monkeypatch.chdir(tmp_path)
    source = build("cnn_small", (8, 8, 3), 10)
    source.save(tmp_path / "source.keras")
    recipe = {
        "data": {"dataset": "digits", "batch_size": 64, "channels": 3},
        "model": {"name": "cnn_small"},
        "init": {"from_run": str(tmp_path / "source.keras")},
        "transfer": {"trainable": "head", "fine_tune": {"epochs": 1, "learning_rate": 1.0e-4}},
        "optimizer": {"name": "sgd", "learning_rate": 0.05},
        "train": {"epochs": 2, "verbose": 0},
        "tracking": {"experiment": "transfer", "log_model": False},
    }
    result = loop.run(validate(recipe, "t.yaml"), echo=lambda _: None)
    assert len(result.history["loss"]) == 3
    assert result.history["learning_rate"] == pytest.approx([0.05, 0.05, 1.0e-4])
    params = MlflowClient(mlflow_store).get_run(result.run_id).data.params
    everything = int(params["transfer.phase2.trainable_params"])  # all trainable in phase 2
    assert int(params["transfer.phase1.frozen_params"]) > 0 and params["transfer.phase2.frozen_params"] == "0"
    assert int(params["transfer.phase1.trainable_params"]) < everything
    assert params["transfer.phase2.learning_rate"] == "0.0001"

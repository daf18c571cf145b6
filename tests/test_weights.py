"""Starting weights: keras.applications ImageNet weights through the explicit layer map (the
two models give the same outputs on the same image), all-or-nothing loading, and weights
copied from a finished run or a ``.keras`` file (VGG D from VGG A's layers)."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnets.errors import KerasnetsError, RecipeError
from kerasnets.models import build
from kerasnets.weights.imagenet import load_imagenet
from kerasnets.weights.imagenet_table import IMAGENET_WEIGHTS, PREPROCESSING
from kerasnets.weights.transfer import copy_layers

FAMILY_MODULES = {"vgg16": "vgg16", "vgg19": "vgg19", "resnet": "resnet", "densenet": "densenet"}
FAST = ("resnet50", "densenet121")  # the rest are the same maps at more depth: slow


def _preprocess(name: str):
    module = {"vgg": "vgg16", "resnet": "resnet", "densenet": "densenet"}[IMAGENET_WEIGHTS[name].family]
    return getattr(keras.applications, module).preprocess_input


def _weights_file(name: str, shape, tmp_path):
    """A keras.applications model with random weights and its saved weights file."""
    entry = IMAGENET_WEIGHTS[name]
    keras.utils.set_random_seed(1)
    theirs = getattr(keras.applications, entry.application)(weights=None, input_shape=shape)
    # random BN statistics, so the map of every BN weight is tested, not only gamma/beta
    for layer in theirs.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            mean, var = layer.moving_mean, layer.moving_variance
            mean.assign(np.random.default_rng(0).normal(0, 0.1, mean.shape))
            var.assign(np.random.default_rng(1).uniform(0.5, 1.5, var.shape))
    path = tmp_path / f"{name}.weights.h5"
    theirs.save_weights(path)
    return theirs, path


@pytest.mark.parametrize(
    "name", [pytest.param(n, marks=[] if n in FAST else [pytest.mark.slow]) for n in IMAGENET_WEIGHTS]
)
def test_imagenet_weights_reproduce_keras_applications(name, tmp_path):
    shape = (224, 224, 3) if IMAGENET_WEIGHTS[name].family == "vgg" else (64, 64, 3)
    theirs, path = _weights_file(name, shape, tmp_path)
    ours = build(name, shape, 1000, **IMAGENET_WEIGHTS[name].options)
    report = load_imagenet(ours, name, str(path))
    assert not report.fresh and len(report.copied) == len([x for x in ours.layers if x.weights])
    images = np.random.default_rng(2).uniform(0, 255, (2, *shape)).astype("float32")
    mean, std, _ = PREPROCESSING[report.preprocessing]
    expected = theirs.predict(_preprocess(name)(images.copy()), verbose=0)  # their BGR/caffe etc.
    got = ours.predict((images - np.float32(mean)) / np.float32(std), verbose=0)  # RGB in, ours
    np.testing.assert_allclose(got, expected, atol=1e-5)


def test_new_head_for_other_classes_and_all_or_nothing_loading(tmp_path):
    _, path = _weights_file("resnet50", (64, 64, 3), tmp_path)
    ours = build("resnet50", (64, 64, 3), 7, conv_bias=True)
    report = load_imagenet(ours, "resnet50", str(path))
    assert report.fresh == {"head_predictions": "new classifier head"}
    with pytest.raises(KerasnetsError, match="init.new_head: true"):
        load_imagenet(
            build("resnet50", (64, 64, 3), 7, conv_bias=True), "resnet50", str(path), new_head=False
        )
    plain = build("resnet50", (64, 64, 3), 1000)  # no conv bias: another architecture
    before = [w.copy() for w in plain.get_weights()]
    with pytest.raises(KerasnetsError, match="'stem_conv' has weights"):
        load_imagenet(plain, "resnet50", str(path))
    assert all(
        np.array_equal(a, b) for a, b in zip(before, plain.get_weights(), strict=True)
    )  # nothing loaded
    grey = build("resnet50", (64, 64, 1), 1000, conv_bias=True)
    with pytest.raises(KerasnetsError, match=r"stem_conv.*\(7, 7, 1, 64\)"):
        load_imagenet(grey, "resnet50", str(path))
    with pytest.raises(KerasnetsError, match="cannot read"):
        load_imagenet(
            build("resnet50", (64, 64, 3), 1000, conv_bias=True), "resnet50", str(tmp_path / "no.h5")
        )


def test_imagenet_recipe_rules():
    from kerasnets.recipe import validate

    recipe = validate({"model": {"name": "densenet121"}, "init": {"weights": "imagenet"}}, "r.yaml")
    assert recipe.data.normalize == "torch"  # the weights' preprocessing, applied automatically
    with pytest.raises(RecipeError) as info:
        validate({"model": {"name": "vgg11"}, "init": {"weights": "imagenet", "from_run": "abc"}}, "r.yaml")
    text = str(info.value)
    assert "has no ImageNet weights" in text and "not both" in text
    with pytest.raises(RecipeError, match="set data.normalize to 'caffe'"):
        validate(
            {
                "model": {"name": "vgg16"},
                "init": {"weights": "imagenet"},
                "data": {"normalize": "standardize"},
            },
            "r.yaml",
        )


def test_vgg_d_from_vgg_a_layers():
    """VGG's procedure: D takes A's first four conv layers and the three FC layers."""
    a = build("vgg11", (32, 32, 3), 10)
    d = build("vgg16", (32, 32, 3), 10)
    fresh_before = d.get_layer("block1_conv2").get_weights()[0].copy()
    taken = ["block1_conv1", "block2_conv1", "block3_conv1", "block3_conv2", "head_*"]
    report = copy_layers(a, d, taken, description="vgg11")
    assert report.copied == [
        "block1_conv1",
        "block2_conv1",
        "block3_conv1",
        "block3_conv2",
        "head_fc1",
        "head_fc2",
        "head_predictions",
    ]
    for name in report.copied:
        for mine, theirs in zip(
            d.get_layer(name).get_weights(), a.get_layer(name).get_weights(), strict=True
        ):
            np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(d.get_layer("block1_conv2").get_weights()[0], fresh_before)
    everything = copy_layers(a, build("vgg16", (32, 32, 3), 10), description="vgg11")
    assert "block4_conv1" in everything.copied  # same name, same shapes
    assert everything.fresh["block1_conv2"] == "not in vgg11"
    with pytest.raises(KerasnetsError, match="'nope_\\*' names no layer"):
        copy_layers(a, d, ["nope_*"], description="vgg11")
    with pytest.raises(KerasnetsError, match="block1_conv2.*not in vgg11"):
        copy_layers(a, d, ["block1_conv2"], description="vgg11")


def test_run_from_a_finished_run_logs_lineage(mlflow_store, monkeypatch, tmp_path):
    from mlflow import MlflowClient

    from kerasnets.recipe import validate
    from kerasnets.train import loop

    monkeypatch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
    monkeypatch.chdir(tmp_path)
    base = {
        "data": {"dataset": "digits", "batch_size": 64},
        "model": {"name": "cnn_small"},
        "train": {"epochs": 1, "verbose": 0},
        "tracking": {"experiment": "weights", "log_model": False},
    }
    first = loop.run(validate(base, "a.yaml"), echo=lambda _: None)
    second = loop.run(
        validate({**base, "init": {"from_run": first.run_id, "exclude": ["predictions"]}}, "b.yaml"),
        echo=lambda _: None,
    )
    run = MlflowClient(mlflow_store).get_run(second.run_id)
    assert run.data.tags["init.source_run"] == first.run_id
    assert run.data.metrics["init_copied_layers"] == 2 and run.data.metrics["init_fresh_layers"] == 1
    with pytest.raises(RecipeError, match="init.from_run: no run .missing. \\(id or finished run name\\)"):
        loop.run(validate({**base, "init": {"from_run": "missing"}}, "c.yaml"), echo=lambda _: None)

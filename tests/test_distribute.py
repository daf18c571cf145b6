"""``train.distribute``: MirroredStrategy over two logical CPUs (split in a fresh process,
before TensorFlow starts) trains like one device on the global batch; the rules around it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from conftest import ROOT, tiny_recipe

from kerasnets.errors import RecipeError
from kerasnets.recipe import validate

#: both runs in one fresh process whose CPU is split into two logical devices first
TWO_CPUS = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kerasnets.recipe import validate
from kerasnets.train.loop import run
out = {}
for distribute in ("mirrored", "none"):
    recipe = json.loads(sys.argv[1])
    recipe["train"]["distribute"] = distribute
    result = run(validate(recipe, "t"), echo=lambda line: print(line, file=sys.stderr))
    out[distribute] = {"history": result.history, "metrics": result.metrics}
print(json.dumps(out))
"""

#: LeNet-5 on 1,152 digits, no dropout or augmentation, deterministic ops. Full-batch gradient
#: descent: two replicas of 576 against one device of 1,152. (With smaller batches the curves
#: differ from the first epoch on: Keras iterates a distributed training set once before fit
#: to build the model, so the seeded shuffle stream is one epoch ahead.)
RECIPE = {
    "data": {"dataset": "digits", "batch_size": "full", "limit": 1280, "validation_split": 0.1},
    "model": {"name": "lenet5"},
    "optimizer": {"name": "gd", "learning_rate": 0.1},
    "train": {"epochs": 4, "seed": 0, "deterministic": True, "verbose": 0},
    "tracking": {"enabled": False},
}
RTOL = 1e-5  # measured: largest relative difference 2.6e-7 (loss), 1.1e-7 (val_loss)


def test_two_replicas_follow_the_one_device_loss_curve():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run(
        [sys.executable, "-c", TWO_CPUS, json.dumps(RECIPE)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "cpu (2 replicas, mirrored), batch 1152" in done.stderr
    out = json.loads(done.stdout.strip().splitlines()[-1])
    two, one = out["mirrored"], out["none"]
    for key in ("loss", "val_loss", "accuracy", "top_5_accuracy"):
        np.testing.assert_allclose(two["history"][key], one["history"][key], rtol=RTOL, err_msg=key)
    assert two["history"]["loss"][-1] < two["history"]["loss"][0]  # it did learn
    np.testing.assert_allclose(two["metrics"]["test_loss"], one["metrics"]["test_loss"], rtol=RTOL)


def test_mirrored_on_one_device_is_a_recipe_error():
    from kerasnets.train.runtime import resolve_distribute

    with pytest.raises(RecipeError, match=r"train.distribute: mirrored needs at least 2 devices"):
        resolve_distribute("mirrored", "classify", "r.yaml")
    assert resolve_distribute("auto", "classify") == ("none", ())
    assert resolve_distribute("none", "classify") == ("none", ())


@pytest.mark.parametrize(
    ("sections", "key", "text"),
    [
        (
            {"task": {"name": "generate"}, "model": {"name": "dcgan"}, "train": {"distribute": "mirrored"}},
            "train.distribute",
            "task 'generate' cannot train under 'mirrored'",
        ),
        ({"train": {"sync_batchnorm": True, "distribute": "none"}}, "train.sync_batchnorm", "not none"),
        (
            {"train": {"distribute": "mirrored", "steps_per_execution": 4}},
            "train.steps_per_execution",
            "must be 1 or auto under train.distribute mirrored",
        ),
        ({"train": {"distribute": "two"}}, "train.distribute", "'auto', 'none' or 'mirrored'"),
    ],
)
def test_distribute_rules(sections, key, text):
    with pytest.raises(RecipeError) as error:
        validate(sections, "r.yaml")
    assert any(p.key == key and text in p.render() for p in error.value.problems), error.value.render()


def test_sync_batchnorm_synchronizes_every_batch_norm_and_keeps_the_counts():
    recipe = validate({"model": {"name": "resnet20"}, "train": {"sync_batchnorm": True}}, "t")
    from kerasnets.train.build import build_model

    plain = build_model(recipe, (32, 32, 3), 4, replicas=1)
    synced = build_model(recipe, (32, 32, 3), 4, replicas=2)
    norms = [layer for layer in synced._flatten_layers() if layer.__class__.__name__ == "BatchNormalization"]
    assert norms and all(layer.synchronized for layer in norms)
    assert all(layer.get_config()["synchronized"] for layer in norms)  # saved with the model
    assert not any(getattr(layer, "synchronized", False) for layer in plain._flatten_layers())
    assert synced.count_params() == plain.count_params()


def test_an_uneven_first_batch_is_a_recipe_error():
    from kerasnets.train.loop import check_first_batch, global_batch_size

    recipe = validate(tiny_recipe(data={"batch_size": "full"}), "t")
    assert global_batch_size(recipe, 1293, 2) == 1293
    with pytest.raises(RecipeError, match=r"data.batch_size: the first batch \(1293 examples\)"):
        check_first_batch(recipe, 1293, 2, "r.yaml")
    check_first_batch(recipe, 1292, 2, "r.yaml")
    batched = validate(tiny_recipe(data={"batch_size": 32}), "t")
    assert global_batch_size(batched, 1293, 2) == 64
    check_first_batch(batched, 1293, 2, "r.yaml")  # 64 = 32 + 32; the last, short batch is fine

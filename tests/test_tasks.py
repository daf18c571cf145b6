"""Tasks beyond classification: corruption, targets, layouts, masks and task metrics."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import tiny_recipe

from kerasnets.data.datasets import RawData
from kerasnets.data.inputs import make_pipelines
from kerasnets.data.pipeline import layout_shape, make_dataset, prepare, resize_masks
from kerasnets.errors import RecipeError
from kerasnets.recipe import DataSection, validate
from kerasnets.train.tasks import TASKS, corrupt, psnr

RNG = np.random.default_rng(0)


@pytest.mark.parametrize("kind", ["gaussian", "salt_pepper", "masking"])
def test_corruption_changes_inputs_and_keeps_the_target_clean(kind):
    recipe = tiny_recipe(task={"name": "denoise", "noise": kind, "noise_level": 0.3})
    recipe = validate({**recipe, "model": {"name": "dense_autoencoder"}}, "t")
    from kerasnets.data.pipeline import load_splits

    splits = load_splits(recipe.data)
    task = TASKS.get("denoise")(recipe)
    ds = make_dataset(
        splits.x_train,
        splits.y_train,
        32,
        shuffle=False,
        seed=0,
        num_classes=4,
        one_hot=False,
        mean=splits.mean,
        std=splits.std,
        target_fn=task.target_fn(splits),
    )
    inputs, targets = (t.numpy() for t in next(iter(ds)))
    assert inputs.shape == targets.shape == (32, 8, 8, 1)
    np.testing.assert_allclose(targets, splits.normalize(splits.x_train[:32]), rtol=1e-5)  # the clean images
    assert not np.allclose(inputs, targets)
    train_inputs, _ = next(iter(make_pipelines(recipe, splits, 32, task).train))
    assert train_inputs.shape == (32, 8, 8, 1)
    hit = ~np.isclose(inputs, targets)
    if kind != "gaussian":
        assert 0.15 < hit.mean() < 0.45  # about a share noise_level of the pixels


def test_masking_and_salt_pepper_values():
    images = tf.zeros((4, 16, 16, 1))
    masked = corrupt(images + 1.0, tf.constant(3, tf.int64), "masking", 0.5, -2.0, 5.0).numpy()
    assert set(np.unique(masked)) == {-2.0, 1.0}
    salted = corrupt(images, tf.constant(3, tf.int64), "salt_pepper", 0.5, -2.0, 5.0).numpy()
    assert set(np.unique(salted)) == {-2.0, 0.0, 5.0}


def test_psnr_of_known_errors():
    clean = np.zeros((2, 4, 4, 1))
    assert psnr(clean, clean + 1) == pytest.approx(10 * np.log10(255**2), rel=1e-9)
    assert psnr(clean, clean + 10) == pytest.approx(10 * np.log10(255**2 / 100), rel=1e-9)


@pytest.mark.parametrize("layout, shape", [("rows", (28, 28)), ("pixels", (784, 1))])
def test_sequence_layouts_reshape_batches(layout, shape):
    assert layout_shape((28, 28, 1), layout) == shape
    x = RNG.integers(0, 256, (6, 28, 28, 1), dtype=np.uint8)
    ds = make_dataset(
        x,
        np.arange(6, dtype=np.int32),
        3,
        shuffle=False,
        seed=0,
        num_classes=6,
        one_hot=False,
        mean=[0.0],
        std=[1.0],
        layout=layout,
    )
    batch, _ = next(iter(ds))
    assert batch.shape == (3, *shape)
    np.testing.assert_array_equal(batch.numpy().reshape(3, 28, 28, 1), x[:3])


def test_masks_follow_their_images():
    masks = np.zeros((2, 4, 4), dtype=np.uint8)
    masks[:, :2, :2] = 1
    assert (
        resize_masks(masks, (8, 8), "resize")[0, :4, :4].all()
        and not resize_masks(masks, (8, 8), "resize")[0, 4:].any()
    )
    padded = resize_masks(masks, (6, 6), "pad")
    assert padded.shape == (2, 6, 6) and padded[0, 1, 1] == 1 and padded[0, 0, 0] == 0
    raw = RawData(
        RNG.integers(0, 256, (40, 4, 4, 3), dtype=np.uint8),
        np.repeat(masks[:1], 40, axis=0),
        ["background", "thing"],
    )
    splits = prepare(raw, DataSection(dataset="synthetic", image_size=(8, 8), validation_split=0.25))
    assert splits.y_train.shape[1:] == (8, 8) and splits.x_train.shape[1:] == (8, 8, 3)


def test_segment_metrics_on_a_perfect_and_a_blind_model():
    recipe = validate({**tiny_recipe(task={"name": "segment"}), "model": {"name": "segnet"}}, "t")
    task = TASKS.get("segment")(recipe)
    inputs = keras.Input((4, 4, 1))
    # a 1x1 convolution that says class 1 where the pixel is positive
    conv = keras.layers.Conv2D(
        2,
        1,
        activation="softmax",
        kernel_initializer=keras.initializers.Constant([[[[-50.0, 50.0]]]]),
        bias_initializer=keras.initializers.Constant([0.0, 0.0]),
    )
    model = keras.Model(inputs, conv(inputs))
    task.compile(model, keras.optimizers.SGD(0.0), False, 1)
    x = (RNG.random((6, 4, 4, 1)) > 0.5).astype(np.float32) * 2 - 1
    masks = (x[..., 0] > 0).astype(np.int32)

    class Splits:
        y_test = masks

    ds = tf.data.Dataset.from_tensor_slices((x, masks)).batch(3)
    pipes = type("P", (), {"test": ds})
    metrics = task.evaluate(model, pipes, Splits, 3)
    assert metrics["test_pixel_accuracy"] == 1.0 and metrics["test_mean_iou"] == pytest.approx(1.0)
    Splits.y_test = 1 - masks
    metrics = task.evaluate(model, pipes, Splits, 3)
    assert metrics["test_pixel_accuracy"] == 0.0 and metrics["test_mean_iou"] == 0.0


def test_task_recipe_rules():
    with pytest.raises(RecipeError, match="set data.layout to 'rows' or 'pixels'"):
        validate(tiny_recipe(task={"name": "sequence"}), "t")
    with pytest.raises(RecipeError, match="not available for task 'segment'"):
        validate(tiny_recipe(task={"name": "segment"}, augment=[{"HorizontalFlip": {}}]), "t")
    with pytest.raises(RecipeError, match="task.name: expected"):
        validate(tiny_recipe(task={"name": "translate"}), "t")


def test_sequence_task_trains_an_mlp_on_rows():
    from kerasnets.train.loop import run

    recipe = validate(
        tiny_recipe(task={"name": "sequence"}, data={"layout": "rows"}, train={"epochs": 2}), "t"
    )
    result = run(recipe, echo=lambda _: None)
    assert result.model.input_shape == (None, 8, 8) and result.test_accuracy > 0.4


def test_a_model_that_does_not_serve_the_task_is_a_recipe_error():
    from kerasnets.models import models_for_task

    with pytest.raises(RecipeError) as info:
        validate({**tiny_recipe(task={"name": "segment"}), "model": {"name": "lenet5"}}, "bad.yaml")
    text = str(info.value)
    assert "bad.yaml" in text and "'lenet5' does not serve task 'segment'" in text
    assert all(name in text for name in models_for_task("segment"))
    assert "mlp" in models_for_task("sequence") and "lenet5" not in models_for_task("sequence")


def test_recipe_rules_for_layouts_gan_schedules_and_dropout():
    with pytest.raises(RecipeError, match="tasks 'sequence' and 'seq2seq'"):
        validate(
            {
                **tiny_recipe(task={"name": "denoise"}, data={"layout": "rows"}),
                "model": {"name": "dense_autoencoder"},
            },
            "t",
        )
    with pytest.raises(RecipeError, match="does not apply to task 'generate'"):
        validate(
            {
                **tiny_recipe(task={"name": "generate"}, schedule={"name": "cosine"}),
                "model": {"name": "dcgan"},
            },
            "t",
        )
    with pytest.raises(RecipeError, match="regularization.dropout: model 'dcgan' has no dropout option"):
        validate(
            {
                **tiny_recipe(task={"name": "generate"}, regularization={"dropout": 0.3}),
                "model": {"name": "dcgan"},
            },
            "t",
        )


def test_kernel_regularisers_reach_both_gan_networks():
    from kerasnets.models import build
    from kerasnets.models.gan import _penalty
    from kerasnets.train.regularizers import make_regularizer, regularize_kernels

    gan = build("dcgan", (8, 8, 1), 1, latent_dim=4, generator_filters=[8], discriminator_filters=[8])
    assert float(_penalty(gan.generator)) == 0.0
    assert regularize_kernels(gan, make_regularizer(0.0, 0.01)) >= 3
    assert float(_penalty(gan.generator)) > 0 and float(_penalty(gan.discriminator)) > 0

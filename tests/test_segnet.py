"""SegNet: pooling with indices and unpooling against numpy and TensorFlow, the builder, the
segmentation data sets (generated shapes, image/mask folders) and a tiny segment run."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from conftest import ROOT, tiny_recipe

from kerasnets.blocks import MaxPoolingWithArgmax2D, MaxUnpooling2D, pool_with_indices, unpool
from kerasnets.data.datasets import DATASETS
from kerasnets.data.segmentation import SHAPE_CLASSES, make_shapes
from kerasnets.errors import DataError
from kerasnets.models import build
from kerasnets.recipe import load_recipe, validate

RNG = np.random.default_rng(0)


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session(free_memory=False)


def _np(x) -> np.ndarray:
    return keras.ops.convert_to_numpy(x)


def _pool_unpool_model(shape: tuple[int, ...]) -> keras.Model:
    inputs = keras.Input(shape)
    values, indices = pool_with_indices(inputs, name="pool")
    return keras.Model(inputs, unpool(values, indices, like=inputs, name="unpool"))


# ----------------------------------------------------------------------------- layers


def test_unpooling_puts_values_back_at_the_argmax_positions():
    x = np.array(
        [[1, 5, 0, 2],
         [3, 2, 7, 1],
         [0, 0, 1, 1],
         [9, 0, 0, 4]], np.float32,
    )[None, :, :, None]  # fmt: skip
    values, indices = (_np(t) for t in MaxPoolingWithArgmax2D()(x))
    np.testing.assert_array_equal(values[0, :, :, 0], [[5, 7], [9, 4]])
    np.testing.assert_array_equal(indices[0, :, :, 0], [[1, 6], [12, 15]])  # y * 4 + x
    out = _np(MaxUnpooling2D()(values * 10, indices))
    expected = np.zeros((4, 4), np.float32)
    expected[0, 1], expected[1, 2], expected[3, 0], expected[3, 3] = 50, 70, 90, 40
    np.testing.assert_array_equal(out[0, :, :, 0], expected)


def test_indices_are_per_image_and_match_tensorflow():
    for padding, shape in (("valid", (3, 6, 8, 5)), ("same", (3, 7, 9, 5))):
        x = RNG.normal(size=shape).astype(np.float32)
        values, indices = MaxPoolingWithArgmax2D(padding=padding)(x)
        tf_values, tf_indices = tf.nn.max_pool_with_argmax(
            x, 2, 2, padding.upper(), include_batch_in_index=False
        )
        np.testing.assert_array_equal(_np(values), tf_values.numpy())
        np.testing.assert_array_equal(_np(indices), tf_indices.numpy())
        assert indices.dtype == "int32"


def test_pool_unpool_round_trip_keeps_the_window_maxima():
    x = RNG.normal(size=(2, 8, 6, 3)).astype(np.float32)
    out = _np(_pool_unpool_model((8, 6, 3))(x))
    windows = x.reshape(2, 4, 2, 3, 2, 3)
    is_max = x == np.repeat(np.repeat(windows.max(axis=(2, 4)), 2, axis=1), 2, axis=2)
    np.testing.assert_array_equal(out, np.where(is_max, x, 0.0))
    assert np.count_nonzero(out) == 2 * 4 * 3 * 3  # one survivor per window and channel


def test_unpool_to_an_odd_size():
    x = RNG.normal(size=(2, 7, 5, 2)).astype(np.float32)
    values, indices = MaxPoolingWithArgmax2D(padding="same")(x)
    out = _np(MaxUnpooling2D(output_size=(7, 5))(values, indices))
    assert out.shape == x.shape
    np.testing.assert_array_equal(np.sort(out[out != 0]), np.sort(_np(values).ravel()))


def test_gradient_flows_through_pooling_and_unpooling():
    x = tf.constant(RNG.normal(size=(2, 6, 6, 3)).astype(np.float32))
    weights = tf.constant(RNG.normal(size=(2, 6, 6, 3)).astype(np.float32))
    with tf.GradientTape() as tape:
        tape.watch(x)
        values, indices = MaxPoolingWithArgmax2D()(x)
        loss = tf.reduce_sum(weights * MaxUnpooling2D()(values, indices))
    grad = tape.gradient(loss, x).numpy()
    out = _np(MaxUnpooling2D()(values, indices))
    np.testing.assert_allclose(grad, np.where(out != 0, weights.numpy(), 0.0))
    with tf.GradientTape() as tape:  # pooling alone: the gradient of TensorFlow's max pool
        tape.watch(x)
        ours = tf.reduce_sum(MaxPoolingWithArgmax2D()(x)[0] ** 2)
    with tf.GradientTape() as reference:
        reference.watch(x)
        theirs = tf.reduce_sum(tf.nn.max_pool2d(x, 2, 2, "VALID") ** 2)
    np.testing.assert_allclose(tape.gradient(ours, x), reference.gradient(theirs, x), rtol=1e-6)


def test_layers_in_a_functional_model_report_shapes_and_dtypes():
    inputs = keras.Input((8, 12, 4))
    values, indices = pool_with_indices(inputs, name="pool")
    assert tuple(values.shape) == (None, 4, 6, 4) and values.dtype == "float32"
    assert tuple(indices.shape) == (None, 4, 6, 4) and indices.dtype == "int32"
    out = unpool(values, indices, like=inputs, name="unpool")
    assert tuple(out.shape) == (None, 8, 12, 4)
    assert MaxUnpooling2D((8, 12)).compute_output_shape((None, 4, 6, 4)) == (None, 8, 12, 4)
    assert MaxPoolingWithArgmax2D(padding="same").compute_output_shape((None, 7, 5, 2))[0] == (None, 4, 3, 2)
    for layer in (MaxPoolingWithArgmax2D(3, "same"), MaxUnpooling2D((9, 9), 3)):
        assert type(layer).from_config(layer.get_config()).get_config() == layer.get_config()


def test_model_with_the_custom_layers_round_trips_through_a_keras_file(tmp_path):
    model = build("segnet", (16, 16, 3), 3, filters=(4, 8), depths=(1, 1))
    path = tmp_path / "segnet.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert isinstance(loaded.get_layer("encoder1_pool"), MaxPoolingWithArgmax2D)
    assert loaded.get_layer("decoder2_unpool").get_config() == model.get_layer("decoder2_unpool").get_config()
    x = RNG.normal(size=(2, 16, 16, 3)).astype(np.float32)
    np.testing.assert_allclose(_np(loaded(x)), _np(model(x)), rtol=1e-6)


# ----------------------------------------------------------------------------- builder


def test_segnet_output_is_a_per_pixel_softmax():
    model = build("segnet", (32, 32, 3), 5, filters=(4, 8, 8), depths=(1, 2, 1), dropout=0.2)
    out = _np(model(RNG.normal(size=(2, 32, 32, 3)).astype(np.float32), training=False))
    assert out.shape == (2, 32, 32, 5)
    np.testing.assert_allclose(out.sum(-1), 1.0, rtol=1e-5)
    names = [layer.name for layer in model.layers]
    assert "encoder3_dropout" in names and "decoder3_dropout" in names and "encoder1_dropout" not in names
    # the decoder narrows to the next stage's width: 8 -> 8 -> 4 maps, then the classifier
    assert model.get_layer("decoder2_conv2_conv").output.shape[-1] == 4
    assert model.get_layer("decoder1_conv1_conv").output.shape[-1] == 4


def test_segnet_rejects_sizes_it_cannot_unpool():
    with pytest.raises(ValueError, match=r"height divisible by 2\*\*3 = 8, got input_shape \(60, 64, 3\)"):
        build("segnet", (60, 64, 3), 4)
    with pytest.raises(ValueError, match="one entry per stage"):
        build("segnet", (64, 64, 3), 4, filters=(8, 16), depths=(1,))


# ----------------------------------------------------------------------------- shapes


def test_shapes_masks_agree_with_the_images():
    images, masks = make_shapes(40, 32, 3, noise=0.0, seed=3)
    assert images.shape == (40, 32, 32, 3) and images.dtype == np.uint8
    assert masks.shape == (40, 32, 32) and masks.dtype == np.int32
    assert set(np.unique(masks)) == set(range(len(SHAPE_CLASSES)))
    for image, mask in zip(images, masks, strict=True):
        background = image[mask == 0]
        assert len(background) and (background == background[0]).all()  # one plain colour
        foreground = image[mask > 0]
        assert len(foreground) and (np.abs(foreground.astype(int) - background[0]).sum(-1) > 0).all()


def test_shapes_are_deterministic_per_seed():
    load = DATASETS.get("shapes")
    first, again = load([], num_samples=6, size=16, seed=1), load([], num_samples=6, size=16, seed=1)
    other = load([], num_samples=6, size=16, seed=2)
    np.testing.assert_array_equal(first.x_train, again.x_train)
    np.testing.assert_array_equal(first.y_train, again.y_train)
    assert not np.array_equal(first.y_train, other.y_train)
    assert first.x_test is None and first.class_names == SHAPE_CLASSES
    with pytest.raises(DataError, match="max_shapes >= 1"):
        load([], max_shapes=0)


# ----------------------------------------------------------------------------- mask folders


def _write_pairs(base: Path, count: int, size=(8, 6), classes: int = 3, mask_size=None) -> None:
    from PIL import Image

    (base / "images").mkdir(parents=True)
    (base / "masks").mkdir(parents=True)
    for i in range(count):
        height, width = size
        Image.fromarray(RNG.integers(0, 256, (height, width, 3), dtype=np.uint8)).save(
            base / "images" / f"img{i}.png"
        )
        mh, mw = mask_size or size
        mask = (np.arange(mh * mw).reshape(mh, mw) + i) % classes
        Image.fromarray(mask.astype(np.uint8)).save(base / "masks" / f"img{i}.png")


def test_mask_folder_loads_pairs_and_class_names(tmp_path):
    _write_pairs(tmp_path, 4)
    (tmp_path / "classes.txt").write_text("sky\nroad\ncar\n")
    raw = DATASETS.get("mask_folder")([tmp_path])
    assert raw.x_train.shape == (4, 8, 6, 3) and raw.y_train.shape == (4, 8, 6)
    assert raw.class_names == ["sky", "road", "car"] and raw.x_test is None
    np.testing.assert_array_equal(raw.y_train[1], (np.arange(48).reshape(8, 6) + 1) % 3)
    resized = DATASETS.get("mask_folder")([tmp_path], image_size=(16, 12), class_names=["a", "b", "c"])
    assert resized.y_train.shape == (4, 16, 12) and set(np.unique(resized.y_train)) == {0, 1, 2}
    assert resized.class_names == ["a", "b", "c"]


def test_mask_folder_with_train_and_test(tmp_path):
    _write_pairs(tmp_path / "train", 3)
    _write_pairs(tmp_path / "test", 2)
    raw = DATASETS.get("mask_folder")([tmp_path / "missing", tmp_path])
    assert len(raw.y_train) == 3 and len(raw.y_test) == 2 and raw.class_names == ["0", "1", "2"]


def test_mask_folder_errors_are_clear(tmp_path):
    load = DATASETS.get("mask_folder")
    with pytest.raises(DataError, match="found no images/ or train/images/ folder in: .*Layout: images/"):
        load([tmp_path])
    _write_pairs(tmp_path / "a", 2)
    (tmp_path / "a" / "masks" / "img1.png").unlink()
    with pytest.raises(DataError, match=r"masks: no mask for 1 file\(s\) \(img1\)"):
        load([tmp_path / "a"])
    _write_pairs(tmp_path / "b", 2, mask_size=(4, 6))
    with pytest.raises(DataError, match="mask is 6x4 but its image img0.png is 6x8"):
        load([tmp_path / "b"])
    _write_pairs(tmp_path / "c", 1)
    _write_pairs(tmp_path / "c" / "more", 1, size=(10, 10))
    for folder in ("images", "masks"):
        (tmp_path / "c" / "more" / folder / "img0.png").rename(tmp_path / "c" / folder / "big.png")
    with pytest.raises(DataError, match="images differ in size .*set data.image_size"):
        load([tmp_path / "c"])
    _write_pairs(tmp_path / "d", 1, classes=5)
    with pytest.raises(DataError, match="masks hold class id 4 but data.options.class_names names only 2"):
        load([tmp_path / "d"], class_names=["a", "b"])
    from PIL import Image

    Image.new("RGB", (6, 8)).save(tmp_path / "d" / "masks" / "img0.png")
    with pytest.raises(DataError, match="single-channel image of class ids .* got mode RGB"):
        load([tmp_path / "d"])
    (tmp_path / "e" / "train" / "images").mkdir(parents=True)
    with pytest.raises(DataError, match="missing folder masks/"):
        load([tmp_path / "e"])


# ----------------------------------------------------------------------------- training


def _segment_recipe():
    options = {"num_samples": 48, "size": 16, "max_shapes": 2}
    recipe = tiny_recipe(
        task={"name": "segment"},
        data={"dataset": "shapes", "batch_size": 8, "validation_split": 0.0, "options": options},
        train={"epochs": 1},
    )
    recipe["model"] = {"name": "segnet", "filters": [4, 8], "depths": [1, 1]}
    return validate(recipe, "t")


def test_a_tiny_segment_run_reports_mean_iou_and_pixel_accuracy():
    from kerasnets.train.loop import run

    result = run(_segment_recipe(), echo=lambda _: None)
    assert 0.0 <= result.metrics["test_mean_iou"] <= 1.0
    assert 0.0 <= result.metrics["test_pixel_accuracy"] <= 1.0
    assert result.model.output_shape == (None, 16, 16, 4)


def test_segmentation_figure_colours_the_classes():
    import matplotlib.pyplot as plt

    from kerasnets.train.tasks import TASKS

    task = TASKS.get("segment")(_segment_recipe())
    images, masks = make_shapes(3, 16, 2, 0.0, 0)
    task.predictions = masks
    splits = type("S", (), {"x_test": images, "y_test": masks, "class_names": SHAPE_CLASSES})
    [(draw, args, name)] = task.figures(None, splits)
    figure = draw(*args)
    assert name == "segmentation.png" and "circle blue" in figure._suptitle.get_text()
    plt.close(figure)


@pytest.mark.slow
def test_shapes_segnet_recipe_runs_one_epoch():
    from kerasnets.train.loop import run

    recipe = load_recipe(
        ROOT / "recipes" / "shapes_segnet.yaml",
        ["train.epochs=1", "train.verbose=0", "data.limit=64", "tracking.enabled=false"],
    )
    result = run(recipe, echo=lambda _: None)
    assert {"test_mean_iou", "test_pixel_accuracy", "test_loss"} <= set(result.metrics)

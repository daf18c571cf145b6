"""Grad-CAM, guided Grad-CAM and gradients of a layer's channel: exact answers on hand-made
models, and a small classifier trained on one-shape images whose Grad-CAM lands on the shape."""

from __future__ import annotations

import numpy as np
import pytest


def _two_detectors():
    """8x8x1 input; conv channel 0 = relu(x) (bright), channel 1 = relu(-x) (dark); the class
    scores are their spatial means (class 0 bright, class 1 dark), via GAP and an identity."""
    import keras

    inputs = keras.Input((8, 8, 1), name="image")
    conv = keras.layers.Conv2D(2, 1, activation="relu", name="conv")
    x = keras.layers.GlobalAveragePooling2D(name="gap")(conv(inputs))
    dense = keras.layers.Dense(2, activation="softmax", name="predictions")
    model = keras.Model(inputs, dense(x))
    conv.set_weights([np.array([1.0, -1.0]).reshape(1, 1, 1, 2), np.zeros(2)])
    dense.set_weights([np.eye(2), np.zeros(2)])
    return model


def _bright_and_dark() -> np.ndarray:
    image = np.zeros((1, 8, 8, 1), np.float32)
    image[0, 1:4, 4:7] = 1.0  # bright patch, top right
    image[0, 5:7, 0:3] = -1.0  # dark patch, bottom left
    return image


@pytest.mark.parametrize(
    ("klass", "rows", "cols"), [(0, slice(1, 4), slice(4, 7)), (1, slice(5, 7), slice(0, 3))]
)
def test_grad_cam_lights_up_exactly_where_the_class_channel_fires(klass, rows, cols):
    from kerasnets.explain import graph

    model = _two_detectors()
    image = _bright_and_dark()
    assert graph.cam_layer(model) == "conv"
    cam = graph.grad_cam(model, "conv", image, np.array([klass]))[0]
    inside = np.zeros((8, 8), bool)
    inside[rows, cols] = True
    np.testing.assert_allclose(cam[inside], 1 / 64, rtol=1e-5)  # alpha = 1/64, map = 1
    assert np.all(cam[~inside] == 0)


def test_guided_grad_cam_is_zero_outside_the_class_region():
    from kerasnets.explain import graph
    from kerasnets.explain.cam import cams

    model = _two_detectors()
    image = _bright_and_dark()
    _, maps = cams(model, None, image, np.array([0]))
    assert maps.max() == pytest.approx(1.0)
    guided = graph.input_gradients(graph.score_model(model, guided=True), image, np.array([0]))
    product = guided[..., 0] * maps
    assert np.all(product[0, 1:4, 4:7] > 0)
    product[0, 1:4, 4:7] = 0
    assert np.all(product == 0)


def test_grad_cam_defaults_to_the_last_convolution_or_the_block_holding_it():
    from test_explain import _branched_model

    from kerasnets.explain import NotApplicable, graph

    model = _branched_model()
    assert graph.cam_layer(model) == "block"  # last conv is block/conv
    assert graph.cam_layer(model, "b_conv") == "b_conv"
    assert graph.cam_layer(model, "block") == "block"
    with pytest.raises(NotApplicable, match="'block/conv' is inside block 'block' \\(use --layer block\\)"):
        graph.cam_layer(model, "block/conv")
    with pytest.raises(NotApplicable, match="needs spatial"):
        graph.cam_layer(model, "gap")
    cam = graph.grad_cam(
        model, "block", np.random.default_rng(0).normal(size=(2, 16, 16, 3)), np.array([0, 2])
    )
    assert cam.shape == (2, 16, 16) and cam.min() >= 0  # upsampled from 8x8


def test_saliency_of_a_layer_channel_is_the_gradient_of_its_mean_activation(tmp_path):
    import keras

    from kerasnets.explain import graph
    from kerasnets.explain.runner import explain_model

    inputs = keras.Input((8, 8, 1))
    conv = keras.layers.Conv2D(2, 1, name="conv")  # linear: channel c = w_c * x
    x = keras.layers.GlobalAveragePooling2D()(conv(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, activation="softmax", name="predictions")(x))
    conv.set_weights([np.array([1.0, 2.0]).reshape(1, 1, 1, 2), np.zeros(2)])
    images = np.random.default_rng(0).normal(size=(2, 8, 8, 1)).astype(np.float32)
    np.testing.assert_allclose(graph.channel_gradients(model, "conv", images, 1), 2 / 64, rtol=1e-5)
    np.testing.assert_allclose(graph.channel_gradients(model, "conv", images, 0), 1 / 64, rtol=1e-5)

    class Splits:  # the few fields the gradient explainers read
        x_test = (np.random.default_rng(1).uniform(0, 255, size=(6, 8, 8, 1))).astype(np.uint8)
        y_test = np.array([0, 1, 0, 1, 0, 1])
        class_names = ["a", "b"]

        @staticmethod
        def normalize(x):
            return x.astype(np.float32) / 255.0

    steps = [{"saliency": {"layer": "conv", "channels": [0, 1]}}, {"guided-backprop": {"layer": "conv"}}]
    written = explain_model(model, Splits, steps, tmp_path, {"images": 2}, echo=lambda _: None)
    assert [p.name for p in written["saliency"]] == ["saliency.png"]
    assert written["guided-backprop"][0].exists()
    from kerasnets.explain import NotApplicable

    with pytest.raises(NotApplicable, match="channel 5 out of range \\(conv has 2\\)"):
        explain_model(model, Splits, [{"saliency": {"layer": "conv", "channels": [5]}}], tmp_path)


def _one_shape_data(count: int, size: int, seed: int):
    """Images with ONE shape each (the ``shapes`` drawing code), labelled by its kind
    (0 circle, 1 square, 2 triangle), and the shape masks. The input is the per-pixel
    distance from the background colour (grey, 0..2): the kind is then a matter of outline."""
    from kerasnets.data.segmentation import make_shapes

    images, masks = make_shapes(count, size, 1, 8.0, seed)
    labels = masks.reshape(count, -1).max(-1) - 1
    x = images.astype(np.float32)
    x = np.abs(x - x[:, :1, :1]).max(-1, keepdims=True) / 128.0
    return x, labels, masks > 0


def test_grad_cam_of_a_trained_shape_classifier_lies_on_the_shape():
    """8-23 s on 2 busy cores: a two-stage CNN trained 12 epochs on 1,500 one-shape images
    (about 65% test accuracy, chance 33%); per image, the mean Grad-CAM inside the shape
    mask against outside it."""
    import keras

    from kerasnets.explain.cam import cams

    size, train = 32, 1500
    x, labels, inside = _one_shape_data(train + 100, size, seed=0)
    inputs = keras.Input((size, size, 1))
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(inputs)
    h = keras.layers.Conv2D(16, 3, padding="same", activation="relu")(h)
    h = keras.layers.MaxPooling2D(2)(h)
    h = keras.layers.Conv2D(32, 3, padding="same", activation="relu", name="last")(h)
    h = keras.layers.GlobalAveragePooling2D()(h)
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(h))
    model.compile(keras.optimizers.Adam(2e-3), "sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x[:train], labels[:train], epochs=12, batch_size=32, verbose=0)
    accuracy = model.evaluate(x[train:], labels[train:], verbose=0)[1]
    assert accuracy > 0.45, accuracy  # it learned something about the shapes
    layer, maps = cams(model, None, x[train:], labels[train:])
    assert layer == "last"
    test_masks = inside[train:]
    mass_in = np.array([m[k].mean() for m, k in zip(maps, test_masks, strict=True)])
    mass_out = np.array([m[~k].mean() for m, k in zip(maps, test_masks, strict=True)])
    assert mass_in.mean() > 3 * mass_out.mean(), (mass_in.mean(), mass_out.mean())
    assert (mass_in > mass_out).mean() > 0.75

"""Issue 16, item 2: the lectures' blocks reachable from LeNet-5, AlexNet, ZFNet and VGG:
maxout and leaky ReLU activations, L2/Lp and cross-channel max pooling, ``full`` padding.
Counts are computed by hand from the layer sizes; defaults keep their reference counts."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from scipy.signal import correlate2d

from kerasnets import catalog
from kerasnets.blocks import LpPooling2D, conv, conv_act, pool
from kerasnets.errors import RecipeError
from kerasnets.models import build
from kerasnets.recipe import validate


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session(free_memory=False)


def _all_but_output_doubled(default: keras.Model, variant: keras.Model, output: str) -> int:
    """Every layer feeding a maxout makes twice its kernel and bias; the output layer does not."""
    head = default.get_layer(output).count_params()
    assert variant.get_layer(output).count_params() == head
    return 2 * (default.count_params() - head) + head


def test_lenet5_defaults_keep_the_reference_count():
    assert build("lenet5", (32, 32, 1), 10).count_params() == 61_706


def test_lenet5_maxout_doubles_every_layer_feeding_a_maxout():
    model = build("lenet5", (32, 32, 1), 10, activation="maxout")
    # C1 5*5*1*12+12, C3 5*5*6*32+32, C5 5*5*16*240+240, F6 maxout 120*(84*2)+168, output 850
    assert model.count_params() == 312 + 4_832 + 96_240 + 20_328 + 850 == 122_562
    assert model.get_layer("c1").kernel.shape == (5, 5, 1, 12)
    assert model.get_layer("c1_maxout").output.shape[-1] == 6  # the max over pairs: the paper's width
    assert model.get_layer("f6").output.shape[-1] == 84


def test_lenet5_cross_channel_pooling_widens_the_convolutions_before_it():
    model = build("lenet5", (32, 32, 1), 10, pooling="cross_channel_max")
    # C1 makes 12 maps and C3 32; the pools take the max over 2x2 windows and channel pairs
    assert model.count_params() == 312 + 4_832 + 48_120 + 10_164 + 850 == 64_278
    assert model.get_layer("s2_channels").output.shape[1:] == (14, 14, 6)
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 4)).astype("float32")
    inputs = keras.Input((4, 4, 4))
    out = keras.Model(inputs, pool(inputs, "cross_channel_max", 2, name="p"))(x).numpy()
    expected = x.reshape(1, 2, 2, 2, 2, 2, 2).max(axis=(2, 4, 6))  # windows, then channel pairs
    np.testing.assert_allclose(out, expected, rtol=1e-6)


def test_full_padding_is_the_full_correlation():
    """``full``: f - 1 zeros on each side, output n + f - 1 (seed 000)."""
    rng = np.random.default_rng(0)
    image, kernel = rng.normal(size=(6, 6)).astype("float32"), rng.normal(size=(3, 3)).astype("float32")
    inputs = keras.Input((6, 6, 1))
    model = keras.Model(inputs, conv(inputs, 1, 3, padding="full", use_bias=False, name="c"))
    model.get_layer("c").set_weights([kernel[:, :, None, None]])
    out = model(image[None, :, :, None]).numpy()[0, :, :, 0]
    assert out.shape == (8, 8)
    np.testing.assert_allclose(out, correlate2d(image, kernel, mode="full"), rtol=1e-5, atol=1e-5)
    lenet = build("lenet5", (32, 32, 1), 10, padding="full")
    assert lenet.get_layer("c1").output.shape[1:] == (36, 36, 6)  # 32 + 5 - 1


def test_leaky_relu_takes_the_builder_slope():
    inputs = keras.Input((4, 4, 1))
    outputs = conv_act(inputs, 1, 1, activation="leaky_relu", leaky_slope=0.1, use_bias=False, name="c")
    model = keras.Model(inputs, outputs)
    model.get_layer("c").set_weights([np.ones((1, 1, 1, 1), "float32")])
    x = np.linspace(-2, 2, 16, dtype="float32").reshape(1, 4, 4, 1)
    np.testing.assert_allclose(model(x).numpy(), np.where(x > 0, x, 0.1 * x), rtol=1e-6)
    lenet = build("lenet5", (32, 32, 1), 10, activation="leaky_relu")  # default slope: the lectures' 0.1
    assert {lenet.get_layer(n).negative_slope for n in ("c1_leaky_relu", "f6_leaky_relu")} == {0.1}
    vgg = build("vgg11", (32, 32, 3), 10, head="gap", fc_units=8, activation="leaky_relu", leaky_slope=0.2)
    assert vgg.get_layer("block1_conv1_leaky_relu").negative_slope == 0.2
    assert vgg.get_layer("head_fc1_leaky_relu").negative_slope == 0.2


@pytest.mark.parametrize("name", ["alexnet", "zfnet"])
@pytest.mark.parametrize(("pooling", "layer"), [("l2", LpPooling2D), ("lp", LpPooling2D), ("avg", None)])
def test_alexnet_and_zfnet_pooling_options_keep_the_count(name, pooling, layer):
    default = build(name, (64, 64, 3), 10, dropout=0.0)
    model = build(name, (64, 64, 3), 10, dropout=0.0, pooling=pooling, pool_p=3.0)
    assert model.count_params() == default.count_params()
    pools = [model.get_layer(f"pool{i}") for i in (1, 2, 3)]
    expected = layer or keras.layers.AveragePooling2D
    assert all(isinstance(p, expected) for p in pools)
    if pooling != "avg":
        assert {p.p for p in pools} == {2.0 if pooling == "l2" else 3.0}
    assert model.output_shape == default.output_shape


def test_alexnet_maxout_and_padding_options():
    default = build("alexnet", (64, 64, 3), 10)
    maxout = build("alexnet", (64, 64, 3), 10, activation="maxout")
    assert maxout.count_params() == _all_but_output_doubled(default, maxout, "head_predictions")
    assert maxout.get_layer("conv1").kernel.shape == (11, 11, 3, 192)
    full = build("alexnet", (64, 64, 3), 10, padding="full")
    assert full.get_layer("conv1").output.shape[1:3] == ((64 + 20 - 11) // 4 + 1,) * 2  # pad 10 per side
    assert build("zfnet", (96, 96, 3), 10, padding="same").get_layer("conv2").output.shape[1] == 12


def test_vgg_maxout_cross_channel_and_padding():
    options = {"head": "gap", "fc_units": 16}
    default = build("vgg11", (32, 32, 3), 10, **options)
    maxout = build("vgg11", (32, 32, 3), 10, activation="maxout", **options)
    assert maxout.count_params() == _all_but_output_doubled(default, maxout, "head_predictions")
    crossed = build("vgg11_lrn", (32, 32, 3), 10, pooling="cross_channel_max", **options)
    # A-LRN's first stage is conv3-64 then LRN: the conv before the pool makes 128 maps
    assert crossed.get_layer("block1_conv1").kernel.shape == (3, 3, 3, 128)
    assert crossed.get_layer("block1_pool_channels").output.shape[-1] == 64
    valid = build("vgg11", (160, 160, 3), 10, padding="valid", **options)  # 150 at least
    assert valid.get_layer("block1_conv1").output.shape[1] == 158
    bn = build("vgg11", (32, 32, 3), 10, batch_norm=True, activation="maxout", **options)
    assert bn.get_layer("block1_conv1_maxout").output.shape[-1] == 64


def test_catalog_lists_the_new_choices_without_keras():
    problems = catalog.check_model_options("vgg16", {"pooling": "l3", "padding": "circular"})
    text = " ".join(message for _, message, _ in problems)
    for choice in ("'l2'", "'lp'", "'cross_channel_max'", "'full'"):
        assert choice in text
    assert catalog.check_model_options("alexnet", {"activation": "maxout", "padding": "paper"}) == []


@pytest.mark.parametrize(
    ("model", "key", "words"),
    [
        ({"name": "lenet5", "leaky_slope": 0.1}, "model.leaky_slope", "leaky_relu only"),
        ({"name": "lenet5", "activation": "leaky_relu", "leaky_slope": 1.5}, "model.leaky_slope", "0 to 1"),
        ({"name": "vgg11", "pool_p": 4.0}, "model.pool_p", "pooling lp only"),
        ({"name": "alexnet", "pooling": "lp", "pool_p": 0.5}, "model.pool_p", "p >= 1"),
    ],
)
def test_block_options_that_only_work_together(model, key, words):
    with pytest.raises(RecipeError) as err:
        validate({"model": model}, "r.yaml")
    assert any(p.key == key and words in p.message for p in err.value.problems), err.value.render()

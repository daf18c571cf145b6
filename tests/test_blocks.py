"""Blocks: output shapes and hand-computed parameter counts; custom layers: numerics against
numpy on tiny tensors and a ``.keras`` round trip loaded with ``safe_mode=True``."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from kerasnets import blocks
from kerasnets.blocks import (
    ATTENTION,
    CUSTOM_LAYERS,
    CrossChannelMaxPooling,
    DropPath,
    LocalResponseNormalization,
    LpPooling2D,
    Maxout,
    MaxPoolingWithArgmax2D,
    MaxUnpooling2D,
    ZeroPadChannels,
)


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session(free_memory=False)  # gc.collect() would cost 0.2 s a test


def _model(fn, input_shape, **kwargs) -> keras.Model:
    inputs = keras.Input(shape=input_shape)
    return keras.Model(inputs, fn(inputs, **kwargs))


def _rand(*shape: int) -> np.ndarray:
    return np.random.default_rng(0).normal(size=shape).astype("float32")


# ----------------------------------------------------------------------------- numerics


def test_lrn_matches_the_paper_formula():
    x = _rand(2, 3, 3, 7)
    layer = LocalResponseNormalization(size=5, alpha=0.1, beta=0.75, k=2.0)
    expected = np.empty_like(x)
    for c in range(7):
        lo, hi = max(0, c - 2), min(6, c + 2)  # window of 5 channels centred on c, clipped
        energy = (x[..., lo : hi + 1] ** 2).sum(axis=-1)
        expected[..., c] = x[..., c] / (2.0 + 0.1 * energy) ** 0.75
    np.testing.assert_allclose(keras.ops.convert_to_numpy(layer(x)), expected, rtol=1e-5, atol=1e-6)


def test_lrn_matches_tensorflow():
    import tensorflow as tf

    x = _rand(1, 4, 4, 9)
    ours = LocalResponseNormalization(size=5, alpha=1e-2, beta=0.75, k=2.0)(x)
    reference = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-2, beta=0.75)
    np.testing.assert_allclose(keras.ops.convert_to_numpy(ours), reference.numpy(), rtol=1e-5)


@pytest.mark.parametrize("p", [1.0, 2.0, 3.0])
def test_lp_pooling_valid_matches_numpy(p):
    x = _rand(2, 4, 6, 3)
    out = keras.ops.convert_to_numpy(LpPooling2D(p=p, pool_size=2)(x))
    windows = x.reshape(2, 2, 2, 3, 2, 3).transpose(0, 1, 3, 5, 2, 4)  # (b, i, j, c, 2, 2)
    expected = (np.abs(windows) ** p).sum(axis=(-1, -2)) ** (1 / p)
    assert out.shape == (2, 2, 3, 3)
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_lp_pooling_same_padding_sums_only_the_valid_part():
    x = np.arange(1, 10, dtype="float32").reshape(1, 3, 3, 1)
    out = keras.ops.convert_to_numpy(LpPooling2D(p=2, pool_size=2, padding="same")(x))[0, ..., 0]
    # TF "same": 3 -> 2 outputs, the extra zero row/column at the end.
    expected = np.sqrt([[1 + 4 + 16 + 25, 9 + 36], [49 + 64, 81]])
    np.testing.assert_allclose(out, expected, rtol=1e-5)


def test_lp_pooling_with_large_p_tends_to_max_pooling():
    x = np.abs(_rand(1, 4, 4, 2)) + 0.1
    lp = keras.ops.convert_to_numpy(LpPooling2D(p=64, pool_size=2)(x))
    mx = keras.ops.convert_to_numpy(keras.layers.MaxPooling2D(2)(x))
    np.testing.assert_allclose(lp, mx, rtol=0.05)


def test_cross_channel_max_pooling_takes_the_max_of_adjacent_channels():
    x = _rand(2, 3, 3, 6)
    out = keras.ops.convert_to_numpy(CrossChannelMaxPooling(3)(x))
    expected = np.stack([x[..., 0:3].max(-1), x[..., 3:6].max(-1)], axis=-1)
    np.testing.assert_allclose(out, expected)


def test_cross_channel_max_pooling_rejects_indivisible_channels():
    with pytest.raises(ValueError, match="groups of 4"):
        CrossChannelMaxPooling(4)(keras.Input(shape=(3, 3, 6)))


def test_maxout_is_the_max_of_affine_pieces():
    x = _rand(4, 5)
    layer = Maxout(3, pieces=2)
    out = keras.ops.convert_to_numpy(layer(x))
    kernel, bias = (keras.ops.convert_to_numpy(w) for w in layer.weights)
    z = x @ kernel + bias  # columns 2u, 2u+1 are the two pieces of unit u
    np.testing.assert_allclose(out, np.maximum(z[:, 0::2], z[:, 1::2]), rtol=1e-5)
    assert layer.count_params() == 5 * 6 + 6


def test_zero_pad_channels_appends_zero_maps():
    x = _rand(1, 2, 2, 3)
    out = keras.ops.convert_to_numpy(ZeroPadChannels(1, 2)(x))
    assert out.shape == (1, 2, 2, 6)
    np.testing.assert_array_equal(out[..., 1:4], x)
    assert not out[..., [0, 4, 5]].any()


# ----------------------------------------------------------------------------- serialisation

LAYER_CASES = {
    LocalResponseNormalization: ({"size": 3, "alpha": 0.01, "beta": 0.5, "k": 1.0}, (4, 4, 6)),
    LpPooling2D: ({"p": 3.0, "pool_size": 2, "strides": 1, "padding": "same"}, (4, 4, 3)),
    CrossChannelMaxPooling: ({"pieces": 2}, (4, 4, 6)),
    Maxout: ({"units": 4, "pieces": 3}, (7,)),
    ZeroPadChannels: ({"before": 1, "after": 2}, (4, 4, 3)),
    DropPath: ({"rate": 0.3, "seed": 3}, (4, 4, 3)),  # the identity at inference
}


#: Layers with two inputs or outputs: tests/test_segnet.py round-trips a model holding both.
MULTI_TENSOR_LAYERS = {MaxPoolingWithArgmax2D, MaxUnpooling2D}


def test_every_custom_layer_has_a_round_trip_case():
    assert set(LAYER_CASES) | MULTI_TENSOR_LAYERS == set(CUSTOM_LAYERS)


@pytest.mark.parametrize(
    "cls", [c for c in CUSTOM_LAYERS if c not in MULTI_TENSOR_LAYERS], ids=lambda c: c.__name__
)
def test_custom_layer_round_trips_through_keras_file(cls, tmp_path):
    kwargs, shape = LAYER_CASES[cls]
    inputs = keras.Input(shape=shape)
    model = keras.Model(inputs, cls(**kwargs, name="custom")(inputs))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    assert type(loaded.get_layer("custom")) is cls
    assert loaded.get_layer("custom").get_config() == model.get_layer("custom").get_config()
    x = np.abs(_rand(2, *shape))
    np.testing.assert_array_equal(keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)))


# ----------------------------------------------------------------------------- block shapes and counts


def test_squeeze_excite_shape_and_count():
    model = _model(blocks.squeeze_excite, (8, 8, 32), name="se")
    assert model.output.shape == (None, 8, 8, 32)
    assert model.count_params() == (32 * 2 + 2) + (2 * 32 + 32)  # C -> C/16 -> C
    assert ATTENTION.get("se") is blocks.squeeze_excite


def test_inception_module_3a_widths():
    model = _model(blocks.inception_module, (8, 8, 192), widths=(64, 96, 128, 16, 32, 32), name="m")
    assert model.output.shape == (None, 8, 8, 256)
    kernels = {w.path.split("/")[0]: int(np.prod(w.shape)) for w in model.weights if w.name == "kernel"}
    assert kernels == {
        "m_1x1": 192 * 64,
        "m_3x3_reduce": 192 * 96,
        "m_3x3": 9 * 96 * 128,
        "m_5x5_reduce": 192 * 16,
        "m_5x5": 25 * 16 * 32,
        "m_pool_proj": 192 * 32,
    }
    weights = sum(kernels.values())
    assert weights // 1024 == 159  # Table 1: 159K (in units of 1024)
    assert model.count_params() == weights + (64 + 96 + 128 + 16 + 32 + 32)
    assert model.output.name.startswith("m_concat") or model.layers[-1].name == "m_concat"


def test_naive_inception_module_passes_the_input_through_the_pool_branch():
    model = _model(
        blocks.inception_module, (8, 8, 192), widths=(64, 96, 128, 16, 32, 32), name="m", naive=True
    )
    assert model.output.shape == (None, 8, 8, 64 + 128 + 32 + 192)
    assert model.count_params() == (192 * 64 + 64) + (9 * 192 * 128 + 128) + (25 * 192 * 32 + 32)


def test_aux_classifier_shape_and_count():
    model = _model(blocks.aux_classifier, (14, 14, 512), num_classes=10, name="aux1")
    assert model.output.shape == (None, 10)
    assert model.layers[-1].name == "aux1_predictions"
    # 5x5/3 pool -> 4x4x512; conv 1x1 128; FC 1024; output
    assert model.count_params() == (512 * 128 + 128) + (4 * 4 * 128 * 1024 + 1024) + (1024 * 10 + 10)


@pytest.mark.parametrize(
    ("shortcut", "expected"),
    [("B", 4608 + 128 + 9216 + 128 + 512 + 128), ("A", 4608 + 128 + 9216 + 128)],
)
def test_basic_block_downsampling_shortcuts(shortcut, expected):
    model = _model(blocks.basic_block, (8, 8, 16), filters=32, strides=2, shortcut=shortcut, name="b")
    assert model.output.shape == (None, 4, 4, 32)
    assert model.count_params() == expected
    names = {layer.name for layer in model.layers}
    assert ("b_0_conv" in names) == (shortcut == "B")
    assert ("b_0_pad" in names) == (shortcut == "A")


@pytest.mark.parametrize("preact", [False, True])
def test_plain_block_has_no_shortcut_and_the_same_weights(preact):
    kwargs = {"filters": 32, "strides": 2, "preact": preact, "name": "b"}
    plain = _model(blocks.basic_block, (8, 8, 16), shortcut="none", **kwargs)
    residual = _model(blocks.basic_block, (8, 8, 16), shortcut="A", **kwargs)
    names = {layer.name for layer in plain.layers}
    assert not names & {"b_add", "b_0_pad", "b_0_subsample", "b_0_conv"}
    assert plain.output.shape == residual.output.shape == (None, 4, 4, 32)
    assert plain.count_params() == residual.count_params()
    # The same weights give a different function: the residual one adds the padded input.
    plain.set_weights(residual.get_weights())
    x = _rand(2, 8, 8, 16)
    assert not np.allclose(plain(x), residual(x))


def test_plain_identity_block_is_the_branch_alone():
    x = _rand(2, 8, 8, 16)
    plain = _model(blocks.basic_block, (8, 8, 16), filters=16, shortcut="none", name="b")
    residual = _model(blocks.basic_block, (8, 8, 16), filters=16, shortcut="A", name="b")
    residual.set_weights(plain.get_weights())
    branch = keras.Model(residual.input, residual.get_layer("b_2_bn").output)
    np.testing.assert_allclose(plain(x), keras.ops.relu(branch(x)), atol=1e-6)
    np.testing.assert_allclose(residual(x), keras.ops.relu(branch(x) + x), atol=1e-5)


def test_bottleneck_block_with_projection_and_se():
    plain = _model(blocks.bottleneck_block, (8, 8, 64), filters=64, name="b")
    assert plain.output.shape == (None, 8, 8, 256)
    convs = 64 * 64 + 9 * 64 * 64 + 64 * 256 + 64 * 256  # 1x1, 3x3, 1x1 expand, projection
    bns = 4 * (64 + 64 + 256 + 256)
    assert plain.count_params() == convs + bns
    se = _model(blocks.bottleneck_block, (8, 8, 64), filters=64, name="b", attention="se")
    assert se.count_params() - plain.count_params() == (256 * 16 + 16) + (16 * 256 + 256)
    assert "b_se_scale" in {layer.name for layer in se.layers}


def test_preactivation_basic_block_identity():
    model = _model(blocks.basic_block, (8, 8, 16), filters=16, preact=True, name="b")
    assert model.output.shape == (None, 8, 8, 16)
    assert model.count_params() == 4 * 16 + 9 * 16 * 16 + 4 * 16 + 9 * 16 * 16
    assert model.layers[-1].name == "b_add"  # v2: nothing after the addition


def test_conv_bias_adds_one_bias_per_filter():
    model = _model(blocks.basic_block, (8, 8, 16), filters=16, conv_bias=True, name="b")
    assert model.count_params() == 2 * (9 * 16 * 16 + 16 + 4 * 16)


def test_residual_stage_strides_only_its_first_block():
    model = _model(blocks.residual_stage, (8, 8, 16), block="basic", filters=32, depth=3, strides=2, name="s")
    assert model.output.shape == (None, 4, 4, 32)
    assert {"s_block1_add", "s_block3_add"} <= {layer.name for layer in model.layers}


@pytest.mark.parametrize(
    ("shortcut", "expected"),
    [("B", 3 * 8 * 16 + 64 + 3 * 16 * 16 + 64 + 8 * 16 + 64), ("A", 3 * 8 * 16 + 64 + 3 * 16 * 16 + 64)],
)
def test_basic_block_rank_1_convolves_over_time(shortcut, expected):
    model = _model(blocks.basic_block, (16, 8), filters=16, strides=2, shortcut=shortcut, rank=1, name="b")
    assert model.output.shape == (None, 8, 16)  # 16 steps of 8 features -> 8 steps of 16 maps
    assert model.count_params() == expected  # kernel 3 over time: 3*C_in*C_out, BN 4 per map
    layers = {layer.name: layer for layer in model.layers}
    assert isinstance(layers["b_1_conv"], keras.layers.Conv1D)
    if shortcut == "A":
        assert isinstance(layers["b_0_subsample"], keras.layers.MaxPooling1D)
    else:
        assert isinstance(layers["b_0_conv"], keras.layers.Conv1D)


def test_rank_1_preactivation_block_with_wide_kernel_and_se():
    model = _model(
        blocks.basic_block, (10, 8), filters=8, kernel_size=5, preact=True, attention="se", rank=1, name="b"
    )
    assert model.output.shape == (None, 10, 8)
    se = (8 * 1 + 1) + (1 * 8 + 8)  # C -> max(1, C/16) -> C
    assert model.count_params() == 2 * (4 * 8 + 5 * 8 * 8) + se
    assert model.get_layer("b_1_conv").kernel_size == (5,)


def test_rank_1_bottleneck_block_and_stage():
    model = _model(blocks.bottleneck_block, (10, 16), filters=4, rank=1, name="b")
    assert model.output.shape == (None, 10, 16)  # 4 * expansion = 16 maps: identity shortcut
    assert model.count_params() == (16 * 4 + 16) + (3 * 4 * 4 + 16) + (4 * 16 + 64)
    stage = _model(
        blocks.residual_stage, (16, 8), block="basic", filters=16, depth=2, strides=2, rank=1, name="s"
    )
    assert stage.output.shape == (None, 8, 16)
    assert {"s_block1_add", "s_block2_add"} <= {layer.name for layer in stage.layers}


def test_rank_must_match_the_input():
    with pytest.raises(ValueError, match=r"rank=1 expects inputs \(batch, 1 spatial axes, channels\)"):
        _model(blocks.basic_block, (8, 8, 4), filters=4, rank=1, name="b")


def test_dense_block_and_transition():
    model = _model(blocks.dense_block, (8, 8, 24), layers=2, growth_rate=12, name="d")
    assert model.output.shape == (None, 8, 8, 48)
    layer1 = 4 * 24 + 24 * 48 + 4 * 48 + 9 * 48 * 12
    layer2 = 4 * 36 + 36 * 48 + 4 * 48 + 9 * 48 * 12
    assert model.count_params() == layer1 + layer2
    transition = _model(blocks.transition_block, (8, 8, 48), name="t")
    assert transition.output.shape == (None, 4, 4, 24)
    assert transition.count_params() == 4 * 48 + 48 * 24


def test_heads():
    gap = _model(
        blocks.classifier_head, (7, 7, 512), num_classes=10, pooling="avg", hidden=(64,), dropout=0.5
    )
    assert gap.output.shape == (None, 10)
    assert gap.count_params() == (512 * 64 + 64) + (64 * 10 + 10)
    nin = _model(blocks.nin_head, (8, 8, 192), num_classes=10)
    assert nin.output.shape == (None, 10)
    assert nin.count_params() == 192 * 10 + 10
    probs = keras.ops.convert_to_numpy(nin(_rand(2, 8, 8, 192)))
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)


def test_mlpconv_shape_and_count():
    model = _model(blocks.mlpconv, (8, 8, 3), filters=(192, 160, 96), kernel_size=5, name="m")
    assert model.output.shape == (None, 8, 8, 96)
    assert model.count_params() == (25 * 3 * 192 + 192) + (192 * 160 + 160) + (160 * 96 + 96)


def test_parameter_free_layers_and_maxout_count():
    x = keras.Input(shape=(8, 8, 6))
    assert blocks.local_response_norm(x, name="n").shape == (None, 8, 8, 6)
    assert blocks.lp_pool(x, name="p").shape == (None, 4, 4, 6)
    assert blocks.cross_channel_max_pool(x, 2, name="c").shape == (None, 8, 8, 3)
    model = _model(blocks.maxout, (5,), units=4, pieces=3, name="m")
    assert model.output.shape == (None, 4)
    assert model.count_params() == 5 * 12 + 12

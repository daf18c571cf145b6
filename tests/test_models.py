"""The model zoo, enumerated from the registry: every builder builds small and runs; reference
parameter counts from the registration metadata; architecture facts from the seed tables."""

from __future__ import annotations

import re

import keras
import numpy as np
import pytest

from kerasnets.models import MODELS, build, check_model_options, model_options, model_tasks, names
from kerasnets.models.summary import format_text, summarize, summary, summary_table, to_rich_table
from kerasnets.recipe import TASK_NAMES

NAMES = names()
#: Builders whose output is one softmax over classes (the others have tests of their own).
CLASSIFIERS = [n for n in NAMES if set(model_tasks(n)) & {"classify", "sequence"}]
#: Full-size reference builds above this many parameters go to the slow suite.
FAST_LIMIT = 30_000_000
#: Deep graphs whose every build takes seconds (ResNet-1202: 4,210 layers, 13 s on 2 CPU cores).
DEEP = {"resnet1202"}


def _slow(name: str) -> list:
    """The slow mark for a full-size build over ``FAST_LIMIT`` parameters or a ``DEEP`` graph."""
    return [pytest.mark.slow] if (MODELS.meta(name).get("params") or 0) > FAST_LIMIT or name in DEEP else []


#: A citation: capitalised surnames ("Elman", "Simonyan & Zisserman", "Krizhevsky, Sutskever,
#: Hinton", "He et al.") directly followed by a year, bare or in brackets.
_SURNAME = r"\b(?!(?:Table|Figure|Section)\b)[A-Z][A-Za-z'-]+"
CITATION = re.compile(rf"{_SURNAME}(?:(?:,| and| &) {_SURNAME})*(?: et al\.)?,? \(?(?:19|20)\d\d\b")


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session(free_memory=False)  # gc.collect() would cost 0.2 s a test


def _reference(name: str, **options) -> keras.Model:
    meta = MODELS.meta(name)
    return build(name, meta["input_shape"], meta["num_classes"], **options)


#: Every classifier, small; only the deep graphs are slow (their parameter counts do not matter).
SMALL_BUILDS = [pytest.param(n, id=n, marks=[pytest.mark.slow] if n in DEEP else []) for n in CLASSIFIERS]


def _cases() -> list:
    cases = []
    for name in NAMES:
        meta = MODELS.meta(name)
        marks = _slow(name)
        cases.append(pytest.param(name, {}, meta["params"], id=name, marks=marks))
        for options, params in meta.get("variants", []):
            label = ",".join(f"{k}={v}" for k, v in options.items())
            cases.append(pytest.param(name, options, params, id=f"{name}[{label}]", marks=marks))
    return cases


# ----------------------------------------------------------------------------- every model


@pytest.mark.parametrize("name", SMALL_BUILDS)
def test_builds_small_and_runs(name):
    shape = MODELS.meta(name).get("small_input_shape", (32, 32, 3))
    model = build(name, shape, 3)
    outputs = model(np.zeros((2, *shape), "float32"), training=False)
    for out in outputs if isinstance(outputs, list) else [outputs]:
        assert tuple(out.shape) == (2, 3)
        np.testing.assert_allclose(keras.ops.convert_to_numpy(out).sum(-1), 1.0, rtol=1e-4)


@pytest.mark.parametrize("name", NAMES)
def test_registration_is_complete(name):
    meta = MODELS.meta(name)
    assert meta.get("params") and meta.get("input_shape") and meta.get("num_classes") and meta.get("source")
    builder = MODELS.get(name)
    assert builder.__name__ == name
    doc = " ".join((builder.__doc__ or "").split())
    assert CITATION.search(doc), f"{name}: the docstring names no author and year: {doc[:120]!r}"
    assert set(model_tasks(name)) <= set(TASK_NAMES)
    if "classify" in model_tasks(name):
        assert "dropout" in model_options(name)  # the training loop passes the recipe's rate


@pytest.mark.parametrize(("name", "options", "params"), _cases())
def test_reference_parameter_count(name, options, params):
    assert _reference(name, **options).count_params() == params


# ----------------------------------------------------------------------------- seed 000 tables


def _shapes(model: keras.Model, names: list[str]) -> list[tuple]:
    return [tuple(model.get_layer(n).output.shape[1:]) for n in names]


def _params(model: keras.Model, names: list[str]) -> list[int]:
    return [model.get_layer(n).count_params() for n in names]


LAYERS = [
    "conv1",
    "pool1",
    "conv2",
    "pool2",
    "conv3",
    "conv4",
    "conv5",
    "pool3",
    "head_fc1",
    "head_fc2",
    "head_predictions",
]


@pytest.mark.slow
def test_alexnet_layers_match_seed_000():
    model = _reference("alexnet")
    assert _shapes(model, LAYERS) == [
        (55, 55, 96), (27, 27, 96), (27, 27, 256), (13, 13, 256), (13, 13, 384), (13, 13, 384),
        (13, 13, 256), (6, 6, 256), (4096,), (4096,), (1000,),
    ]  # fmt: skip
    assert _params(model, [n for n in LAYERS if "pool" not in n]) == [
        34_944,
        614_656,
        885_120,
        1_327_488,
        884_992,
        37_752_832,
        16_781_312,
        4_097_000,
    ]


@pytest.mark.slow
def test_zfnet_layers_match_seed_000():
    model = _reference("zfnet")
    assert _shapes(model, LAYERS) == [
        (110, 110, 96), (55, 55, 96), (26, 26, 256), (13, 13, 256), (13, 13, 512), (13, 13, 1024),
        (13, 13, 512), (6, 6, 512), (4096,), (4096,), (1000,),
    ]  # fmt: skip
    assert _params(model, [n for n in LAYERS if "pool" not in n]) == [
        14_208,
        614_656,
        1_180_160,
        4_719_616,
        4_719_104,
        75_501_568,
        16_781_312,
        4_097_000,
    ]


def test_lrn_option_adds_parameter_free_norm_layers():
    plain, lrn = (build("alexnet", (64, 64, 3), 10, lrn=flag) for flag in (False, True))
    assert {"norm1", "norm2"} <= {layer.name for layer in lrn.layers}
    assert lrn.count_params() == plain.count_params()
    assert "block1_lrn" in {layer.name for layer in build("vgg11_lrn", (32, 32, 3), 10).layers}


def test_vgg_configuration_c_uses_1x1_convolutions():
    model = build("vgg16_c", (32, 32, 3), 10)
    kernels = {
        layer.name: layer.kernel_size for layer in model.layers if isinstance(layer, keras.layers.Conv2D)
    }
    assert len(kernels) == 13
    assert [n for n, k in kernels.items() if k == (1, 1)] == ["block3_conv3", "block4_conv3", "block5_conv3"]
    weight_layers = {"vgg11": 11, "vgg13": 13, "vgg16": 16, "vgg19": 19}
    for name, depth in weight_layers.items():
        model = build(name, (32, 32, 3), 10)
        assert (
            sum(isinstance(layer, keras.layers.Conv2D | keras.layers.Dense) for layer in model.layers)
            == depth
        )


def test_vgg_gap_head_on_cifar_input():
    model = build("vgg16", (32, 32, 3), 10, head="gap", fc_units=512, batch_norm=True)
    assert model.output.shape == (None, 10)
    assert isinstance(model.get_layer("head_avg"), keras.layers.GlobalAveragePooling2D)


GOOGLENET_TABLE_1 = {
    "3a": (28, 28, 256), "3b": (28, 28, 480), "4a": (14, 14, 512), "4b": (14, 14, 512),
    "4c": (14, 14, 512), "4d": (14, 14, 528), "4e": (14, 14, 832), "5a": (7, 7, 832),
    "5b": (7, 7, 1024),
}  # fmt: skip


def test_googlenet_inception_modules_match_table_1():
    model = _reference("googlenet")
    for key, shape in GOOGLENET_TABLE_1.items():
        assert tuple(model.get_layer(f"inception_{key}_concat").output.shape[1:]) == shape, key
    assert tuple(model.get_layer("pool2").output.shape[1:]) == (28, 28, 192)
    assert tuple(model.get_layer("head_avg").output.shape[1:]) == (1024,)
    assert model.get_layer("head_dropout0").rate == 0.4


def test_googlenet_aux_classifiers_are_extra_outputs_after_the_main_one():
    model = build("googlenet", (32, 32, 3), 7, aux_classifiers=True)
    assert len(model.outputs) == 3
    names = [t._keras_history.operation.name for t in model.outputs]
    assert names[0] == "head_predictions"
    assert all(n.startswith("aux") for n in names[1:])
    assert [tuple(t.shape) for t in model.outputs] == [(None, 7)] * 3
    assert len(build("googlenet", (32, 32, 3), 7).outputs) == 1


def test_naive_inception_is_wider():
    naive = build("googlenet", (32, 32, 3), 10, naive_inception=True)
    assert naive.get_layer("inception_3a_concat").output.shape[-1] == 64 + 128 + 32 + 192
    assert naive.count_params() > build("googlenet", (32, 32, 3), 10).count_params()


def test_nin_heads():
    gap = build("nin", (32, 32, 3), 10)
    assert isinstance(gap.get_layer("head_avg"), keras.layers.GlobalAveragePooling2D)
    assert not any(isinstance(layer, keras.layers.Dense) for layer in gap.layers)
    fc = build("nin", (32, 32, 3), 10, head="fc")
    assert isinstance(fc.layers[-1], keras.layers.Dense)


def test_cifar_resnet_structure():
    model = build("resnet20", (32, 32, 3), 10)
    convs = [layer for layer in model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) + 1 == 20  # 19 convolutions + the output layer
    assert [model.get_layer(f"stage{s}_block3_out").output.shape[1:] for s in (1, 2, 3)] == [
        (32, 32, 16), (16, 16, 32), (8, 8, 64),
    ]  # fmt: skip
    assert "stage2_block1_0_pad" in {layer.name for layer in model.layers}  # option A
    projected = build("resnet20", (32, 32, 3), 10, shortcut="B")
    assert "stage2_block1_0_conv" in {layer.name for layer in projected.layers}


@pytest.mark.parametrize("depth", [20, 56])
def test_plain_cifar_nets_are_the_resnets_without_shortcuts(depth):
    plain = build(f"resnet{depth}", (28, 28, 1), 10, shortcut="none")
    residual = build(f"resnet{depth}", (28, 28, 1), 10)
    assert plain.count_params() == residual.count_params()  # option A has no parameters
    names = {layer.name for layer in plain.layers}
    assert not any(n.endswith(("_add", "_0_pad")) for n in names)
    convs = [layer for layer in plain.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) + 1 == depth  # 6n + 1 convolutions and the output layer: the same depth
    assert plain.get_layer("stage3_block1_1_conv").output.shape[1:] == (7, 7, 64)


def test_resnet_v2_and_se_options():
    v2 = build("resnet18", (32, 32, 3), 10, preact=True)
    assert "post_bn" in {layer.name for layer in v2.layers}
    se = build("se_resnet50", (32, 32, 3), 10)
    assert "stage1_block1_se_scale" in {layer.name for layer in se.layers}
    assert MODELS.get("se_resnet50").__doc__.count("Hu et al.") == 1


def test_bad_options_are_reported_with_the_choices():
    problems = check_model_options("resnet20", {"shortcut": "C", "attn": "se"})
    keys = {key for key, _, _ in problems}
    assert keys == {"shortcut", "attn"}
    assert check_model_options("resnet20", {"shortcut": "B", "attention": "se"}) == []
    with pytest.raises(ValueError, match="6n \\+ 4"):
        build("densenet_bc", (32, 32, 3), 10, depth=50)


def test_cnn_small_vs_mlp_small_per_layer_counts():
    cnn = build("cnn_small", (28, 28, 1), 10)
    assert _params(cnn, ["conv1", "fc1", "predictions"]) == [130, 294_300, 3_010]
    mlp = build("mlp_small", (28, 28, 1), 10)
    assert _params(mlp, ["fc1", "fc2", "predictions"]) == [219_800, 78_680, 2_810]
    assert build("cnn_small", (28, 28, 1), 10, pooling="l2").count_params() == 297_440
    maxout = build("cnn_small", (28, 28, 1), 10, activation="maxout")
    assert tuple(maxout.get_layer("conv1_maxout").output.shape[1:]) == (28, 28, 5)
    assert _params(maxout, ["conv1", "fc1"]) == [260, 2 * 294_300]
    assert (
        build("mlp_small", (28, 28, 1), 10, activation="maxout").get_layer("fc1").count_params()
        == 2 * 219_800
    )


@pytest.mark.parametrize("variant", ["a", "b", "c"])
def test_the_three_seed_000_cnn_vs_mlp_pairs_have_the_slide_counts(variant):
    """Seed 000's CNNs (297,440 / 36,042 / 123,882, per layer as on the slides) and MLPs
    of two hidden layers sized to match them."""
    from kerasnets.models.small import CNN_SMALL_VARIANTS, MLP_SMALL_WIDTHS

    per_layer = {
        "a": (["conv1", "fc1", "predictions"], [130, 294_300, 3_010]),
        "b": (["conv1", "conv2", "conv3", "predictions"], [832, 25_632, 9_248, 330]),
        "c": (["conv1", "conv2", "conv3", "predictions"], [1_664, 102_464, 18_464, 1_290]),
    }
    cnn = build("cnn_small", (28, 28, 1), 10, variant=variant)
    assert (
        cnn.count_params()
        == CNN_SMALL_VARIANTS[variant].params
        == {"a": 297_440, "b": 36_042, "c": 123_882}[variant]
    )
    assert _params(cnn, per_layer[variant][0]) == per_layer[variant][1]
    width, count = MLP_SMALL_WIDTHS[variant]
    mlp = build("mlp_small", (28, 28, 1), 10, width=width)
    assert mlp.count_params() == count == {"a": 301_290, "b": 36_087, "c": 123_567}[variant]
    assert abs(count - cnn.count_params()) / cnn.count_params() < 0.015  # the slide pair: 1.3%


def test_whole_model_with_custom_layers_round_trips(tmp_path):
    model = build("resnet20", (16, 16, 3), 4)  # ZeroPadChannels in the option-A shortcuts
    path = tmp_path / "resnet20.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    x = np.random.default_rng(0).normal(size=(2, 16, 16, 3)).astype("float32")
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(loaded(x)), keras.ops.convert_to_numpy(model(x)), rtol=1e-6
    )


# ----------------------------------------------------------------------------- keras.applications


def _weight_shapes(model: keras.Model) -> list[tuple]:
    return sorted(tuple(w.shape) for w in model.weights)


@pytest.mark.slow
def test_resnet50_with_conv_bias_equals_keras_applications():
    ours = _reference("resnet50", conv_bias=True)
    theirs = keras.applications.ResNet50(weights=None)
    assert ours.count_params() == theirs.count_params() == 25_636_712
    assert ours.output.shape == theirs.output.shape
    assert _weight_shapes(ours) == _weight_shapes(theirs)


@pytest.mark.slow
def test_densenet121_equals_keras_applications():
    ours = _reference("densenet121")
    theirs = keras.applications.DenseNet121(weights=None)
    assert ours.count_params() == theirs.count_params() == 8_062_504
    assert ours.output.shape == theirs.output.shape
    assert _weight_shapes(ours) == _weight_shapes(theirs)


# ----------------------------------------------------------------------------- summary


def test_summary_of_vgg16_matches_seed_004():
    s = summarize("vgg16")
    assert s.params == 138_357_544
    assert round(s.activations / 1e6, 1) == 15.2  # "15.2M * 4 bytes ~= 61MB / image"
    assert round(s.memory_bytes / 1e6) == 61
    assert s.mult_adds == 15_470_264_320
    rows = {r.name: r for r in s.rows}
    assert rows["block1_conv1"].activations == 224 * 224 * 64
    assert rows["block1_conv2"].mult_adds == 224 * 224 * 64 * 3 * 3 * 64
    assert rows["head_fc1"].mult_adds == 7 * 7 * 512 * 4096
    assert rows["head_flatten"].memory_bytes == 0  # a view, not a copy
    text = format_text(s)
    assert "block5_pool" in text and "138,357,544" in text and "61.0 MB" in text


def test_summary_rows_text_and_rich_table():
    rows = summary("cnn_small")
    assert [r.name for r in rows] == ["image", "conv1", "pool1", "flatten", "fc1", "predictions"]
    assert rows[1].mult_adds == 28 * 28 * 5 * 25
    assert rows[1].output_shape == (28, 28, 5)
    text = summary_table(rows, name="cnn_small")
    assert "297,440" in text.splitlines()[-3]
    table = to_rich_table(summarize("cnn_small"))
    assert table.row_count == len(rows)
    custom = summarize(build("resnet20", (32, 32, 3), 10, attention="se"))
    assert custom.params == 273_471

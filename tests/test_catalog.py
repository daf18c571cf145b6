"""The generated model catalog (``kerasnets/catalog.json``) against the live registry: the same
models, tasks, options and display metadata; the same option problems; ``min_input`` builds and
one pixel (step) less does not; and querying it imports no TensorFlow."""

from __future__ import annotations

import subprocess
import sys
import typing
from collections.abc import Sequence
from typing import Any, Literal

import keras
import pytest

from kerasnets import catalog
from kerasnets.choices import Activation, DenseActivation
from kerasnets.models import MODELS
from kerasnets.models import check_model_options as live_check
from kerasnets.options import signature_fields
from kerasnets.registry import UnknownNameError

NAMES = MODELS.names()
#: Models whose builds at ``min_input`` and one less take 0.3-3 s on 2 CPU cores (measured; the
#: others take 0.6 s at most, 8 s in all).
SLOW_BUILDS = {
    *(f"{prefix}resnet{depth}" for prefix in ("", "se_") for depth in (50, 101, 152)),
    *("resnet56", "resnet110", "resnet1202", "densenet_bc", "densenet121", "densenet169", "densenet201"),
    *("vgg11", "vgg11_lrn", "vgg13", "vgg16", "vgg16_c", "vgg19"),
}
REGENERATE = "the catalog is stale: run `python -m kerasnets.catalog` and commit kerasnets/catalog.json"


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session(free_memory=False)


def _marked(names: list[str]) -> list:
    return [pytest.param(n, id=n, marks=[pytest.mark.slow] if n in SLOW_BUILDS else []) for n in names]


# ----------------------------------------------------------------------------- kept equal


def test_catalog_lists_the_registered_models():
    assert catalog.names() == NAMES, REGENERATE


@pytest.mark.parametrize("name", NAMES)
def test_catalog_entry_equals_the_live_registry(name):
    committed = catalog.load()["models"][name]
    live = catalog.describe_model(name)  # everything but the probed min_input, fast
    assert {k: committed.get(k) for k in live} == live, REGENERATE
    assert set(committed) == {*live, "min_input", "min_input_options"}, REGENERATE


@pytest.mark.parametrize("name", NAMES)
def test_catalog_fields_rebuild_the_live_signature(name):
    live = signature_fields(MODELS.get(name), catalog.COMMON_ARGS)
    assert catalog.option_fields(name) == live
    assert [type(default) for _, _, default in catalog.option_fields(name)] == [type(d) for _, _, d in live]
    assert catalog.option_names(name) == list(catalog.option_schema(name).model_fields)
    assert catalog.model_tasks(name) == tuple(MODELS.meta(name).get("tasks", ("classify",)))


def test_catalog_constants_equal_the_registry_s():
    from kerasnets.models import base

    assert catalog.COMMON_ARGS == base.COMMON_ARGS and catalog.DEFAULT_TASKS == base.DEFAULT_TASKS


def test_meta_and_task_queries():
    info = catalog.meta("lenet5")
    assert info["params"] == 61_706 and info["input_shape"] == (32, 32, 1) and info["num_classes"] == 10
    assert info["tasks"] == ("classify",) and info["min_input"] == (32, 32)
    assert catalog.models_for_task("segment") == ["segnet", "segnet_basic"]
    assert catalog.models_for_task("generate") == ["dcgan"]
    with pytest.raises(UnknownNameError, match="Did you mean 'lenet5'"):
        catalog.meta("lenet")
    with pytest.raises(UnknownNameError, match="kerasnets models"):
        catalog.check_model_options("no_such_model", {})


# ----------------------------------------------------------------------------- type descriptors


@pytest.mark.parametrize("name", NAMES)
def test_descriptor_round_trip_for_every_option(name):
    for option, annotation, _ in signature_fields(MODELS.get(name), catalog.COMMON_ARGS):
        descriptor = catalog.to_descriptor(annotation)  # raises on an annotation not supported
        assert catalog.from_descriptor(descriptor) == annotation, (name, option)


@pytest.mark.parametrize(
    "annotation",
    [
        int,
        float,
        bool,
        str,
        type(None),
        Any,
        Literal["a", 1, True, None],
        int | None,
        Literal["se"] | None,
        tuple[int, ...],
        tuple[int, int],
        list[int],
        Sequence[int],
        dict[str, float],
        list[tuple[int, int]] | None,
    ],
    ids=repr,
)
def test_descriptor_round_trip(annotation):
    descriptor = catalog.to_descriptor(annotation)
    assert catalog.from_descriptor(descriptor) == annotation
    assert catalog.from_descriptor(catalog.to_descriptor(None)) is type(None)


UNSUPPORTED = [typing.Sequence[int], typing.Tuple[int, ...], tuple, object, set[int]]  # noqa: UP006


@pytest.mark.parametrize("annotation", UNSUPPORTED, ids=repr)
def test_unsupported_annotations_fail_loudly(annotation):
    with pytest.raises(TypeError, match="unsupported option annotation"):
        catalog.to_descriptor(annotation)


def test_bad_descriptors_are_rejected():
    for bad in ("complex", {"frozenset": "int"}, {"list": "int", "tuple": "int"}, 3):
        with pytest.raises(ValueError):
            catalog.from_descriptor(bad)


# ----------------------------------------------------------------------------- option problems

OPTION_CASES = [
    ("lenet5", {"activation": "relu", "pooling": "max", "dropout": 0.25}),
    ("lenet5", {"activation": "maxout"}),
    ("lenet5", {"activaton": "relu", "pooling": "median"}),
    ("lenet5", {"dropout": "lots", "colour": 3}),
    ("cnn_small", {"activation": "maxout", "pooling": "l2"}),
    ("cnn_small", {"activation": "softmax"}),
    ("mlp_small", {"activation": "maxout"}),
    ("mlp", {"hidden": [64, 32], "activation": "tanh"}),
    ("mlp", {"hidden": "wide", "activation": "maxout"}),
    ("mlp", {"hidden": [64, "x"]}),
    ("resnet20", {"shortcut": "C", "attn": "se"}),
    ("resnet20", {"shortcut": "B", "attention": "se", "preact": True}),
    ("resnet20", {"attention": "cbam", "preact": "maybe"}),
    ("segnet", {"decoder_activation": None, "filters": [8, 16], "depths": [1, 1]}),
    ("segnet", {"decoder_activation": "maxout", "filters": 16}),
    ("conv_autoencoder", {"downsample": "pool", "decoder": "upsample", "activation": "elu"}),
    ("conv_autoencoder", {"downsample": "avg", "kernel_size": 2.5}),
    ("dense_autoencoder", {"activation": "leaky_relu", "code_size": "32"}),
    ("gru", {"units": 0.5, "bidirectional": "yes"}),
    ("vgg16", {"head": "gap", "fc_units": 512, "batch_norm": True}),
    ("densenet121", {"growth_rate": 12}),
    ("segnet_basic", {}),
]


@pytest.mark.parametrize("name, options", OPTION_CASES)
def test_option_problems_equal_the_live_check(name, options):
    assert catalog.check_model_options(name, options) == live_check(name, options)


def test_maxout_is_a_choice_of_the_builders_made_of_the_shared_blocks_only():
    (problem,) = catalog.check_model_options("mlp", {"activation": "maxout"})
    key, message, received = problem
    assert key == "activation" and received == "maxout"
    assert message.startswith("expected 'relu', 'relu6'") and "'linear'" in message
    assert "'maxout'" not in message
    for name in ("cnn_small", "mlp_small", "lenet5", "alexnet", "zfnet", "vgg16"):  # issue 16
        assert catalog.check_model_options(name, {"activation": "maxout"}) == [], name


def test_activation_choices_are_keras_activations():
    assert "maxout" not in typing.get_args(Activation)
    assert typing.get_args(DenseActivation) == (*typing.get_args(Activation), "maxout")
    for name in typing.get_args(Activation):
        assert callable(keras.activations.get(name)), name


def test_recipe_reports_maxout_on_mlp(write_recipe):
    from kerasnets.errors import RecipeError
    from kerasnets.recipe import load_recipe

    with pytest.raises(RecipeError, match=r"model\.activation: expected 'relu', .*got 'maxout'"):
        load_recipe(write_recipe("model: {name: mlp, activation: maxout}\n"))


# ----------------------------------------------------------------------------- min_input


def _shape(name: str, size: int) -> tuple[int, ...]:
    reference = MODELS.meta(name)["input_shape"]
    return (size, reference[1]) if len(reference) == 2 else (size, size, *reference[2:])


@pytest.mark.parametrize("name", _marked(NAMES))
def test_min_input_builds_and_one_less_does_not(name):
    need = catalog.min_input(name, {})
    assert need is not None and len(set(need)) == 1
    assert catalog.builds(name, need[0], {}), f"{name} does not build at {_shape(name, need[0])}"
    if need[0] > 1:
        assert not catalog.builds(name, need[0] - 1, {}), f"{name} builds at {_shape(name, need[0] - 1)}"


def _option_records() -> list:
    records = []
    for name in catalog.names():
        for record in catalog.load()["models"][name]["min_input_options"]:
            label = f"{name}[{record['option']}={record['value']}]"
            marks = [pytest.mark.slow] if name in SLOW_BUILDS else []
            records.append(pytest.param(name, record, id=label, marks=marks))
    return records


@pytest.mark.parametrize("name, record", _option_records())
def test_min_input_of_option_values(name, record):
    options = {record["option"]: record["value"]}
    need = catalog.min_input(name, options)
    assert need == tuple(record["min_input"]) and need != catalog.min_input(name, {})
    assert catalog.builds(name, need[0], options)
    assert need[0] == 1 or not catalog.builds(name, need[0] - 1, options)


def test_min_input_combines_option_values_and_ignores_the_rest():
    assert catalog.min_input("lenet5", {"activation": "relu", "dropout": 0.5}) == (32, 32)
    assert catalog.min_input("mlp", {"hidden": [8]}) == (1, 1)  # numeric options are not covered
    assert catalog.min_input("lstm", {}) == (1,)
    assert catalog.min_input("segnet", {}) == (8, 8)
    assert catalog.min_input("segnet_basic", {}) == (16, 16)
    assert catalog.min_input("cnn_small", {}) == (2, 2)  # a 2x2 max pool needs two pixels
    # a 2x2 L2 pool needs two pixels too (before issue 16 it made a 0x0 map without an error)
    assert catalog.min_input("cnn_small", {"pooling": "l2", "dropout": 0.1}) == (2, 2)
    assert catalog.min_input("cnn_small", {"pooling": "avg", "activation": "maxout"}) == (2, 2)


# ----------------------------------------------------------------------------- light


def test_catalog_queries_import_no_tensorflow():
    code = (
        "import kerasnets.catalog as c; c.check_model_options('lenet5', {'activation': 'relu'}); "
        "c.min_input('lenet5', {}); c.meta('resnet50'); c.models_for_task('segment'); import sys; "
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras') "
        "or m.startswith(('kerasnets.models', 'kerasnets.blocks'))); assert not heavy, heavy"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_generated_text_is_deterministic():
    text = catalog.dumps(catalog.load())
    assert text == catalog.CATALOG_PATH.read_text(encoding="utf-8")

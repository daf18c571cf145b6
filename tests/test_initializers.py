"""Kernel initialisation from a recipe: every layer its own draw, reproducible from train.seed,
with the He / Glorot variance of each layer's own fan-in and fan-out."""

from __future__ import annotations

import math

import keras
import numpy as np
import pytest

from kerasnets.models import MODELS, build, names
from kerasnets.recipe import validate
from kerasnets.train.build import build_model
from kerasnets.train.initializers import initialize_kernels, kernel_layers

#: Small builds above this reference size go to the slow suite (VGG, big ResNets...).
FAST_LIMIT = 15_000_000


@pytest.fixture(autouse=True)
def _fresh_session():
    yield
    keras.backend.clear_session(free_memory=False)


def _small(name: str) -> keras.Model:
    meta = MODELS.meta(name)
    shape = meta.get("small_input_shape") or (
        meta["input_shape"]
        if len(meta["input_shape"]) == 2 or max(meta["input_shape"]) <= 64
        else (64, 64, 3)
    )
    return build(name, shape, 3)


def _cases():
    return [
        pytest.param(n, id=n, marks=[pytest.mark.slow] if MODELS.meta(n)["params"] > FAST_LIMIT else [])
        for n in names()
    ]


@pytest.mark.parametrize("name", _cases())
def test_no_two_kernels_start_equal(name):
    model = _small(name)
    count = initialize_kernels(model, "he_normal", 0.0, seed=0)
    kernels = [keras.ops.convert_to_numpy(layer.kernel) for layer in kernel_layers(model)]
    assert count == len(kernels) >= 2
    seen: dict[tuple, bytes] = {}
    for index, kernel in enumerate(kernels):
        key = (kernel.shape, kernel.tobytes())
        assert key not in seen, f"{name}: kernel {index} equals kernel {seen[key]} ({kernel.shape})"
        seen[key] = index


def _kernels(seed: int, kernel: str = "he_normal") -> list[np.ndarray]:
    recipe = validate(
        {"model": {"name": "resnet20"}, "init": {"kernel": kernel}, "train": {"seed": seed}}, "test"
    )
    model = build_model(recipe, (16, 16, 3), 10)
    return [keras.ops.convert_to_numpy(layer.kernel) for layer in kernel_layers(model)]


def test_the_same_seed_gives_the_same_kernels_another_seed_other_ones():
    first, again, other = _kernels(0), _kernels(0), _kernels(1)
    assert len(first) == 20  # ResNet-20: 19 convolutions (option A has no projections) + the classifier
    for a, b, c in zip(first, again, other, strict=True):
        np.testing.assert_array_equal(a, b)
        assert not np.allclose(a, c)


def _fans(shape: tuple[int, ...]) -> tuple[int, int]:
    receptive = math.prod(shape[:-2]) if len(shape) > 2 else 1
    return shape[-2] * receptive, shape[-1] * receptive


@pytest.mark.parametrize(
    ("kernel", "slope", "variance"),
    [
        ("he_normal", 0.0, lambda fan_in, fan_out: 2 / fan_in),
        ("he_normal", 0.5, lambda fan_in, fan_out: 2 / ((1 + 0.25) * fan_in)),
        ("he_uniform", 1.0, lambda fan_in, fan_out: 1 / fan_in),
        ("glorot_uniform", 0.0, lambda fan_in, fan_out: 2 / (fan_in + fan_out)),
    ],
)
def test_each_kernel_has_its_own_layers_variance(kernel, slope, variance):
    recipe = validate(
        {
            "model": {"name": "resnet20"},
            "init": {"kernel": kernel, "leaky_slope": slope},
            "train": {"seed": 3},
        },
        "test",
    )
    model = build_model(recipe, (16, 16, 3), 10)
    for layer in kernel_layers(model):
        weights = keras.ops.convert_to_numpy(layer.kernel)
        expected = variance(*_fans(weights.shape))
        tolerance = 4 * math.sqrt(2 / weights.size)  # four standard errors of a sample variance
        assert weights.var() == pytest.approx(expected, rel=tolerance), (layer.name, weights.shape)

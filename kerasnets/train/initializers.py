"""Kernel initialisers by recipe name, each layer drawn from its own seed.

A seeded Keras initializer returns the same values every time it is called with the same
shape, so one object shared by every layer would start all same-shaped kernels identical
(ResNet-20 had 35 pairs of equal kernels that way). ``initialize_kernels`` therefore makes one
initializer per layer, seeded from ``(train.seed, layer index)``: reproducible from the
recipe's seed, independent between layers.
"""

from __future__ import annotations

import keras
import numpy as np

from kerasnets.train.components import INITIALIZERS


def make_initializer(
    name: str, leaky_slope: float = 0.0, seed: int | None = None
) -> keras.initializers.Initializer:
    """A Keras initialiser by name; He variants honour the leaky-ReLU slope ``a``:
    variance ``2 / ((1 + a^2) * fan_in)`` (He et al. 2015)."""
    if name in ("he_normal", "he_uniform"):
        distribution = "truncated_normal" if name == "he_normal" else "uniform"
        scale = 2.0 / (1.0 + leaky_slope**2)
        return keras.initializers.VarianceScaling(scale, "fan_in", distribution, seed=seed)
    return keras.initializers.get({"class_name": INITIALIZERS.get(name), "config": {"seed": seed}})


def layer_seed(seed: int | None, index: int) -> int | None:
    """The seed of the ``index``-th kernel: a hash of (recipe seed, index); ``None`` stays
    unseeded (Keras then draws fresh values for every layer)."""
    if seed is None:
        return None
    return int(np.random.SeedSequence([seed, index]).generate_state(1)[0] >> 1)


def kernel_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer (nested included) that owns a trainable ``kernel``, in graph order."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if getattr(layer, "kernel", None) is not None and getattr(layer, "trainable", True)
    ]


def initialize_kernels(
    model: keras.Model, name: str, leaky_slope: float = 0.0, seed: int | None = None
) -> int:
    """Re-draw every kernel of ``model`` from initializer ``name``, one seed per layer.
    Returns the number of kernels drawn."""
    layers = kernel_layers(model)
    for index, layer in enumerate(layers):
        initializer = make_initializer(name, leaky_slope, layer_seed(seed, index))
        layer.kernel.assign(initializer(layer.kernel.shape, dtype=layer.kernel.dtype))
        layer.kernel_initializer = initializer
    return len(layers)

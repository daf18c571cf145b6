"""Weight penalties and kernel initialisers applied to a built model.

Builders stay pure and ignorant of the recipe: after building, every layer with a kernel
(Dense, Conv*) gets the recipe's penalty attached to its kernel variable and, when the recipe
names an initialiser, its kernel re-drawn from it.
"""

from __future__ import annotations

import keras

from kerasnets.train.components import INITIALIZERS


def make_regularizer(l1: float, l2: float) -> keras.regularizers.Regularizer | None:
    """L1, L2 or both (elastic net); ``None`` when both are zero."""
    if not l1 and not l2:
        return None
    return keras.regularizers.L1L2(l1=l1, l2=l2)


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


def kernel_layers(model: keras.Model) -> list[keras.layers.Layer]:
    """Every layer (nested included) that owns a trainable ``kernel``."""
    layers = [
        layer
        for layer in model._flatten_layers(include_self=False, recursive=True)
        if getattr(layer, "kernel", None) is not None and getattr(layer, "trainable", True)
    ]
    return layers


def apply_kernel_policy(model: keras.Model, regularizer=None, initializer=None) -> int:
    """Attach ``regularizer`` to and re-initialise with ``initializer`` every kernel.
    Returns the number of kernels touched."""
    layers = kernel_layers(model)
    for layer in layers:
        if regularizer is not None:
            layer.kernel.regularizer = regularizer
            layer.kernel_regularizer = regularizer
        if initializer is not None:
            layer.kernel.assign(initializer(layer.kernel.shape, dtype=layer.kernel.dtype))
            layer.kernel_initializer = initializer
    return len(layers)

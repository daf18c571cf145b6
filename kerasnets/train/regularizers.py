"""Weight penalties attached to a built model's kernels.

Builders stay pure and ignorant of the recipe: after building, every layer with a kernel
(Dense, Conv*) gets the recipe's penalty attached to its kernel variable. Initialisation is
``kerasnets.train.initializers``.
"""

from __future__ import annotations

import keras

from kerasnets.train.initializers import kernel_layers


def make_regularizer(l1: float, l2: float) -> keras.regularizers.Regularizer | None:
    """L1, L2 or both (elastic net); ``None`` when both are zero."""
    if not l1 and not l2:
        return None
    return keras.regularizers.L1L2(l1=l1, l2=l2)


def regularize_kernels(model: keras.Model, regularizer: keras.regularizers.Regularizer) -> int:
    """Attach ``regularizer`` to every kernel of ``model``; returns the number of kernels."""
    layers = kernel_layers(model)
    for layer in layers:
        layer.kernel.regularizer = regularizer
        layer.kernel_regularizer = regularizer
    return len(layers)

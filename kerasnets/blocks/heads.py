"""Classifier heads: builders return features, a head turns them into class scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras


def classifier_head(
    x: keras.KerasTensor,
    num_classes: int,
    *,
    name: str = "head",
    pooling: Literal["flatten", "avg", "max"] = "flatten",
    hidden: Sequence[int] = (),
    activation: str = "relu",
    dropout: float = 0.0,
    output_activation: str = "softmax",
) -> keras.KerasTensor:
    """Pool or flatten, optional hidden fully connected layers with dropout, then the output.

    ``pooling="flatten"`` with ``hidden=(4096, 4096)`` is the AlexNet/VGG head;
    ``pooling="avg"`` with no hidden layer is the global-average-pooling head (NiN, ResNet).
    """
    pool_layers = {
        "flatten": keras.layers.Flatten,
        "avg": keras.layers.GlobalAveragePooling2D if len(x.shape) == 4 else keras.layers.GlobalAveragePooling1D,
        "max": keras.layers.GlobalMaxPooling2D if len(x.shape) == 4 else keras.layers.GlobalMaxPooling1D,
    }
    x = pool_layers[pooling](name=f"{name}_{pooling}")(x)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, activation=activation, name=f"{name}_fc{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout{i}")(x)
    return keras.layers.Dense(num_classes, activation=output_activation, name=f"{name}_predictions")(x)

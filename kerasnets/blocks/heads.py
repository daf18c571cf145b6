"""Classifier heads: builders return features, a head turns them into class scores."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import keras

from kerasnets.blocks.conv import conv


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
    input_dropout: float = 0.0,
) -> keras.KerasTensor:
    """Pool or flatten, optional hidden fully connected layers with dropout, then the output.

    ``pooling="flatten"`` with ``hidden=(4096, 4096)`` is the AlexNet/VGG head;
    ``pooling="avg"`` with no hidden layer is the global-average-pooling head (ResNet);
    ``input_dropout`` drops pooled features before the first dense layer (GoogLeNet's 40%).
    """
    pool_layers = {
        "flatten": keras.layers.Flatten,
        "avg": keras.layers.GlobalAveragePooling2D
        if len(x.shape) == 4
        else keras.layers.GlobalAveragePooling1D,
        "max": keras.layers.GlobalMaxPooling2D if len(x.shape) == 4 else keras.layers.GlobalMaxPooling1D,
    }
    x = pool_layers[pooling](name=f"{name}_{pooling}")(x)
    if input_dropout:
        x = keras.layers.Dropout(input_dropout, name=f"{name}_dropout0")(x)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, activation=activation, name=f"{name}_fc{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"{name}_dropout{i}")(x)
    return keras.layers.Dense(num_classes, activation=output_activation, name=f"{name}_predictions")(x)


def nin_head(
    x: keras.KerasTensor,
    num_classes: int,
    *,
    name: str = "head",
    output_activation: str = "softmax",
) -> keras.KerasTensor:
    """Network-in-Network head (Lin et al. 2013): a 1x1 convolution to one map per class,
    global average pooling of each map, softmax. No fully connected layer."""
    x = conv(x, num_classes, 1, name=f"{name}_conv")
    gap = keras.layers.GlobalAveragePooling2D if len(x.shape) == 4 else keras.layers.GlobalAveragePooling1D
    x = gap(name=f"{name}_avg")(x)
    return keras.layers.Activation(output_activation, name=f"{name}_predictions")(x)


#: Heads by name for builders with a ``head`` option: ``(features, num_classes, **kw) -> scores``.
HEADS = {
    "fc": lambda x, n, hidden=(4096, 4096), dropout=0.0: classifier_head(
        x, n, pooling="flatten", hidden=hidden, dropout=dropout
    ),
    "gap": lambda x, n, hidden=(4096,), dropout=0.0: classifier_head(
        x, n, pooling="avg", hidden=hidden, dropout=dropout
    ),
    "nin": lambda x, n, hidden=(), dropout=0.0: nin_head(x, n),
}

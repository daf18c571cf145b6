"""LeNet-5, written straight down like Figure 2 of LeCun et al. (1998)."""

from __future__ import annotations

from typing import Literal

import keras

from kerasnets.blocks import conv_act
from kerasnets.choices import Activation
from kerasnets.models.base import register_model

POOLS = {"avg": keras.layers.AveragePooling2D, "max": keras.layers.MaxPooling2D}


@register_model(
    "lenet5",
    params=61_706,
    input_shape=(32, 32, 1),
    num_classes=10,
    source="LeCun et al. 1998; per layer 156 + 2,416 + 48,120 + 10,164 + 850 (SPEC.md)",
)
def lenet5(
    input_shape: tuple[int, ...],
    num_classes: int,
    activation: Activation = "tanh",
    pooling: Literal["avg", "max"] = "avg",
    dropout: float = 0.0,
) -> keras.Model:
    """LeNet-5: C1 conv5x5(6), S2 pool, C3 conv5x5(16), S4 pool, C5 conv5x5(120), F6 84, output.

    Gradient-based learning applied to document recognition, LeCun, Bottou, Bengio,
    Haffner (1998). The 1998 net used tanh and average pooling (the defaults); ``relu`` and
    ``max`` give the modern variant. ``dropout`` is applied after C5 and F6.
    """
    pool = POOLS[pooling]
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_act(inputs, 6, 5, padding="valid", activation=activation, name="c1")  # 28x28x6
    x = pool(2, name="s2")(x)  # 14x14x6
    x = conv_act(x, 16, 5, padding="valid", activation=activation, name="c3")  # 10x10x16
    x = pool(2, name="s4")(x)  # 5x5x16
    x = conv_act(x, 120, 5, padding="valid", activation=activation, name="c5")  # 1x1x120
    x = keras.layers.Flatten(name="flatten")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="c5_dropout")(x)
    x = keras.layers.Dense(84, activation=activation, name="f6")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="f6_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="lenet5")

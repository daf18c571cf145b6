"""LeNet-5, written straight down like Figure 2 of LeCun et al. (1998)."""

from __future__ import annotations

import keras

from kerasnets.blocks import LEAKY_SLOPE, conv_act, dense_act, pool, pooled_filters
from kerasnets.choices import DenseActivation, Padding, Pooling
from kerasnets.models.base import register_model


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
    activation: DenseActivation = "tanh",
    pooling: Pooling = "avg",
    dropout: float = 0.0,
    leaky_slope: float = LEAKY_SLOPE,
    pool_p: float = 3.0,
    padding: Padding = "valid",
) -> keras.Model:
    """LeNet-5: C1 conv5x5(6), S2 pool, C3 conv5x5(16), S4 pool, C5 conv5x5(120), F6 84, output.

    Gradient-based learning applied to document recognition, LeCun, Bottou, Bengio,
    Haffner (1998). The 1998 net used tanh and average pooling (the defaults); ``relu`` and
    ``max`` give the modern variant. ``dropout`` is applied after C5 and F6.

    The lectures' blocks: ``activation`` ``maxout`` (C1, C3, C5 and F6 make twice their maps /
    units, then the max over each pair) or ``leaky_relu`` (slope ``leaky_slope``, 0.1);
    ``pooling`` ``l2`` / ``lp`` (norm ``pool_p``) / ``cross_channel_max`` (C1 and C3 make twice
    their maps, pooled over pairs); ``padding`` ``same`` or ``full`` (28 -> 36x36 after C1).
    """
    act = {"activation": activation, "leaky_slope": leaky_slope}
    pooled = {"p": pool_p}
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_act(inputs, pooled_filters(6, pooling), 5, padding=padding, name="c1", **act)  # 28x28x6
    x = pool(x, pooling, 2, name="s2", **pooled)  # 14x14x6
    x = conv_act(x, pooled_filters(16, pooling), 5, padding=padding, name="c3", **act)  # 10x10x16
    x = pool(x, pooling, 2, name="s4", **pooled)  # 5x5x16
    x = conv_act(x, 120, 5, padding=padding, name="c5", **act)  # 1x1x120
    x = keras.layers.Flatten(name="flatten")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name="c5_dropout")(x)
    x = dense_act(x, 84, activation, name="f6", leaky_slope=leaky_slope)
    if dropout:
        x = keras.layers.Dropout(dropout, name="f6_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="lenet5")

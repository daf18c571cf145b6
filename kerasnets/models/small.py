"""The seed-000 comparison of a small CNN with an MLP of about the same size on 28x28x1 digits
("Comparison" slide: CNN vs "Traditional").

The slide's per-layer counts are right (conv 130, dense 294,300, output 3,010; dense 219,800,
78,680, 2,810) but its CNN total of 300,440 is an addition slip: the layers sum to 297,440, the
count this builder has. The MLP total 301,290 is exact.
"""

from __future__ import annotations

from typing import Literal, NamedTuple

import keras

from kerasnets.blocks import LEAKY_SLOPE, conv_act, dense_act, pool, pooled_filters
from kerasnets.choices import DenseActivation, Pooling
from kerasnets.models.base import register_model


class SmallCnn(NamedTuple):
    """One row of seed 000's comparison: convolutions ``(filters, kernel, pool after)``,
    their padding, the hidden dense width (None: straight to the output) and the count."""

    convs: tuple[tuple[int, int, bool], ...]
    padding: str
    hidden: int | None
    params: int


# Seed 000's three CNNs on 28x28x1. "b" and "c" are valid 5x5 / 5x5 / 3x3 convolutions with
# 2x2 pools: 28 -24-12 -8-4 -2(-1). b's second layer has 32 filters: its count 25,632 = 5*5*32*32
# + 32 (the slide's label says 64) and its output layer 330 = 32*10 + 10 reads a 1x1x32 map; c's
# output layer 1,290 = 128*10 + 10 reads the 2x2x32 map, so c has no pool after its last conv.
CNN_SMALL_VARIANTS: dict[str, SmallCnn] = {
    "a": SmallCnn(((5, 5, True),), "same", 300, 297_440),  # 130 + 294,300 + 3,010
    "b": SmallCnn(((32, 5, True), (32, 5, True), (32, 3, True)), "valid", None, 36_042),
    "c": SmallCnn(((64, 5, True), (64, 5, True), (32, 3, False)), "valid", None, 123_882),
}
# MLPs of about the size of each CNN: two hidden layers of ``width`` units (784 inputs, 10 classes)
MLP_SMALL_WIDTHS = {"a": (280, 301_290), "b": (43, 36_087), "c": (133, 123_567)}


@register_model(
    "cnn_small",
    params=297_440,
    input_shape=(28, 28, 1),
    num_classes=10,
    source="seed 000 per-layer counts 130 + 294,300 + 3,010 (the slide's total 300,440 mis-adds them)",
)
def cnn_small(
    input_shape: tuple[int, ...],
    num_classes: int,
    activation: DenseActivation = "relu",
    pooling: Pooling = "max",
    dropout: float = 0.0,
    leaky_slope: float = LEAKY_SLOPE,
    pool_p: float = 3.0,
    variant: Literal["a", "b", "c"] = "a",
) -> keras.Model:
    """One convolution (5 filters, 5x5, ``same``), a 2x2 pool (max, average or L2-norm
    pooling), a 300-unit dense layer, the output: the CNN side of seed 000's comparison
    (LeCun et al. 1998 style convnet vs a plain multi-layer perceptron).

    ``variant`` picks the row of the comparison (``CNN_SMALL_VARIANTS``): ``a`` the above
    (297,440 parameters), ``b`` three convolutions 32-32-32 (36,042), ``c`` 64-64-32 (123,882),
    each followed by a 2x2 pool (not ``c``'s last), flattened into the output layer.

    ``activation="maxout"`` (Goodfellow et al. 2013) makes the convolution 10 linear maps
    max-pooled across pairs of channels and the dense layer maxout units of two pieces;
    ``leaky_relu`` has slope ``leaky_slope``; ``pooling`` also takes ``lp`` (norm ``pool_p``)
    and ``cross_channel_max`` (10 maps, max-pooled over pairs).
    """
    act = {"activation": activation, "leaky_slope": leaky_slope}
    inputs = keras.Input(shape=input_shape, name="image")
    spec = CNN_SMALL_VARIANTS[variant]
    x = inputs
    for i, (filters, kernel, pooled) in enumerate(spec.convs, start=1):
        x = conv_act(
            x, pooled_filters(filters, pooling), kernel, padding=spec.padding, name=f"conv{i}", **act
        )
        if pooled:
            x = pool(x, pooling, 2, p=pool_p, name=f"pool{i}")  # a: 14x14x5; b: 1x1x32; c: 2x2x32 at the end
    x = keras.layers.Flatten(name="flatten")(x)
    if spec.hidden:
        x = dense_act(x, spec.hidden, name="fc1", **act)
    if dropout:
        x = keras.layers.Dropout(dropout, name="fc1_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="cnn_small")


@register_model(
    "mlp_small",
    params=301_290,
    input_shape=(28, 28, 1),
    num_classes=10,
    source="seed 000: dense(280) 219,800 + dense(280) 78,680 + output 2,810",
)
def mlp_small(
    input_shape: tuple[int, ...],
    num_classes: int,
    activation: DenseActivation = "relu",
    dropout: float = 0.0,
    leaky_slope: float = LEAKY_SLOPE,
    width: int = 280,
) -> keras.Model:
    """Two hidden layers of ``width`` units (280: the "traditional" side of seed 000's
    comparison; 43 and 133 match the size of ``cnn_small`` variants b and c, see
    ``MLP_SMALL_WIDTHS``).

    ``activation="maxout"`` uses maxout units with two pieces (Goodfellow et al. 2013), which
    doubles the hidden weights; ``leaky_relu`` has slope ``leaky_slope``.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i in (1, 2):
        x = dense_act(x, width, activation, name=f"fc{i}", leaky_slope=leaky_slope)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mlp_small")

"""The seed-000 comparison of a small CNN with an MLP of about the same size on 28x28x1 digits
("Comparison" slide: CNN vs "Traditional").

The slide's per-layer counts are right (conv 130, dense 294,300, output 3,010; dense 219,800,
78,680, 2,810) but its CNN total of 300,440 is an addition slip: the layers sum to 297,440, the
count this builder has. The MLP total 301,290 is exact.
"""

from __future__ import annotations

import keras

from kerasnets.blocks import LEAKY_SLOPE, conv_act, dense_act, pool, pooled_filters
from kerasnets.choices import DenseActivation, Pooling
from kerasnets.models.base import register_model


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
) -> keras.Model:
    """One convolution (5 filters, 5x5, ``same``), a 2x2 pool (max, average or L2-norm
    pooling), a 300-unit dense layer, the output: the CNN side of seed 000's comparison
    (LeCun et al. 1998 style convnet vs a plain multi-layer perceptron).

    ``activation="maxout"`` (Goodfellow et al. 2013) makes the convolution 10 linear maps
    max-pooled across pairs of channels and the dense layer maxout units of two pieces;
    ``leaky_relu`` has slope ``leaky_slope``; ``pooling`` also takes ``lp`` (norm ``pool_p``)
    and ``cross_channel_max`` (10 maps, max-pooled over pairs).
    """
    act = {"activation": activation, "leaky_slope": leaky_slope}
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_act(inputs, pooled_filters(5, pooling), 5, padding="same", name="conv1", **act)  # 28x28x5
    x = pool(x, pooling, 2, p=pool_p, name="pool1")  # 14x14x5
    x = keras.layers.Flatten(name="flatten")(x)
    x = dense_act(x, 300, name="fc1", **act)
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
) -> keras.Model:
    """Two 280-unit hidden layers, the "traditional" side of seed 000's comparison.

    ``activation="maxout"`` uses maxout units with two pieces (Goodfellow et al. 2013), which
    doubles the hidden weights; ``leaky_relu`` has slope ``leaky_slope``.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i in (1, 2):
        x = dense_act(x, 280, activation, name=f"fc{i}", leaky_slope=leaky_slope)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"fc{i}_dropout")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mlp_small")

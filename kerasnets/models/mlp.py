"""Multi-layer perceptrons: ``f = W2 max(0, W1 x)`` and deeper (lecture seed 004)."""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerasnets.choices import Activation
from kerasnets.models.base import register_model


@register_model(
    "mlp",
    params=79_510,
    input_shape=(28, 28, 1),
    num_classes=10,
    source="784*100+100 + 100*10+10 (hidden=(100,))",
    tasks=("classify", "sequence"),
)
def mlp(
    input_shape: tuple[int, ...],
    num_classes: int,
    hidden: Sequence[int] = (100,),
    activation: Activation = "relu",
    dropout: float = 0.0,
) -> keras.Model:
    """A fully connected network on flattened inputs, trained by back-propagation:
    Rumelhart, Hinton & Williams (1986), "Learning representations by back-propagating errors".

    Args:
        hidden: sizes of the hidden layers; ``(100,)`` is the 2-layer net of the lecture.
        activation: an element-wise Keras activation (``kerasnets.choices.Activation``: sigmoid,
            tanh, relu, leaky_relu, elu...).
        dropout: dropout rate after each hidden layer.
    """
    inputs = keras.Input(shape=input_shape, name="image")
    x = keras.layers.Flatten(name="flatten")(inputs)
    for i, units in enumerate(hidden, start=1):
        x = keras.layers.Dense(units, activation=activation, name=f"fc{i}")(x)
        if dropout:
            x = keras.layers.Dropout(dropout, name=f"dropout{i}")(x)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="predictions")(x)
    return keras.Model(inputs, outputs, name="mlp")

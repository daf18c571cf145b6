"""Classifier heads: builders return features, a head turns them into class scores.

``HEADS`` maps the names of a builder's ``head`` option to heads with one signature,
``head(x, num_classes, *, hidden, dropout)``: ``fc`` (flatten + FC layers: AlexNet, VGG),
``gap`` (global average pooling + FC layers: VGG-GAP, seed 000) and ``nin`` (1x1 convolution to
the classes + global average pooling, no FC layer: Network in Network).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import keras

from kerasnets.blocks.activations import LEAKY_SLOPE, dense_act
from kerasnets.blocks.conv import conv

_GLOBAL_POOLS = {
    ("avg", 3): keras.layers.GlobalAveragePooling1D,
    ("avg", 4): keras.layers.GlobalAveragePooling2D,
    ("max", 3): keras.layers.GlobalMaxPooling1D,
    ("max", 4): keras.layers.GlobalMaxPooling2D,
}


def _pool(x: keras.KerasTensor, pooling: str, name: str) -> keras.KerasTensor:
    layer = keras.layers.Flatten if pooling == "flatten" else _GLOBAL_POOLS[(pooling, len(x.shape))]
    return layer(name=name)(x)


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
    leaky_slope: float = LEAKY_SLOPE,
) -> keras.KerasTensor:
    """Pool or flatten, optional hidden fully connected layers with dropout, then the output.

    ``pooling="flatten"`` with ``hidden=(4096, 4096)`` is the AlexNet/VGG head;
    ``pooling="avg"`` with no hidden layer is the global-average-pooling head (ResNet);
    ``input_dropout`` drops pooled features before the first dense layer (GoogLeNet's 40%).
    Hidden layers take any ``activation`` of :func:`~kerasnets.blocks.dense_act` (maxout,
    leaky ReLU of slope ``leaky_slope``).
    """
    x = _pool(x, pooling, f"{name}_{pooling}")
    if input_dropout:
        x = keras.layers.Dropout(input_dropout, name=f"{name}_dropout0")(x)
    for i, units in enumerate(hidden, start=1):
        x = dense_act(x, units, activation, name=f"{name}_fc{i}", leaky_slope=leaky_slope)
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
    x = _pool(x, "avg", f"{name}_avg")
    return keras.layers.Activation(output_activation, name=f"{name}_predictions")(x)


def fc_head(x, num_classes: int, *, hidden: Sequence[int] = (4096, 4096), dropout: float = 0.0, **act):
    """Flatten, ``hidden`` FC layers each followed by ``dropout``, output (AlexNet, VGG);
    ``act``: ``activation`` and ``leaky_slope`` of the hidden layers."""
    return classifier_head(x, num_classes, pooling="flatten", hidden=hidden, dropout=dropout, **act)


def gap_head(x, num_classes: int, *, hidden: Sequence[int] = (4096,), dropout: float = 0.0, **act):
    """Global average pooling, ``hidden`` FC layers with ``dropout``, output (VGG-GAP)."""
    return classifier_head(x, num_classes, pooling="avg", hidden=hidden, dropout=dropout, **act)


def nin_gap_head(x, num_classes: int, *, hidden: Sequence[int] = (), dropout: float = 0.0, **act):
    """:func:`nin_head` under the common signature (``hidden`` must be empty, no dropout; ``act``
    is unused: there is no hidden layer)."""
    if hidden:
        raise ValueError(f"the NiN head has no hidden layers, got hidden={tuple(hidden)!r}")
    return nin_head(x, num_classes)


HEADS: dict[str, Callable[..., keras.KerasTensor]] = {"fc": fc_head, "gap": gap_head, "nin": nin_gap_head}


def set_head_activation(model: keras.Model, activation: str) -> keras.Model:
    """Give every output layer of a classifier ``activation`` instead of its softmax, in place
    (``model.head_activation``: ``sigmoid`` makes independent per-class probabilities, ``linear``
    raw scores); returns ``model``. The layer keeps its name and weights; the activation is read
    when the layer is called, so training and a saved ``.keras`` file both see the new one."""
    for tensor in model.outputs:
        layer = tensor._keras_history.operation
        current = getattr(getattr(layer, "activation", None), "__name__", None)
        if current != "softmax":
            ends = current or type(layer).__name__
            raise ValueError(
                f"model {model.name!r}: output layer {layer.name!r} ends in {ends}, not softmax: "
                "head_activation applies to classifiers"
            )
        layer.activation = keras.activations.get(activation)
    return model

"""Inception modules and the auxiliary classifier of GoogLeNet (Szegedy et al. 2015,
"Going deeper with convolutions", Figure 2 and Section 5; seed 000 Table 1).

A module runs four branches side by side and concatenates them along the channels:
1x1 | 1x1 reduce -> 3x3 | 1x1 reduce -> 5x5 | 3x3 max pool -> 1x1 projection.
The naive module (Figure 2a) drops the reductions and the projection, so its pooling branch
passes every input channel through and the width grows module after module.
"""

from __future__ import annotations

from typing import NamedTuple

import keras

from kerasnets.blocks.conv import conv_act, conv_bn_act


class InceptionWidths(NamedTuple):
    """One row of Table 1: filters per branch."""

    n1x1: int
    n3x3_reduce: int
    n3x3: int
    n5x5_reduce: int
    n5x5: int
    pool_proj: int

    @property
    def out_channels(self) -> int:
        return self.n1x1 + self.n3x3 + self.n5x5 + self.pool_proj


def conv_relu(
    x: keras.KerasTensor, filters: int, kernel_size: int, *, name: str, batch_norm: bool = False, **kw
) -> keras.KerasTensor:
    """Convolution + ReLU as in the paper, or conv + BN + ReLU (``batch_norm``, Inception v2 style).
    Layer names: ``{name}`` for the plain convolution, ``{name}_conv`` / ``_bn`` / ``_relu`` with BN."""
    if batch_norm:
        return conv_bn_act(x, filters, kernel_size, name=name, **kw)
    return conv_act(x, filters, kernel_size, name=name, **kw)


def inception_module(
    x: keras.KerasTensor,
    widths: InceptionWidths | tuple[int, int, int, int, int, int],
    *,
    name: str,
    naive: bool = False,
    batch_norm: bool = False,
) -> keras.KerasTensor:
    """One inception module; the output layer is ``{name}_concat``.

    With reductions the output has ``n1x1 + n3x3 + n5x5 + pool_proj`` channels; the naive
    module has ``n1x1 + n3x3 + n5x5 + input channels``.
    """
    w = InceptionWidths(*widths)
    kw = {"batch_norm": batch_norm}
    b1 = conv_relu(x, w.n1x1, 1, name=f"{name}_1x1", **kw)
    b3 = x if naive else conv_relu(x, w.n3x3_reduce, 1, name=f"{name}_3x3_reduce", **kw)
    b3 = conv_relu(b3, w.n3x3, 3, name=f"{name}_3x3", **kw)
    b5 = x if naive else conv_relu(x, w.n5x5_reduce, 1, name=f"{name}_5x5_reduce", **kw)
    b5 = conv_relu(b5, w.n5x5, 5, name=f"{name}_5x5", **kw)
    bp = keras.layers.MaxPooling2D(3, strides=1, padding="same", name=f"{name}_pool")(x)
    if not naive:
        bp = conv_relu(bp, w.pool_proj, 1, name=f"{name}_pool_proj", **kw)
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([b1, b3, b5, bp])


def aux_classifier(
    x: keras.KerasTensor,
    num_classes: int,
    *,
    name: str,
    dropout: float = 0.7,
    batch_norm: bool = False,
) -> keras.KerasTensor:
    """GoogLeNet's auxiliary classifier: 5x5/3 average pool, 1x1 conv(128), FC 1024, dropout
    70%, softmax (output layer ``{name}_predictions``). An extra loss during training only.

    On inputs smaller than the paper's 14x14 the pooling window shrinks to the feature map.
    """
    size = min(5, *(d for d in x.shape[1:3] if d is not None))
    x = keras.layers.AveragePooling2D(size, strides=3, name=f"{name}_pool")(x)
    x = conv_relu(x, 128, 1, name=f"{name}_conv", batch_norm=batch_norm)
    x = keras.layers.Flatten(name=f"{name}_flatten")(x)
    x = keras.layers.Dense(1024, activation="relu", name=f"{name}_fc")(x)
    if dropout:
        x = keras.layers.Dropout(dropout, name=f"{name}_dropout")(x)
    return keras.layers.Dense(num_classes, activation="softmax", name=f"{name}_predictions")(x)

"""Dense blocks and transitions (Huang et al. 2017, "Densely connected convolutional
networks"; seed 003). Every layer sees the concatenation of all earlier maps in its block and
adds ``growth_rate`` new ones; transitions compress the channels and halve the resolution.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras

from kerasnets.blocks.conv import bn_act_conv
from kerasnets.blocks.droppath import drop_path as drop_features


def _dropout(x: keras.KerasTensor, rate: float, *, name: str) -> keras.KerasTensor:
    return keras.layers.Dropout(rate, name=name)(x) if rate else x


def dense_layer(
    x: keras.KerasTensor,
    growth_rate: int,
    *,
    name: str,
    bottleneck: bool = True,
    dropout: float = 0.0,
    drop_path: float = 0.0,
) -> keras.KerasTensor:
    """BN-ReLU-conv1x1(4k) [the "B" in DenseNet-BC], BN-ReLU-conv3x3(k), concatenated onto ``x``.

    Layers ``{name}_1_*`` (bottleneck), ``{name}_2_*`` (3x3) and ``{name}_concat``; dropout
    after each convolution when ``dropout`` > 0 (the paper's setting without augmentation);
    ``drop_path`` > 0 drops the layer's new features per example in training
    (``{name}_drop_path``: stochastic depth for a dense layer).
    """
    y = x
    if bottleneck:
        y = bn_act_conv(y, 4 * growth_rate, 1, name=f"{name}_1")
        y = _dropout(y, dropout, name=f"{name}_1_dropout")
    y = bn_act_conv(y, growth_rate, 3, name=f"{name}_2")
    y = _dropout(y, dropout, name=f"{name}_2_dropout")
    y = drop_features(y, drop_path, name=f"{name}_drop_path")
    return keras.layers.Concatenate(axis=-1, name=f"{name}_concat")([x, y])


def dense_block(
    x: keras.KerasTensor,
    layers: int,
    growth_rate: int,
    *,
    name: str,
    bottleneck: bool = True,
    dropout: float = 0.0,
    drop_rates: Sequence[float] | None = None,
) -> keras.KerasTensor:
    """``layers`` dense layers ``{name}_layer1..``: channels grow by ``layers * growth_rate``;
    ``drop_rates``: each layer's stochastic-depth rate (none when null)."""
    rates = list(drop_rates) if drop_rates is not None else [0.0] * layers
    if len(rates) != layers:
        raise ValueError(f"{name}: {len(rates)} drop rates for {layers} layers")
    for i, rate in enumerate(rates, start=1):
        x = dense_layer(
            x, growth_rate, name=f"{name}_layer{i}", bottleneck=bottleneck, dropout=dropout, drop_path=rate
        )
    return x


def transition_block(
    x: keras.KerasTensor,
    *,
    name: str,
    compression: float = 0.5,
    dropout: float = 0.0,
) -> keras.KerasTensor:
    """BN-ReLU-conv1x1 to ``floor(compression * C)`` maps, then 2x2 average pooling (stride 2)."""
    x = bn_act_conv(x, int(x.shape[-1] * compression), 1, name=name)
    x = _dropout(x, dropout, name=f"{name}_dropout")
    return keras.layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)

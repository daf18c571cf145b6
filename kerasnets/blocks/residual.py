"""Residual blocks (He et al. 2016, "Deep residual learning for image recognition"; pre-activation
variant: He et al. 2016, "Identity mappings in deep residual networks"). Seeds 000, 001, 003.

``basic_block``: two 3x3 convolutions (ResNet-18/34 and the CIFAR ResNets).
``bottleneck_block``: 1x1 reduce, 3x3, 1x1 expand x4 (ResNet-50/101/152).
Shortcuts: identity when the shape is kept; otherwise option A (subsample and zero-pad the
extra channels, no parameters) or option B (1x1 projection + BN); ``none`` builds the plain
counterpart (no shortcut and no addition at all: the "plain" nets of He et al.'s degradation
experiment, Fig. 4 and Table 2). ``attention`` names an
``ATTENTION`` block applied to the residual branch before the addition (SE-ResNet).
``drop_path`` > 0 drops the whole residual branch per example in training (stochastic depth,
Huang et al. 2016; ``{name}_drop_path``), after attention and before the addition.
``preact=True`` gives the v2 order BN-ReLU-conv with a clean identity path. ``rank=1`` builds
the same blocks from 1-D convolutions over time (sequences ``(T, F)``: ECG-style residual CNNs);
the default ``rank=2`` is the image block.
Layer names: ``{name}_{i}_conv`` / ``_bn`` / ``_relu`` for the i-th convolution, ``{name}_0_*``
for the shortcut, ``{name}_add``, ``{name}_out`` (v1).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import keras
from keras import ops

from kerasnets.blocks.attention import apply_attention
from kerasnets.blocks.conv import batch_norm, bn_act_conv, conv, conv_bn_act
from kerasnets.blocks.droppath import drop_path as drop_branch

Shortcut = Literal["A", "B", "none"]
#: The shortcut value that builds a plain (shortcut-free) block.
PLAIN = "none"
Rank = Literal[1, 2]

#: The option-A subsampling layer by convolution rank (a 1-wide max pool with a stride).
SUBSAMPLE: dict[int, type[keras.layers.Layer]] = {1: keras.layers.MaxPooling1D, 2: keras.layers.MaxPooling2D}


@keras.saving.register_keras_serializable(package="kerasnets")
class ZeroPadChannels(keras.layers.Layer):
    """Append ``before`` and ``after`` all-zero channels (the option-A shortcut of He et al.)."""

    def __init__(self, before: int = 0, after: int = 0, **kwargs) -> None:
        super().__init__(**kwargs)
        self.before, self.after = int(before), int(after)

    def call(self, inputs):
        pad = [[0, 0]] * (len(inputs.shape) - 1) + [[self.before, self.after]]
        return ops.pad(inputs, pad)

    def compute_output_shape(self, input_shape):
        channels = input_shape[-1]
        return (*input_shape[:-1], None if channels is None else channels + self.before + self.after)

    def get_config(self) -> dict:
        return {**super().get_config(), "before": self.before, "after": self.after}


def zero_pad_shortcut(x, filters: int, strides: int, *, name: str, rank: Rank = 2, **_) -> keras.KerasTensor:
    """Option A: take every ``strides``-th pixel, pad the new channels with zeros (both sides)."""
    if strides > 1:
        x = SUBSAMPLE[rank](1, strides=strides, name=f"{name}_0_subsample")(x)
    extra = filters - x.shape[-1]
    return ZeroPadChannels(extra // 2, extra - extra // 2, name=f"{name}_0_pad")(x) if extra else x


def projection_shortcut(
    x,
    filters: int,
    strides: int,
    *,
    name: str,
    use_bias: bool = False,
    normalize: bool = True,
    rank: Rank = 2,
) -> keras.KerasTensor:
    """Option B: a strided 1x1 convolution to ``filters`` maps, then BN (v1; v2 omits BN)."""
    x = conv(x, filters, 1, strides=strides, use_bias=use_bias, rank=rank, name=f"{name}_0_conv")
    return batch_norm(x, name=f"{name}_0_bn") if normalize else x


SHORTCUTS: dict[str, Callable[..., keras.KerasTensor]] = {"A": zero_pad_shortcut, "B": projection_shortcut}


def _shortcut(x, filters, strides, *, name, shortcut, use_bias, preact, rank) -> keras.KerasTensor | None:
    """The skip path's tensor, or ``None`` for a plain block (``shortcut="none"``)."""
    if shortcut not in (*SHORTCUTS, PLAIN):
        raise ValueError(f"unknown shortcut {shortcut!r}; valid: {', '.join([*SHORTCUTS, PLAIN])}")
    if shortcut == PLAIN:
        return None
    if strides == 1 and x.shape[-1] == filters:
        return x
    return SHORTCUTS[shortcut](
        x, filters, strides, name=name, use_bias=use_bias, normalize=not preact, rank=rank
    )


def _residual_v1(x, convs, *, name, shortcut, attention, conv_bias, rank, drop_path) -> keras.KerasTensor:
    """conv-BN-ReLU ... conv-BN, [attention], add the shortcut, ReLU (He et al. 2016a); a plain
    block (no shortcut) ends conv-BN-ReLU."""
    strides = max(s for _, _, s in convs)
    skip = _shortcut(
        x, convs[-1][0], strides, name=name, shortcut=shortcut, use_bias=conv_bias, preact=False, rank=rank
    )
    y = x
    for i, (filters, kernel, stride) in enumerate(convs, start=1):
        activation = "relu" if i < len(convs) else None  # the last ReLU comes after the addition
        y = conv_bn_act(
            y, filters, kernel, strides=stride, activation=activation, use_bias=conv_bias, rank=rank,
            name=f"{name}_{i}",
        )  # fmt: skip
    y = apply_attention(y, attention, name=name)
    if skip is not None:
        y = drop_branch(y, drop_path, name=f"{name}_drop_path")
        y = keras.layers.Add(name=f"{name}_add")([skip, y])
    return keras.layers.Activation("relu", name=f"{name}_out")(y)


def _residual_v2(x, convs, *, name, shortcut, attention, conv_bias, rank, drop_path) -> keras.KerasTensor:
    """BN-ReLU-conv ... BN-ReLU-conv, [attention], add: nothing on the identity path (He et al. 2016b)."""
    strides = max(s for _, _, s in convs)
    pre = keras.layers.Activation("relu", name=f"{name}_preact_relu")(batch_norm(x, name=f"{name}_preact_bn"))
    # A projection sees the pre-activated input; identity and zero-padding shortcuts the raw one.
    source = pre if shortcut == "B" else x
    skip = _shortcut(
        source, convs[-1][0], strides, name=name, shortcut=shortcut, use_bias=conv_bias, preact=True,
        rank=rank,
    )  # fmt: skip
    if skip is source and skip is not None:
        skip = x  # identity: keep the un-normalised input
    filters, kernel, stride = convs[0]
    y = conv(pre, filters, kernel, strides=stride, use_bias=conv_bias, rank=rank, name=f"{name}_1_conv")
    for i, (filters, kernel, stride) in enumerate(convs[1:], start=2):
        y = bn_act_conv(y, filters, kernel, strides=stride, use_bias=conv_bias, rank=rank, name=f"{name}_{i}")
    y = apply_attention(y, attention, name=name)
    if skip is None:
        return y
    y = drop_branch(y, drop_path, name=f"{name}_drop_path")
    return keras.layers.Add(name=f"{name}_add")([skip, y])


def _residual(
    x, convs, *, name, shortcut, attention, preact, conv_bias, rank, drop_path
) -> keras.KerasTensor:
    """``convs``: ``(filters, kernel, strides)`` of the residual branch, in order."""
    if len(x.shape) != rank + 2:
        raise ValueError(
            f"{name}: rank={rank} expects inputs (batch, {rank} spatial axes, channels), "
            f"got shape {tuple(x.shape)}"
        )
    body = _residual_v2 if preact else _residual_v1
    return body(
        x, convs, name=name, shortcut=shortcut, attention=attention, conv_bias=conv_bias, rank=rank,
        drop_path=drop_path,
    )  # fmt: skip


def basic_block(
    x: keras.KerasTensor,
    filters: int,
    *,
    name: str,
    strides: int = 1,
    shortcut: Shortcut = "B",
    attention: str | None = None,
    preact: bool = False,
    conv_bias: bool = False,
    kernel_size: int = 3,
    rank: Rank = 2,
    drop_path: float = 0.0,
) -> keras.KerasTensor:
    """3x3 (stride ``strides``) and 3x3 convolutions, ``filters`` maps out; ``kernel_size``
    changes the 3, ``rank=1`` convolves over time only."""
    convs = [(filters, kernel_size, strides), (filters, kernel_size, 1)]
    return _residual(
        x, convs, name=name, shortcut=shortcut, attention=attention, preact=preact, conv_bias=conv_bias,
        rank=rank, drop_path=drop_path,
    )  # fmt: skip


def bottleneck_block(
    x: keras.KerasTensor,
    filters: int,
    *,
    name: str,
    strides: int = 1,
    shortcut: Shortcut = "B",
    attention: str | None = None,
    preact: bool = False,
    conv_bias: bool = False,
    expansion: int = 4,
    kernel_size: int = 3,
    rank: Rank = 2,
    drop_path: float = 0.0,
) -> keras.KerasTensor:
    """1x1 (``filters``), 3x3 (``filters``), 1x1 (``expansion * filters``) convolutions.

    v1 strides the first 1x1 convolution as in the original Caffe model and
    ``keras.applications.ResNet50``; v2 strides the 3x3 (fb.resnet.torch pre-activation nets).
    ``kernel_size`` widens the middle convolution; ``rank=1`` convolves over time only.
    """
    first, middle = (1, strides) if preact else (strides, 1)
    convs = [(filters, 1, first), (filters, kernel_size, middle), (expansion * filters, 1, 1)]
    return _residual(
        x, convs, name=name, shortcut=shortcut, attention=attention, preact=preact, conv_bias=conv_bias,
        rank=rank, drop_path=drop_path,
    )  # fmt: skip


BLOCKS: dict[str, Callable[..., keras.KerasTensor]] = {"basic": basic_block, "bottleneck": bottleneck_block}


def residual_stage(
    x: keras.KerasTensor,
    block: Literal["basic", "bottleneck"],
    filters: int,
    depth: int,
    *,
    name: str,
    strides: int = 1,
    drop_rates: Sequence[float] | None = None,
    **block_kwargs,
) -> keras.KerasTensor:
    """``depth`` blocks named ``{name}_block1..``; only the first one strides. ``drop_rates``:
    each block's stochastic-depth rate (none when null). ``block_kwargs`` go to every block
    (``shortcut``, ``attention``, ``preact``, ``kernel_size``, ``rank``...)."""
    make = BLOCKS[block]
    rates = list(drop_rates) if drop_rates is not None else [0.0] * depth
    if len(rates) != depth:
        raise ValueError(f"{name}: {len(rates)} drop rates for {depth} blocks")
    for i, rate in enumerate(rates, start=1):
        x = make(
            x, filters, strides=strides if i == 1 else 1, name=f"{name}_block{i}", drop_path=rate,
            **block_kwargs,
        )  # fmt: skip
    return x

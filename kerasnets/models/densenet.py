"""DenseNets: Huang, Liu, van der Maaten, Weinberger (2017), "Densely connected convolutional
networks" (seed 003). One generic ``densenet()``; ImageNet sizes 121/169/201 are rows of a table
and the CIFAR DenseNet-BC takes its depth and growth rate as options.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import keras

from kerasnets.blocks import batch_norm, classifier_head, conv, dense_block, drop_rates, transition_block
from kerasnets.models.base import register_model

#: ImageNet DenseNet-BC layers per dense block (Table 1 of Huang et al.), growth rate 32.
DENSENET_BLOCKS: dict[int, tuple[int, ...]] = {
    121: (6, 12, 24, 16),
    169: (6, 12, 32, 32),
    201: (6, 12, 48, 32),
}


def imagenet_stem(x: keras.KerasTensor, filters: int) -> keras.KerasTensor:
    """7x7/2 convolution, BN-ReLU, 3x3/2 max pool (224 -> 56), as ``keras.applications``."""
    x = conv(x, filters, 7, strides=2, padding=3, use_bias=False, name="stem_conv")
    x = keras.layers.Activation("relu", name="stem_relu")(batch_norm(x, name="stem_bn"))
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)


def cifar_stem(x: keras.KerasTensor, filters: int) -> keras.KerasTensor:
    """One 3x3 convolution (the first dense layer normalises it)."""
    return conv(x, filters, 3, padding="same", use_bias=False, name="stem_conv")


STEMS: dict[str, Callable[..., keras.KerasTensor]] = {"imagenet": imagenet_stem, "cifar": cifar_stem}


def densenet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    blocks: Sequence[int],
    growth_rate: int,
    stem: Literal["imagenet", "cifar"],
    compression: float = 0.5,
    bottleneck: bool = True,
    dropout: float = 0.0,
    drop_path: float = 0.0,
    name: str = "densenet",
) -> keras.Model:
    """Stem with ``2 * growth_rate`` maps, dense blocks of ``blocks[i]`` layers separated by
    transitions (``compression``), final BN-ReLU, global average pooling, softmax.
    ``drop_path``: stochastic depth of the dense layers' new features, the last layer's rate
    (earlier layers' fall linearly)."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = STEMS[stem](inputs, 2 * growth_rate)
    rates = drop_rates(drop_path, sum(blocks))
    for i, layers in enumerate(blocks, start=1):
        x = dense_block(
            x, layers, growth_rate, name=f"stage{i}", bottleneck=bottleneck, dropout=dropout,
            drop_rates=rates[sum(blocks[: i - 1]) : sum(blocks[:i])],
        )  # fmt: skip
        if i < len(blocks):
            x = transition_block(x, name=f"transition{i}", compression=compression, dropout=dropout)
    x = keras.layers.Activation("relu", name="post_relu")(batch_norm(x, name="post_bn"))
    outputs = classifier_head(x, num_classes, pooling="avg")
    return keras.Model(inputs, outputs, name=name)


#: name -> parameters at 224x224x3 / 1000 classes (``count_params``, BN statistics included)
DENSENET_PARAMS = {
    121: (8_062_504, "keras.applications.DenseNet121"),
    169: (14_307_880, "keras.applications.DenseNet169"),
    201: (20_242_984, "keras.applications.DenseNet201"),
}


def _entrypoint(name: str, depth: int) -> Callable[..., keras.Model]:
    def builder(
        input_shape: tuple[int, ...], num_classes: int, dropout: float = 0.0, drop_path: float = 0.0
    ) -> keras.Model:
        return densenet(
            input_shape, num_classes, blocks=DENSENET_BLOCKS[depth], growth_rate=32, stem="imagenet",
            dropout=dropout, drop_path=drop_path, name=name,
        )  # fmt: skip

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = (
        f'DenseNet-{depth}: Huang et al. (2017), "Densely connected convolutional networks", '
        f"Table 1: dense blocks of {DENSENET_BLOCKS[depth]} bottleneck layers, growth rate 32, "
        "compression 0.5. ``dropout`` after every convolution (0 in the ImageNet models); "
        "``drop_path``: stochastic depth of each dense layer's new features (the last layer's rate). "
        "Any input of at least 32x32 works."
    )
    return builder


for _depth, (_params, _source) in DENSENET_PARAMS.items():
    _name = f"densenet{_depth}"
    globals()[_name] = register_model(
        _name, params=_params, input_shape=(224, 224, 3), num_classes=1000, source=_source
    )(_entrypoint(_name, _depth))


@register_model(
    "densenet_bc",
    params=793_150,
    input_shape=(32, 32, 3),
    num_classes=10,
    source="computed (depth 100, k=12; 769,162 trainable + 23,988 BN statistics); paper: 0.8M",
    variants=[({"depth": 40}, 181_210), ({"depth": 250, "growth_rate": 24}, 15_582_382)],
)
def densenet_bc(
    input_shape: tuple[int, ...],
    num_classes: int,
    depth: int = 100,
    growth_rate: int = 12,
    compression: float = 0.5,
    dropout: float = 0.0,
    drop_path: float = 0.0,
) -> keras.Model:
    """DenseNet-BC for CIFAR: Huang et al. (2017), "Densely connected convolutional networks",
    Section 3: a 3x3 stem of ``2 * growth_rate`` maps and three dense blocks of
    ``(depth - 4) / 6`` bottleneck layers (32x32, 16x16, 8x8) joined by transitions that keep
    ``compression`` of the channels. ``depth`` 100 and ``growth_rate`` 12 give the paper's
    0.8M-parameter net; ``dropout`` (0.2 in the paper without augmentation) follows each
    convolution; ``drop_path`` drops each dense layer's new features per example in training
    (stochastic depth, the last layer's rate).
    """
    if depth < 10 or (depth - 4) % 6:
        raise ValueError(f"DenseNet-BC depth must be 6n + 4 (e.g. 40, 100, 190), got {depth!r}")
    n = (depth - 4) // 6
    return densenet(
        input_shape, num_classes, blocks=(n, n, n), growth_rate=growth_rate, stem="cifar",
        compression=compression, dropout=dropout, drop_path=drop_path, name="densenet_bc",
    )  # fmt: skip

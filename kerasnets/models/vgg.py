"""VGG configurations A-E (Simonyan & Zisserman 2014, "Very deep convolutional networks for
large-scale image recognition", Table 1; seed 000). One table, one builder.

Each configuration lists its five stages, each ending in a 2x2 max pool; layers are written
as in the paper: ``conv3-64`` is a 3x3 convolution to 64 maps, ``conv1-256`` a 1x1
convolution, ``LRN`` local response normalisation. Layer names follow ``keras.applications``
(``block1_conv1``, ``block1_pool``) so weights transfer by name.
"""

from __future__ import annotations

from typing import Literal

import keras

from kerasnets.blocks import (
    HEADS,
    LEAKY_SLOPE,
    conv_act,
    conv_bn_act,
    local_response_norm,
    pool,
    pooled_filters,
)
from kerasnets.choices import DenseActivation, Padding, Pooling
from kerasnets.models.base import register_model

_A = (("conv3-64",), ("conv3-128",), ("conv3-256",) * 2, ("conv3-512",) * 2, ("conv3-512",) * 2)
_B = (("conv3-64",) * 2, ("conv3-128",) * 2, ("conv3-256",) * 2, ("conv3-512",) * 2, ("conv3-512",) * 2)
VGG_CONFIGS: dict[str, tuple[tuple[str, ...], ...]] = {
    "A": _A,
    "A-LRN": (("conv3-64", "LRN"), *_A[1:]),
    "B": _B,
    "C": (*_B[:2], ("conv3-256",) * 2 + ("conv1-256",), *((("conv3-512",) * 2 + ("conv1-512",),) * 2)),
    "D": (*_B[:2], ("conv3-256",) * 3, ("conv3-512",) * 3, ("conv3-512",) * 3),
    "E": (*_B[:2], ("conv3-256",) * 4, ("conv3-512",) * 4, ("conv3-512",) * 4),
}

Head = Literal["fc", "gap"]


def vgg_stage(
    x: keras.KerasTensor,
    layers: tuple[str, ...],
    *,
    name: str,
    batch_norm: bool,
    activation: str = "relu",
    leaky_slope: float = LEAKY_SLOPE,
    pooling: str = "max",
    pool_p: float = 3.0,
    padding: str = "same",
) -> keras.KerasTensor:
    """One stage of a configuration (``conv<k>-<filters>`` / ``LRN`` entries) plus its 2x2 pool
    (``pooling``; the stage's last convolution makes twice its maps before ``cross_channel_max``)."""
    block = conv_bn_act if batch_norm else conv_act
    last_conv = max(i for i, layer in enumerate(layers, start=1) if layer != "LRN")
    for i, layer in enumerate(layers, start=1):
        if layer == "LRN":
            x = local_response_norm(x, name=f"{name}_lrn")
            continue
        kind, filters = layer.split("-")
        filters = pooled_filters(int(filters), pooling) if i == last_conv else int(filters)
        x = block(
            x, filters, int(kind.removeprefix("conv")), padding=padding, name=f"{name}_conv{i}",
            activation=activation, leaky_slope=leaky_slope,
        )  # fmt: skip
    return pool(x, pooling, 2, strides=2, p=pool_p, name=f"{name}_pool")


def vgg(
    input_shape: tuple[int, ...],
    num_classes: int,
    config: str,
    *,
    head: Head = "fc",
    dropout: float = 0.5,
    batch_norm: bool = False,
    fc_units: int = 4096,
    name: str = "vgg",
    activation: str = "relu",
    leaky_slope: float = LEAKY_SLOPE,
    pooling: str = "max",
    pool_p: float = 3.0,
    padding: str = "same",
) -> keras.Model:
    """Configuration ``config`` of ``VGG_CONFIGS`` plus a head: ``fc`` = flatten, two FC
    ``fc_units`` layers with dropout (the paper); ``gap`` = global average pooling and one FC
    layer (seed 000: 20.9M instead of 138M parameters for D). ``activation`` (convolutions and
    hidden FC layers), ``pooling`` and ``padding`` as in :func:`vgg_stage`."""
    act = {"activation": activation, "leaky_slope": leaky_slope}
    inputs = keras.Input(shape=input_shape, name="image")
    x = inputs
    for s, layers in enumerate(VGG_CONFIGS[config], start=1):
        x = vgg_stage(
            x, layers, name=f"block{s}", batch_norm=batch_norm, pooling=pooling, pool_p=pool_p,
            padding=padding, **act,
        )  # fmt: skip
    hidden = (fc_units,) * (2 if head == "fc" else 1)
    outputs = HEADS[head](x, num_classes, hidden=hidden, dropout=dropout, **act)
    return keras.Model(inputs, outputs, name=name)


#: registry name -> (configuration, parameters with the FC head at 224x224x3 / 1000 classes, source)
VGG_VARIANTS = {
    "vgg11": ("A", 132_863_336, "torchvision vgg11 / computed"),
    "vgg11_lrn": ("A-LRN", 132_863_336, "A plus a parameter-free LRN layer"),
    "vgg13": ("B", 133_047_848, "torchvision vgg13 / computed"),
    "vgg16_c": ("C", 133_638_952, "computed: B + conv1-256 + 2 x conv1-512"),
    "vgg16": ("D", 138_357_544, "seed 000 table; keras.applications.VGG16"),
    "vgg19": ("E", 143_667_240, "keras.applications.VGG19"),
}


def _entrypoint(name: str, config: str) -> None:
    def builder(
        input_shape: tuple[int, ...],
        num_classes: int,
        head: Head = "fc",
        dropout: float = 0.5,
        batch_norm: bool = False,
        fc_units: int = 4096,
        activation: DenseActivation = "relu",
        leaky_slope: float = LEAKY_SLOPE,
        pooling: Pooling = "max",
        pool_p: float = 3.0,
        padding: Padding = "same",
    ) -> keras.Model:
        return vgg(
            input_shape, num_classes, config,
            head=head, dropout=dropout, batch_norm=batch_norm, fc_units=fc_units, name=name,
            activation=activation, leaky_slope=leaky_slope, pooling=pooling, pool_p=pool_p,
            padding=padding,
        )  # fmt: skip

    builder.__name__ = builder.__qualname__ = name
    builder.__doc__ = (
        f'VGG configuration {config} ({name}): Simonyan & Zisserman (2014), "Very deep '
        'convolutional networks for large-scale image recognition", Table 1.\n\n'
        f"Stages: {' | '.join(', '.join(stage) for stage in VGG_CONFIGS[config])}, each then a "
        "2x2 max pool. ``head``: ``fc`` (two FC layers, the paper) or ``gap`` (global average "
        "pooling + one FC); ``dropout`` after each FC layer (0.5 in the paper); ``batch_norm`` "
        "inserts BN after every convolution (a later variant, handy from scratch); ``fc_units`` "
        "is the width of the FC layers (4096). Any input of at least 32x32 works. The lectures' "
        "blocks: ``activation`` of every convolution and hidden FC layer (``maxout``: twice the "
        "maps / units, max over pairs; ``leaky_relu`` of slope ``leaky_slope``); ``pooling`` of "
        "the five 2x2 pools (``avg``, ``l2``, ``lp`` of norm ``pool_p``, ``cross_channel_max``: "
        "each stage's last convolution makes twice its maps); ``padding`` of every convolution "
        "(``same`` in the paper; ``valid`` or ``full``)."
    )
    _, params, source = VGG_VARIANTS[name]
    variants = [({"head": "gap"}, 20_912_936)] if name == "vgg16" else []
    register_model(
        name, params=params, input_shape=(224, 224, 3), num_classes=1000, source=source, variants=variants
    )(builder)
    globals()[name] = builder


for _name, (_config, _, _) in VGG_VARIANTS.items():
    _entrypoint(_name, _config)

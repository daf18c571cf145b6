"""ResNets: He, Zhang, Ren, Sun (2016), "Deep residual learning for image recognition"; v2 from
He et al. (2016), "Identity mappings in deep residual networks"; SE from Hu et al. (2018).

One generic ``resnet()`` turns a table row into stem, residual stages and head. ImageNet
depths 18-152 (4 stages, 64-512 base filters, 7x7/2 stem + max pool) and the CIFAR family
20-1202 (3 stages of 16/32/64 filters, 3x3 stem, ``n = (depth - 2) / 6`` basic blocks each).
SE-ResNets are the same builder with ``attention="se"``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

import keras

from kerasnets.blocks import batch_norm, classifier_head, conv, drop_rates, residual_stage
from kerasnets.blocks.residual import Shortcut
from kerasnets.models.base import register_model

Attention = Literal["se"] | None

#: ImageNet depths: block type and blocks per stage (Table 1 of He et al.).
RESNET_DEPTHS: dict[int, tuple[str, tuple[int, ...]]] = {
    18: ("basic", (2, 2, 2, 2)),
    34: ("basic", (3, 4, 6, 3)),
    50: ("bottleneck", (3, 4, 6, 3)),
    101: ("bottleneck", (3, 4, 23, 3)),
    152: ("bottleneck", (3, 8, 36, 3)),
}
#: CIFAR depths 6n + 2 (Section 4.2 of He et al.): n basic blocks in each of 3 stages.
CIFAR_DEPTHS = {20: 3, 32: 5, 44: 7, 56: 9, 110: 18, 1202: 200}


def imagenet_stem(x: keras.KerasTensor, *, preact: bool, conv_bias: bool) -> keras.KerasTensor:
    """7x7/2 convolution to 64 maps (+ BN-ReLU in v1), 3x3/2 max pool: 224 -> 56."""
    x = conv(x, 64, 7, strides=2, padding=3, use_bias=conv_bias, name="stem_conv")
    if not preact:
        x = keras.layers.Activation("relu", name="stem_relu")(batch_norm(x, name="stem_bn"))
    x = keras.layers.ZeroPadding2D(1, name="stem_pool_pad")(x)
    return keras.layers.MaxPooling2D(3, strides=2, name="stem_pool")(x)


def cifar_stem(x: keras.KerasTensor, *, preact: bool, conv_bias: bool) -> keras.KerasTensor:
    """3x3 convolution to 16 maps (+ BN-ReLU in v1), resolution kept."""
    x = conv(x, 16, 3, padding="same", use_bias=conv_bias, name="stem_conv")
    if not preact:
        x = keras.layers.Activation("relu", name="stem_relu")(batch_norm(x, name="stem_bn"))
    return x


STEMS: dict[str, Callable[..., keras.KerasTensor]] = {"imagenet": imagenet_stem, "cifar": cifar_stem}


def resnet(
    input_shape: tuple[int, ...],
    num_classes: int,
    *,
    block: Literal["basic", "bottleneck"],
    depths: Sequence[int],
    filters: Sequence[int],
    stem: Literal["imagenet", "cifar"],
    shortcut: Shortcut = "B",
    preact: bool = False,
    conv_bias: bool = False,
    attention: Attention = None,
    dropout: float = 0.0,
    drop_path: float = 0.0,
    name: str = "resnet",
) -> keras.Model:
    """Stem, one ``residual_stage`` per ``(filters, depth)`` (stages after the first stride 2),
    [v2: final BN-ReLU], global average pooling, optional ``dropout``, softmax output.
    ``drop_path``: stochastic depth, the last block's drop rate (earlier blocks' fall linearly)."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = STEMS[stem](inputs, preact=preact, conv_bias=conv_bias)
    rates = drop_rates(drop_path, sum(depths))
    for s, (width, depth) in enumerate(zip(filters, depths, strict=True), start=1):
        x = residual_stage(
            x, block, width, depth, name=f"stage{s}", strides=1 if s == 1 else 2,
            shortcut=shortcut, attention=attention, preact=preact, conv_bias=conv_bias,
            drop_rates=rates[sum(depths[: s - 1]) : sum(depths[:s])],
        )  # fmt: skip
    if preact:
        x = keras.layers.Activation("relu", name="post_relu")(batch_norm(x, name="post_bn"))
    outputs = classifier_head(x, num_classes, pooling="avg", input_dropout=dropout)
    return keras.Model(inputs, outputs, name=name)


def _imagenet_entrypoint(name: str, depth: int, attention: Attention) -> Callable[..., keras.Model]:
    block, depths = RESNET_DEPTHS[depth]

    def builder(
        input_shape: tuple[int, ...],
        num_classes: int,
        conv_bias: bool = False,
        preact: bool = False,
        attention: Attention = attention,
        dropout: float = 0.0,
        drop_path: float = 0.0,
    ) -> keras.Model:
        return resnet(
            input_shape, num_classes, block=block, depths=depths, filters=(64, 128, 256, 512),
            stem="imagenet", shortcut="B", preact=preact, conv_bias=conv_bias,
            attention=attention, dropout=dropout, drop_path=drop_path, name=name,
        )  # fmt: skip

    se = " with squeeze-and-excitation in every block (Hu et al. 2018, reduction 16)" if attention else ""
    builder.__doc__ = (
        f'ResNet-{depth}{se}: He et al. (2016), "Deep residual learning for image recognition", '
        f"Table 1: {block} blocks {depths} over 64/128/256/512 base filters, projection shortcuts "
        "(option B) where the shape changes.\n\n"
        "``conv_bias`` gives every convolution a bias (as ``keras.applications.ResNet50``; the "
        "bias before BN is redundant, hence off by default); ``preact`` builds v2 (He et al. 2016, "
        '"Identity mappings in deep residual networks"); ``attention`` names a block from '
        "``kerasnets.blocks.ATTENTION``; ``dropout`` (not in the paper) precedes the output "
        "layer; ``drop_path`` is stochastic depth (Huang et al. 2016: the last block's rate). "
        "Any input of at least 32x32 works."
    )
    return builder


def _cifar_entrypoint(name: str, depth: int) -> Callable[..., keras.Model]:
    n = CIFAR_DEPTHS[depth]

    def builder(
        input_shape: tuple[int, ...],
        num_classes: int,
        shortcut: Shortcut = "A",
        preact: bool = False,
        conv_bias: bool = False,
        attention: Attention = None,
        dropout: float = 0.0,
        drop_path: float = 0.0,
    ) -> keras.Model:
        return resnet(
            input_shape, num_classes, block="basic", depths=(n, n, n), filters=(16, 32, 64),
            stem="cifar", shortcut=shortcut, preact=preact, conv_bias=conv_bias,
            attention=attention, dropout=dropout, drop_path=drop_path, name=name,
        )  # fmt: skip

    builder.__doc__ = (
        f'CIFAR ResNet-{depth}: He et al. (2016), "Deep residual learning for image '
        f'recognition", Section 4.2: 3x3 stem, 3 stages of {n} basic blocks with 16/32/64 '
        "filters (32x32 -> 16x16 -> 8x8), global average pooling, softmax.\n\n"
        "``shortcut``: ``A`` zero-pads the new channels of a strided identity (the paper's CIFAR "
        "choice, no parameters), ``B`` projects with a 1x1 convolution + BN, ``none`` builds the "
        "plain counterpart of the degradation experiment (Fig. 4, Table 2: no shortcuts, no "
        "additions, the same parameter count as ``A``); ``preact`` builds "
        'v2 (He et al. 2016, "Identity mappings"); ``attention`` e.g. ``se``; ``conv_bias`` '
        "adds convolution biases; ``dropout`` (not in the paper) precedes the output layer; "
        "``drop_path`` is stochastic depth (Huang et al. 2016: the last block's rate, 0.5 for "
        "their ResNet-110)."
    )
    return builder


#: name -> (count_params() at the reference input with default options, source). Counts include
#: BN moving statistics (non-trainable); torchvision's bias-free figures are trainable only.
REFERENCE: dict[str, tuple[int, str]] = {
    "resnet18": (11_699_112, "computed; = torchvision resnet18 11,689,512 trainable + 9,600 BN statistics"),
    "resnet34": (21_814_696, "computed; = torchvision resnet34 21,797,672 trainable + 17,024 BN statistics"),
    "resnet50": (25_610_152, "computed; = torchvision resnet50 25,557,032 trainable + 53,120 BN statistics"),
    "resnet101": (
        44_654_504,
        "computed; = torchvision resnet101 44,549,160 trainable + 105,344 BN statistics",
    ),
    "resnet152": (
        60_344_232,
        "computed; = torchvision resnet152 60,192,808 trainable + 151,424 BN statistics",
    ),
    "se_resnet18": (11_788_192, "computed (SE reduction 16 after the second convolution of each block)"),
    "se_resnet34": (21_975_892, "computed (SE reduction 16)"),
    "se_resnet50": (
        28_141_144,
        "computed; = Hu et al. SE-ResNet-50 28,088,024 trainable + 53,120 BN statistics",
    ),
    "se_resnet101": (49_432_216, "computed (SE reduction 16)"),
    "se_resnet152": (66_973_272, "computed (SE reduction 16)"),
    "resnet20": (271_098, "computed, shortcut A: 269,722 trainable (He et al. 2016: 0.27M)"),
    "resnet32": (466_426, "computed, shortcut A (He et al. 2016: 0.46M)"),
    "resnet44": (661_754, "computed, shortcut A (He et al. 2016: 0.66M)"),
    "resnet56": (857_082, "computed, shortcut A (He et al. 2016: 0.85M)"),
    "resnet110": (1_736_058, "computed, shortcut A (He et al. 2016: 1.7M)"),
    "resnet1202": (19_510_906, "computed, shortcut A: 19,421,274 trainable (He et al. 2016: 19.4M)"),
}
#: Counts with non-default options: name -> [(options, count_params())].
VARIANTS: dict[str, list[tuple[dict, int]]] = {
    "resnet50": [({"conv_bias": True}, 25_636_712)],  # = keras.applications.ResNet50(weights=None)
    "resnet20": [({"shortcut": "B"}, 274_042), ({"preact": True}, 271_098), ({"attention": "se"}, 273_471)],
    "resnet56": [({"shortcut": "B"}, 860_026)],
    "resnet110": [({"shortcut": "B"}, 1_739_002)],
}


def _register_all() -> None:
    for depth in RESNET_DEPTHS:
        for prefix, attention in (("resnet", None), ("se_resnet", "se")):
            name = f"{prefix}{depth}"
            params, source = REFERENCE[name]
            builder = _imagenet_entrypoint(name, depth, attention)
            builder.__name__ = builder.__qualname__ = name
            register_model(
                name,
                params=params,
                input_shape=(224, 224, 3),
                num_classes=1000,
                source=source,
                variants=VARIANTS.get(name, []),
            )(builder)
            globals()[name] = builder
    for depth in CIFAR_DEPTHS:
        name = f"resnet{depth}"
        params, source = REFERENCE[name]
        builder = _cifar_entrypoint(name, depth)
        builder.__name__ = builder.__qualname__ = name
        register_model(
            name, params=params, input_shape=(32, 32, 3), num_classes=10, source=source,
            shortcut="A", variants=VARIANTS.get(name, []),
        )(builder)  # fmt: skip
        globals()[name] = builder


_register_all()

"""Keras's published ImageNet weights in a kerasnets builder, through an explicit layer map.

Each family's ``RENAMES`` turns a kerasnets layer name into the ``keras.applications`` one
(``stage1_block1_1_conv`` -> ``conv2_block1_1_conv``). Every weighted layer on either side must
have its counterpart with the same weight shapes, except the classifier head when it is new:
otherwise nothing is loaded and the error names the first mismatching layer.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable

import keras

from kerasnets.errors import KerasnetsError
from kerasnets.weights.imagenet_table import IMAGENET_WEIGHTS, PREPROCESSING, ImagenetWeights
from kerasnets.weights.report import WeightsReport, shapes, weighted_layers

Rename = tuple[str, str | Callable[[re.Match], str]]


def _stage(offset: int, rest: str) -> Callable[[re.Match], str]:
    return lambda m: f"conv{int(m[1]) + offset}_{m.expand(rest)}"


#: kerasnets layer name -> keras.applications layer name, per family; first match wins.
RENAMES: dict[str, list[Rename]] = {
    "vgg": [
        (r"^(block\d+_conv\d+)$", r"\1"),
        (r"^head_(fc1|fc2|predictions)$", r"\1"),
    ],
    "resnet": [
        (r"^stem_(conv|bn)$", r"conv1_\1"),
        (r"^stage(\d+)_(block\d+_\d_(?:conv|bn))$", _stage(1, r"\2")),
        (r"^head_predictions$", "predictions"),
    ],
    "densenet": [
        (r"^stem_(conv|bn)$", r"conv1_\1"),
        (r"^stage(\d+)_layer(\d+)_1_bn$", _stage(1, r"block\2_0_bn")),
        (r"^stage(\d+)_layer(\d+)_1_conv$", _stage(1, r"block\2_1_conv")),
        (r"^stage(\d+)_layer(\d+)_2_bn$", _stage(1, r"block\2_1_bn")),
        (r"^stage(\d+)_layer(\d+)_2_conv$", _stage(1, r"block\2_2_conv")),
        (r"^transition(\d+)_(bn|conv)$", lambda m: f"pool{int(m[1]) + 1}_{m[2]}"),
        (r"^post_bn$", "bn"),
        (r"^head_predictions$", "predictions"),
    ],
}

#: The keras.applications layers that ``include_top=False`` drops: the classifier head.
TOP_LAYERS: dict[str, tuple[str, ...]] = {
    "vgg": ("fc1", "fc2", "predictions"),
    "resnet": ("predictions",),
    "densenet": ("predictions",),
}

IMAGENET_CLASSES = 1000
IMAGENET_SHAPE = (224, 224, 3)


def keras_name(family: str, name: str) -> str | None:
    """The ``keras.applications`` name of kerasnets layer ``name`` (None: no counterpart)."""
    for pattern, replacement in RENAMES[family]:
        match = re.match(pattern, name)
        if match:
            return replacement(match) if callable(replacement) else match.expand(replacement)
    return None


def needs_new_head(model: keras.Model, entry: ImagenetWeights) -> bool:
    """Whether the ImageNet classifier cannot serve ``model``: other classes, or (VGG's
    flattening head) another input size."""
    if model.output_shape[-1] != IMAGENET_CLASSES:
        return True
    return entry.family == "vgg" and tuple(model.input_shape[1:]) != IMAGENET_SHAPE


def source_model(entry: ImagenetWeights, weights: str, include_top: bool) -> keras.Model:
    """The ``keras.applications`` model holding the weights (``imagenet`` downloads and caches
    them in ``~/.keras/models``; anything else is a local weights file)."""
    build = getattr(keras.applications, entry.application)
    return build(weights=weights, include_top=include_top, input_shape=IMAGENET_SHAPE)


def _read_source(entry: ImagenetWeights, weights: str, new_head: bool) -> keras.Model:
    if weights == "imagenet":
        try:
            return source_model(entry, "imagenet", include_top=not new_head)
        except Exception as exc:  # noqa: BLE001 - download or cache errors of any kind
            raise KerasnetsError(
                f"could not get the ImageNet weights of keras.applications.{entry.application} "
                f"({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__}); offline, "
                "set init.weights to the path of the weights file"
            ) from None
    reasons = []
    for include_top in (True, False) if new_head else (True,):
        try:
            return source_model(entry, weights, include_top)
        except Exception as exc:  # noqa: BLE001 - h5py/keras raise many kinds
            reasons.append(str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__)
    raise KerasnetsError(
        f"cannot read {weights!r} as keras.applications.{entry.application} weights"
        f"{' with their classifier head' if not new_head else ''}: {reasons[-1]}"
    )


def match_layers(
    model: keras.Model, source: keras.Model, entry: ImagenetWeights, new_head: bool, exclude: list[str]
) -> tuple[list[tuple[keras.layers.Layer, keras.layers.Layer]], dict[str, str]]:
    """(our layer, their layer) pairs to copy and the layers left fresh; KerasnetsError at the
    first layer without a counterpart of the same shapes."""
    theirs = {layer.name: layer for layer in weighted_layers(source)}
    top = set(TOP_LAYERS[entry.family])
    app = f"keras.applications.{entry.application}"
    pairs, fresh, used = [], {}, set()
    for layer in weighted_layers(model):
        name = keras_name(entry.family, layer.name)
        if name is None or (name not in theirs and name not in top):
            raise KerasnetsError(
                f"layer {layer.name!r} has no counterpart in {app}: the architecture differs"
            )
        if name in top and new_head:
            fresh[layer.name] = "new classifier head"
            continue
        if any(fnmatch.fnmatchcase(layer.name, p) for p in exclude):
            fresh[layer.name] = "init.exclude"
            used.add(name)
            continue
        if shapes(layer) != shapes(theirs[name]):
            raise KerasnetsError(
                f"layer {layer.name!r} has weights {shapes(layer)}, {app}'s {name!r} has "
                f"{shapes(theirs[name])}: the architecture or input differs"
            )
        pairs.append((layer, theirs[name]))
        used.add(name)
    missing = [n for n in theirs if n not in used and not (new_head and n in top)]
    if missing:
        raise KerasnetsError(f"{app} layer {missing[0]!r} has no counterpart in the model")
    return pairs, fresh


def load_imagenet(
    model: keras.Model,
    model_name: str,
    weights: str = "imagenet",
    new_head: bool | None = None,
    exclude: list[str] | None = None,
) -> WeightsReport:
    """Copy ``keras.applications`` weights into kerasnets ``model`` (all or nothing).

    ``new_head`` None means new when the model's classes or input differ from ImageNet's. With
    ``caffe`` preprocessing the first convolution's input channels are reversed, so the model
    reads RGB images (``data.normalize: caffe`` subtracts the RGB means)."""
    entry = IMAGENET_WEIGHTS[model_name]
    auto = needs_new_head(model, entry)
    if new_head is None:
        new_head = auto
    elif not new_head and auto:
        raise KerasnetsError(
            f"layer 'head_predictions' gives {model.output_shape[-1]} classes at input "
            f"{tuple(model.input_shape[1:])}; the ImageNet head gives {IMAGENET_CLASSES} at "
            f"{IMAGENET_SHAPE}: set init.new_head: true"
        )
    source = _read_source(entry, weights, new_head)
    pairs, fresh = match_layers(model, source, entry, new_head, exclude or [])
    for ours, theirs in pairs:
        ours.set_weights(theirs.get_weights())
    if PREPROCESSING[entry.preprocessing][2]:  # the weights read BGR: our inputs stay RGB
        first = pairs[0][0]
        kernel = first.get_weights()
        kernel[0] = kernel[0][:, :, ::-1, :]
        first.set_weights(kernel)
    return WeightsReport(
        source=weights,
        copied=[ours.name for ours, _ in pairs],
        fresh=fresh,
        preprocessing=entry.preprocessing,
    )

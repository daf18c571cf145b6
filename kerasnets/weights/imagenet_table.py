"""Which kerasnets builders share an architecture with a ``keras.applications`` model, and
the input preprocessing its ImageNet weights were trained with (light: no TensorFlow).

``keras.applications``' ``preprocess_input`` has three modes. kerasnets keeps images RGB and
expresses each mode as a per-channel mean and standard deviation in pixel units (0-255);
``caffe`` mode's RGB -> BGR swap is folded into the first convolution's kernel when the
weights are loaded, so the model computes exactly what the Keras model computes on
``preprocess_input`` of the same image.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

#: preprocess_input mode -> (RGB mean, RGB std) in pixel units, and whether the weights read BGR.
PREPROCESSING: dict[str, tuple[tuple[float, ...], tuple[float, ...], bool]] = {
    "caffe": ((123.68, 116.779, 103.939), (1.0, 1.0, 1.0), True),
    "torch": ((0.485 * 255, 0.456 * 255, 0.406 * 255), (0.229 * 255, 0.224 * 255, 0.225 * 255), False),
    "tf": ((127.5, 127.5, 127.5), (127.5, 127.5, 127.5), False),
}


@dataclass(frozen=True)
class ImagenetWeights:
    """A builder whose layers map one to one onto ``keras.applications.<application>``."""

    application: str  # the keras.applications constructor
    family: str  # the layer-name mapping (``kerasnets.weights.imagenet.RENAMES``)
    preprocessing: str  # key of PREPROCESSING
    options: dict[str, Any] = field(default_factory=dict)  # builder options the match needs


IMAGENET_WEIGHTS: dict[str, ImagenetWeights] = {
    "vgg16": ImagenetWeights("VGG16", "vgg", "caffe"),
    "vgg19": ImagenetWeights("VGG19", "vgg", "caffe"),
    "resnet50": ImagenetWeights("ResNet50", "resnet", "caffe", {"conv_bias": True}),
    "resnet101": ImagenetWeights("ResNet101", "resnet", "caffe", {"conv_bias": True}),
    "resnet152": ImagenetWeights("ResNet152", "resnet", "caffe", {"conv_bias": True}),
    "densenet121": ImagenetWeights("DenseNet121", "densenet", "torch"),
    "densenet169": ImagenetWeights("DenseNet169", "densenet", "torch"),
    "densenet201": ImagenetWeights("DenseNet201", "densenet", "torch"),
}


def imagenet_problems(model: str, options: dict[str, Any], defaults: dict[str, Any]) -> list[str]:
    """Why ``model`` with ``options`` cannot take ImageNet weights (empty when it can);
    ``defaults`` are the builder's option defaults (any other value changes the architecture,
    except ``dropout``, which has no weights)."""
    entry = IMAGENET_WEIGHTS.get(model)
    if entry is None:
        return [f"model {model!r} has no ImageNet weights. Models with them: {', '.join(IMAGENET_WEIGHTS)}"]
    problems = []
    for key, value in entry.options.items():
        if options.get(key) != value:
            problems.append(
                f"ImageNet weights of {model!r} need model.{key}: {str(value).lower()} "
                f"(keras.applications.{entry.application} has that architecture)"
            )
    extra = sorted(
        k for k, v in options.items() if k not in entry.options and k != "dropout" and v != defaults.get(k)
    )
    if extra:
        problems.append(
            f"ImageNet weights of {model!r} fit the default architecture: remove model.{extra[0]}"
        )
    return problems

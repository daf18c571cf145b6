"""Generic model introspection for the explainers.

Works on any functional graph, nested sub-models included: layers are addressed by path
(``c3``, or ``stage2/block1_conv`` inside a nested model ``stage2``), convolutions and spatial
stages are found by type and output shape, not by name, and the class score is read from a
clone whose output softmax is removed (Simonyan et al. 2014 use the unnormalised score).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import keras
import numpy as np
import tensorflow as tf

from kerasnets.explain.base import NotApplicable

CONV_TYPES = (
    keras.layers.Conv2D,
    keras.layers.DepthwiseConv2D,
    keras.layers.SeparableConv2D,
    keras.layers.Conv2DTranspose,
)
_NOT_STAGES = (
    keras.layers.InputLayer,
    keras.layers.ZeroPadding2D,
    keras.layers.Cropping2D,
    keras.layers.Dropout,
)


def walk(model: keras.Model, prefix: str = "") -> Iterator[tuple[str, keras.layers.Layer]]:
    """``(path, layer)`` for every layer in graph order, descending into nested models."""
    for layer in model.layers:
        if isinstance(layer, keras.Model) and hasattr(layer, "layers") and layer.layers:
            yield from walk(layer, f"{prefix}{layer.name}/")
        else:
            yield prefix + layer.name, layer


def find_layer(model: keras.Model, name: str) -> tuple[str, keras.layers.Layer]:
    """A layer by path, or by bare name when that is unique; a clear error otherwise."""
    layers = dict(walk(model))
    if name in layers:
        return name, layers[name]
    matches = [path for path in layers if path.rsplit("/", 1)[-1] == name]
    if len(matches) == 1:
        return matches[0], layers[matches[0]]
    from kerasnets.registry import UnknownNameError

    raise NotApplicable(f"--layer: {UnknownNameError('layer', name, list(layers)).message}")


def output_shape(model: keras.Model, path: str) -> tuple[int | None, ...]:
    _, layer = find_layer(model, path)
    return tuple(layer.output.shape)


def conv_layers(model: keras.Model) -> list[str]:
    """Paths of the 2-D convolutions, in graph order."""
    return [path for path, layer in walk(model) if isinstance(layer, CONV_TYPES)]


def require_conv(model: keras.Model) -> list[str]:
    convs = conv_layers(model)
    if not convs:
        raise NotApplicable(f"model {model.name!r} has no convolution layers")
    return convs


def spatial_layers(model: keras.Model) -> list[str]:
    """Layers with an (N, H, W, C) output larger than 1x1, in graph order."""
    paths = []
    for path, layer in walk(model):
        if isinstance(layer, _NOT_STAGES):
            continue
        try:
            shape = tuple(layer.output.shape)
        except (AttributeError, ValueError):  # a layer used twice has no single output
            continue
        if len(shape) == 4 and (shape[1] or 0) * (shape[2] or 0) > 1:
            paths.append(path)
    return paths


def stage_layers(model: keras.Model, limit: int = 6) -> list[str]:
    """The last layer at each spatial resolution ("each conv stage"), at most ``limit``
    spread evenly through the net: LeNet-5 gives c1, s2, c3, s4."""
    require_conv(model)
    ends: dict[tuple[int, int], str] = {}
    for path in spatial_layers(model):
        shape = output_shape(model, path)
        ends.pop(shape[1:3], None)  # keep insertion order = order of the stage's last layer
        ends[shape[1:3]] = path
    stages = list(ends.values())
    if len(stages) > limit:
        stages = [stages[round(i)] for i in np.linspace(0, len(stages) - 1, limit)]
    return stages


def middle_conv(model: keras.Model) -> str:
    """A conv layer halfway through the net (default for DeepDream and max-patches)."""
    convs = [p for p in require_conv(model) if len(output_shape(model, p)) == 4]
    return convs[len(convs) // 2]


def _inputs(model: keras.Model):
    """The model's input(s) in the structure it was built with (no structure warnings)."""
    return model.inputs[0] if len(model.inputs) == 1 else model.inputs


def _inbound(layer: keras.layers.Layer):
    return layer._inbound_nodes[0].input_tensors  # noqa: SLF001 - Keras 3 node API


def activation_model(model: keras.Model, path: str) -> Callable[[tf.Tensor], tf.Tensor]:
    """``f(images) -> activations of layer ``path```` for top-level or nested layers."""
    head, _, rest = path.partition("/")
    if not rest:
        return keras.Model(_inputs(model), model.get_layer(head).output)
    sub = model.get_layer(head)
    tensors = _inbound(sub)
    before = keras.Model(_inputs(model), tensors[0] if len(tensors) == 1 else tensors)
    inner = activation_model(sub, rest)
    return lambda images: inner(before(images))


def penultimate_model(model: keras.Model) -> tuple[keras.Model, str]:
    """Images -> the features the classifier reads (the input of the last weighted layer),
    and a description of where they come from."""
    layer = model.outputs[0]._keras_history.operation  # noqa: SLF001
    while not layer.weights or isinstance(layer, (keras.layers.Activation, keras.layers.Softmax)):
        layer = _inbound(layer)[0]._keras_history.operation  # noqa: SLF001
    features = _inbound(layer)[0]
    source = features._keras_history.operation.name  # noqa: SLF001
    flat = keras.layers.Flatten()(features) if len(features.shape) > 2 else features
    return keras.Model(_inputs(model), flat), f"'{source}' (input of '{layer.name}')"


# ----------------------------------------------------------------------------- gradients


@tf.custom_gradient
def guided_relu(x):
    """ReLU whose gradient is gated twice (Springenberg et al. 2015): only where the input
    was positive (backprop) and the incoming gradient is positive (deconvnet)."""

    def grad(upstream):
        return upstream * tf.cast(x > 0, upstream.dtype) * tf.cast(upstream > 0, upstream.dtype)

    return tf.nn.relu(x), grad


def plain_relu_layer(layer) -> bool:
    """A ``keras.layers.ReLU`` without a cap or a negative slope (a plain ReLU)."""
    return isinstance(layer, keras.layers.ReLU) and not layer.max_value and not layer.negative_slope


def _clone(model: keras.Model, activation_for: Callable) -> keras.Model:
    """A clone with the same weights in which ``activation_for(layer)`` (or None: keep) is
    each layer's new activation; ``ReLU``/``Softmax`` layers become ``Activation`` layers."""

    def clone(layer):
        replacement = activation_for(layer)
        if replacement is None:
            return layer.__class__.from_config(layer.get_config())
        if isinstance(layer, (keras.layers.ReLU, keras.layers.Softmax, keras.layers.Activation)):
            return keras.layers.Activation(replacement, name=layer.name)
        new = layer.__class__.from_config(layer.get_config())
        new.activation = replacement
        return new

    copy = keras.models.clone_model(model, clone_function=clone, recursive=True)
    copy.set_weights(model.get_weights())
    return copy


def score_model(model: keras.Model, guided: bool = False) -> keras.Model:
    """A clone with the same weights that outputs class scores (the output softmax removed);
    with ``guided``, every ReLU (``activation="relu"``, ``Activation``, ``ReLU`` layers, in
    nested models too) becomes ``guided_relu``."""
    outputs = {id(t._keras_history.operation) for t in model.outputs}  # noqa: SLF001

    def activation_for(layer):
        activation = getattr(layer, "activation", None)
        if id(layer) in outputs and (
            activation is keras.activations.softmax or isinstance(layer, keras.layers.Softmax)
        ):
            return keras.activations.linear
        if guided and (activation is keras.activations.relu or plain_relu_layer(layer)):
            return guided_relu
        return None

    return _clone(model, activation_for)


def linear_model(model: keras.Model) -> keras.Model:
    """A clone with every activation linear: its gradients reach every input pixel a unit
    depends on (no dead ReLU or saturated tanh hides one), for receptive fields."""

    def activation_for(layer):
        activation = getattr(layer, "activation", None)
        if isinstance(layer, (keras.layers.ReLU, keras.layers.Softmax, keras.layers.LeakyReLU)):
            return keras.activations.linear
        if activation is not None and activation is not keras.activations.linear:
            return keras.activations.linear
        return None

    return _clone(model, activation_for)


def input_gradients(scores: Callable, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """d score[class] / d image for each image (batched)."""
    x = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = scores(x, training=False)
        picked = tf.gather(out, tf.convert_to_tensor(classes, tf.int32), axis=1, batch_dims=1)
    return tape.gradient(picked, x).numpy()


def gaussian_blur(images: tf.Tensor, sigma: float) -> tf.Tensor:
    """Separable Gaussian blur of an (N, H, W, C) batch, per channel."""
    radius = max(1, int(round(2 * sigma)))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps = tf.constant(taps / taps.sum(), images.dtype)
    channels = images.shape[-1]
    rows = tf.tile(tf.reshape(taps, (-1, 1, 1, 1)), (1, 1, channels, 1))
    cols = tf.tile(tf.reshape(taps, (1, -1, 1, 1)), (1, 1, channels, 1))
    images = tf.nn.depthwise_conv2d(images, rows, (1, 1, 1, 1), "SAME")
    return tf.nn.depthwise_conv2d(images, cols, (1, 1, 1, 1), "SAME")


# ----------------------------------------------------------------------------- Grad-CAM


def cam_layer(model: keras.Model, name: str | None = None) -> str:
    """The layer Grad-CAM weighs: ``name`` (a top-level layer, or a nested block as a whole),
    by default the last convolution (Selvaraju et al. 2017), or the block holding it when it
    is nested (the block's output is that convolution's rectified maps)."""
    top = {layer.name: layer for layer in model.layers}
    if name in top:
        head = name
    else:
        path = find_layer(model, name)[0] if name else require_conv(model)[-1]
        head = path.split("/", 1)[0]
        if name and head != path:
            raise NotApplicable(
                f"--layer: grad-cam reads a top-level layer; {path!r} is inside block {head!r} "
                f"(use --layer {head})"
            )
    shape = tuple(top[head].output.shape)
    if len(shape) != 4:
        raise NotApplicable(f"--layer: grad-cam needs spatial (N, H, W, C) maps, {head!r} gives {shape}")
    return head


def grad_cam(model: keras.Model, layer: str, images: np.ndarray, classes: np.ndarray) -> np.ndarray:
    """Grad-CAM (Selvaraju et al. 2017) of top-level ``layer`` for each image's class:
    channel weights = spatial mean of d score / d maps, ReLU of the weighted sum of the maps,
    bilinearly upsampled to the input size. Returns (N, H, W), not normalised."""
    scores = score_model(model)
    node = scores.get_layer(layer)._inbound_nodes[-1]  # noqa: SLF001 - its call in this graph
    both = keras.Model(_inputs(scores), [node.output_tensors[0], scores.outputs[0]])
    x = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        maps, out = both(x, training=False)
        picked = tf.gather(out, tf.convert_to_tensor(classes, tf.int32), axis=1, batch_dims=1)
    grads = tape.gradient(picked, maps)  # (N, h, w, C)
    weights = tf.reduce_mean(grads, axis=(1, 2), keepdims=True)  # alpha_k^c
    cam = tf.nn.relu(tf.reduce_sum(weights * maps, axis=-1, keepdims=True))  # (N, h, w, 1)
    return tf.image.resize(cam, tuple(images.shape[1:3]), method="bilinear")[..., 0].numpy()


def channel_gradients(model: keras.Model, path: str, images: np.ndarray, channel: int) -> np.ndarray:
    """d mean activation of ``channel`` of layer ``path`` / d image, per image (the model may
    be a guided clone: its layers keep their paths)."""
    features = activation_model(model, path)
    x = tf.convert_to_tensor(images, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(x)
        acts = features(x)
        mean = tf.reduce_mean(acts[..., channel], axis=list(range(1, len(acts.shape) - 1)))
    return tape.gradient(mean, x).numpy()

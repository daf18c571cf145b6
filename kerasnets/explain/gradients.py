"""Gradients of a class score with respect to the input: saliency maps and class models
(Simonyan, Vedaldi & Zisserman 2014) and guided backpropagation (Springenberg et al. 2015).
The score is the unnormalised one (the output softmax removed), as in both papers."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from kerasnets.explain.activations import pixel_range, to_pixels
from kerasnets.explain.base import ExplainOptions, NotApplicable, class_index, pick_images, register
from kerasnets.explain.plotting import Cell, Shared, picture, rescale, save_grid, symmetric

MAX_CLASSES = 10


def chosen_images(model, splits, options: ExplainOptions):
    """Test images, their model inputs, the classes to explain and the predictions."""
    index = pick_images(splits.y_test, options.images or 4, options.seed)
    x = splits.normalize(splits.x_test[index])
    chosen = class_index(options.klass, splits.class_names)
    classes = np.full(len(index), chosen) if chosen is not None else splits.y_test[index]
    predicted = np.asarray(model(x, training=False)).argmax(-1)
    return index, x, classes.astype(np.int32), predicted


def image_title(splits, i: int, predicted: int) -> str:
    names = splits.class_names
    return f"true {names[splits.y_test[i]]}, pred {names[predicted]}"


def input_gradients(model, splits, options: ExplainOptions, x, classes, guided: bool = False):
    """``[(what, gradients (N, H, W, C))]``: of each image's class score, or with
    ``options.layer`` of the mean activation of each of ``options.channels`` of that layer
    (default: the channel most active on these images)."""
    from kerasnets.explain import graph

    clone = graph.score_model(model, guided=guided)
    if not options.layer:
        return [(None, graph.input_gradients(clone, x, classes))]
    path = graph.find_layer(model, options.layer)[0]
    depth = int(graph.output_shape(model, path)[-1])
    channels = options.channels
    if not channels:
        acts = np.asarray(graph.activation_model(model, path)(x))
        channels = [int(acts.reshape(-1, depth).mean(0).argmax())]
    if max(channels) >= depth:
        raise NotApplicable(f"--channels: channel {max(channels)} out of range ({path} has {depth})")
    return [(f"{path} ch {c}", graph.channel_gradients(clone, path, x, c)) for c in channels]


def _target_name(splits, classes, n: int, what: str | None) -> str:
    return what or f"score({splits.class_names[classes[n]]})"


@register(
    "saliency",
    options=("images", "class", "layer", "channels"),
    doc="|d class score / d input|, max over channels; with --layer: of a channel's mean activation",
)
def saliency(model, splits, options: ExplainOptions) -> list[Path]:
    index, x, classes, predicted = chosen_images(model, splits, options)
    targets = input_gradients(model, splits, options, x, classes)
    rows = []
    for n, i in enumerate(index):
        first = picture(splits.x_test[i])
        first.title = image_title(splits, i, predicted[n])
        row = [first]
        for what, grads in targets:
            magnitude = np.abs(grads[n]).max(-1)
            title = f"|d {_target_name(splits, classes, n, what)} / d x|"
            row.append(Cell(magnitude, title, "hot", 0.0, float(magnitude.max()) or 1e-12, True))
        rows.append(row)
    of = f"the mean activation of {options.layer} channels" if options.layer else "the class score"
    title = f"Saliency (Simonyan et al. 2014): gradient magnitude of {of}"
    return [save_grid(rows, options.out / "saliency.png", title, None, 2.2)]


def has_relu(model) -> bool:
    import keras

    from kerasnets.explain import graph

    return any(
        getattr(layer, "activation", None) is keras.activations.relu or graph.plain_relu_layer(layer)
        for _, layer in graph.walk(model)
    )


def signed_cell(grads: np.ndarray, name: str) -> Cell:
    """A guided gradient (H, W, C): signed on a symmetric scale (grey) or rescaled (RGB)."""
    if grads.shape[-1] == 1:
        limit = symmetric(grads)
        return Cell(grads[..., 0], f"guided gradient ({name})", "RdBu_r", -limit, limit, True)
    return Cell(rescale(grads), f"guided gradient ({name}), rescaled")


@register(
    "guided-backprop",
    options=("images", "class", "layer", "channels"),
    doc="gradient with every ReLU gated by its input and its incoming gradient (Springenberg 2015)",
)
def guided_backprop(model, splits, options: ExplainOptions) -> list[Path]:
    index, x, classes, predicted = chosen_images(model, splits, options)
    targets = input_gradients(model, splits, options, x, classes, guided=True)
    rows = []
    for n, i in enumerate(index):
        first = picture(splits.x_test[i])
        first.title = image_title(splits, i, predicted[n])
        row = [first]
        for what, grads in targets:
            name = what or splits.class_names[classes[n]]
            positive = np.maximum(grads[n], 0).max(-1)
            row += [
                signed_cell(grads[n], name),
                Cell(positive, "positive part", "hot", 0, float(positive.max()) or 1e-12, True),
            ]
        rows.append(row)
    note = "" if has_relu(model) else " (no ReLU in this model: equals the plain gradient)"
    title = f"Guided backpropagation (Springenberg et al. 2015){note}"
    return [save_grid(rows, options.out / "guided_backprop.png", title, None, 2.2)]


# ----------------------------------------------------------------------------- class models


def ascend(
    objective: Callable,
    start: np.ndarray,
    steps: int,
    learning_rate: float,
    l2: float,
    blur: float,
    low: np.ndarray | float = -np.inf,
    high: np.ndarray | float = np.inf,
    blur_every: int = 4,
):
    """Gradient ascent on ``objective(images) -> (N,) scores`` from ``start``: normalised
    gradient steps, L2 decay ``x *= 1 - l2`` (Simonyan's L2 penalty), a Gaussian blur every
    ``blur_every`` steps (Yosinski et al. 2015) and clipping to the pixel range.
    Returns (images, scores at the start, scores at the end)."""
    import tensorflow as tf

    from kerasnets.explain.graph import gaussian_blur

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            total = tf.reduce_sum(objective(x))
        grad = tape.gradient(total, x)
        grad /= tf.math.reduce_std(grad, axis=[1, 2, 3], keepdims=True) + 1e-8
        return tf.clip_by_value((x + learning_rate * grad) * (1.0 - l2), low, high)

    x = tf.constant(start, tf.float32)
    before = np.asarray(objective(x))
    for i in range(steps):
        x = step(x)
        if blur and (i + 1) % blur_every == 0 and i + 1 < steps:
            x = gaussian_blur(x, blur)
    return x.numpy(), before, np.asarray(objective(x))


@register(
    "class-model",
    options=("class", "layer", "channels", "steps", "learning_rate", "l2", "blur", "seed"),
    doc="gradient ascent from noise to a class score (or a layer's channel), L2 decay and blur",
)
def class_model(model, splits, options: ExplainOptions) -> list[Path]:
    import tensorflow as tf

    from kerasnets.explain import graph

    if options.layer:  # a neuron: the mean activation of a channel
        path = graph.find_layer(model, options.layer)[0]
        features = graph.activation_model(model, path)
        depth = int(graph.output_shape(model, path)[-1])
        targets = options.channels or list(range(min(8, depth)))
        if max(targets) >= depth:
            raise NotApplicable(f"class-model: channel {max(targets)} out of range ({path} has {depth})")
        picks = tf.constant(targets)

        def objective(x):
            acts = features(x)
            per_channel = tf.reduce_mean(acts, axis=list(range(1, len(acts.shape) - 1)))
            return tf.gather(per_channel, picks, axis=1, batch_dims=1)

        labels = [f"{path} ch {c}" for c in targets]
        what = f"mean activation of {path} channels"
    else:
        chosen = class_index(options.klass, splits.class_names)
        targets = [chosen] if chosen is not None else list(range(min(splits.num_classes, MAX_CLASSES)))
        scores, picks = graph.score_model(model), tf.constant(targets)

        def objective(x):
            return tf.gather(scores(x, training=False), picks, axis=1, batch_dims=1)

        labels = [splits.class_names[c] for c in targets]
        what = "class score (pre-softmax)"
    rng = np.random.default_rng(options.seed)
    start = rng.normal(0, 0.1, size=(len(targets), *splits.input_shape)).astype(np.float32)
    low, high = pixel_range(splits)
    steps, rate = options.steps or 150, options.learning_rate or 0.05
    images, before, after = ascend(objective, start, steps, rate, options.l2, options.blur, low, high)
    cells = []
    for n, label in enumerate(labels):
        if images.shape[-1] == 1:
            cell = picture(to_pixels(images[n], splits))
        else:
            cell = Cell(rescale(images[n]))
        cell.title = f"{label}\n{before[n]:.2f} -> {after[n]:.2f}"
        cells.append(cell)
    cols = min(5, len(cells))
    rows = [cells[r : r + cols] for r in range(0, len(cells), cols)]
    title = (
        f"Class models (Simonyan et al. 2014): ascent on the {what}, {steps} steps, "
        f"L2 decay {options.l2}, blur {options.blur}; titles: score start -> end"
    )
    shared = Shared("gray", 0, 255, "pixel value") if images.shape[-1] == 1 else None
    return [save_grid(rows, options.out / "class_model.png", title, shared, 1.6)]

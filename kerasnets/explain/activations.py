"""What layers respond to: feature maps of test images, the test patches that excite a
channel most (Zeiler & Fergus 2014; Girshick et al. 2014) and DeepDream (Mordvintsev et al.
2015), which amplifies a layer's activations in an image, coarse scales first."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasnets.explain.base import ExplainOptions, NotApplicable, pick_images, register
from kerasnets.explain.filters import file_name
from kerasnets.explain.plotting import Cell, Shared, picture, save_grid, symmetric

MAX_CHANNELS = 16
BATCH = 256


def _channels(requested: list[int] | None, available: int, default: int, what: str) -> list[int]:
    if requested is None:
        return list(range(min(default, available)))
    bad = [c for c in requested if c >= available]
    if bad:
        raise NotApplicable(f"{what}: channel {bad[0]} out of range (the layer has {available})")
    return list(requested)


def _spatial(acts: np.ndarray, path: str, method: str) -> np.ndarray:
    if acts.ndim != 4:
        raise NotApplicable(f"{method}: layer {path!r} has no spatial output (shape {acts.shape[1:]})")
    return acts


@register(
    "feature-maps",
    options=("layer", "images", "channels"),
    doc="activations of a layer (default: the last layer of each conv stage) for N test images",
)
def feature_maps(model, splits, options: ExplainOptions) -> list[Path]:
    from kerasnets.explain import graph

    paths = [graph.find_layer(model, options.layer)[0]] if options.layer else graph.stage_layers(model)
    index = pick_images(splits.y_test, options.images or 4, options.seed)
    x = splits.normalize(splits.x_test[index])
    written = []
    for path in paths:
        acts = _spatial(np.asarray(graph.activation_model(model, path)(x)), path, "feature-maps")
        channels = _channels(options.channels, acts.shape[-1], MAX_CHANNELS, "feature-maps")[:MAX_CHANNELS]
        low, high = min(0.0, float(acts[..., channels].min())), float(acts[..., channels].max())
        high = high if high > low else low + 1e-6
        rows = []
        for n, i in enumerate(index):
            first = picture(splits.x_test[i])
            first.title = f"input ({splits.class_names[splits.y_test[i]]})"
            maps = [
                Cell(acts[n, :, :, c], f"ch {c}" if n == 0 else "", "viridis", low, high) for c in channels
            ]
            rows.append([first, *maps])
        _, h, w, depth = acts.shape
        title = (
            f"feature maps of {path} ({h}x{w}x{depth}): channels {channels[0]}-{channels[-1]} "
            f"for {len(index)} test images"
        )
        written.append(
            save_grid(
                rows,
                options.out / f"{file_name(path)}.png",
                title,
                Shared("viridis", low, high, "activation"),
                1.1,
            )
        )
    return written


# ----------------------------------------------------------------------------- max patches


def receptive_boxes(features, input_shape: tuple[int, ...], positions: list[tuple[int, int]], seed: int = 0):
    """The input box ``(y0, y1, x0, x1)`` that each output position ``(i, j)`` depends on,
    found empirically: pixels with a non-zero gradient of the activations at that position
    (over all channels, two random probes, so max-pool choices and dead ReLUs do not hide
    any; use it on ``graph.linear_model``). Works for any graph, branches and padding
    included; boxes are clipped to the image."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    reach = np.zeros((len(positions), *input_shape[:2]), bool)
    rows = tf.constant([p[0] for p in positions])
    cols = tf.constant([p[1] for p in positions])
    for _ in range(2):
        x = tf.constant(rng.normal(size=(len(positions), *input_shape)), tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(x)
            acts = features(x)
            picked = tf.gather_nd(acts, tf.stack([tf.range(len(positions)), rows, cols], axis=1))
            total = tf.reduce_sum(picked)  # every channel at that position
        reach |= np.abs(tape.gradient(total, x).numpy()).max(-1) > 0
    boxes = []
    for mask in reach:
        ys, xs = np.nonzero(mask)
        if len(ys) == 0:  # nothing reached (constant layer): the whole image
            boxes.append((0, input_shape[0], 0, input_shape[1]))
        else:
            boxes.append((int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1))
    return boxes


@register(
    "max-patches",
    options=("layer", "channels", "top", "pool"),
    doc="for a layer's channels, the receptive-field patches of test images that activate them most",
)
def max_patches(model, splits, options: ExplainOptions) -> list[Path]:
    from kerasnets.explain import graph

    path = graph.find_layer(model, options.layer)[0] if options.layer else graph.middle_conv(model)
    features = graph.activation_model(model, path)
    pool = splits.x_test[: options.pool]
    best, where = [], []
    for start in range(0, len(pool), BATCH):
        acts = _spatial(
            np.asarray(features(splits.normalize(pool[start : start + BATCH]))), path, "max-patches"
        )
        flat = acts.reshape(len(acts), -1, acts.shape[-1])  # (N, H*W, C)
        best.append(flat.max(1))
        where.append(flat.argmax(1))
    best, where = np.concatenate(best), np.concatenate(where)  # (N, C)
    width = acts.shape[2]
    channels = _channels(options.channels, best.shape[1], 8, "max-patches")
    picks = [(c, i) for c in channels for i in np.argsort(-best[:, c], kind="stable")[: options.top]]
    positions = [divmod(int(where[i, c]), width) for c, i in picks]
    unique = sorted(set(positions))
    linear = graph.activation_model(graph.linear_model(model), path)
    boxes = dict(zip(unique, receptive_boxes(linear, splits.input_shape, unique, options.seed), strict=True))
    rows: list[list[Cell]] = [[] for _ in channels]
    for (c, i), pos in zip(picks, positions, strict=True):
        y0, y1, x0, x1 = boxes[pos]
        cell = picture(splits.x_test[i][y0:y1, x0:x1])
        cell.title = f"ch {c}: {best[i, c]:.2f}" if not rows[channels.index(c)] else f"{best[i, c]:.2f}"
        rows[channels.index(c)].append(cell)
    sizes = [(b[1] - b[0], b[3] - b[2]) for b in boxes.values()]
    field = max(sizes)
    title = (
        f"{path}: top {options.top} of {len(pool)} test images per channel (row), cropped to the "
        f"receptive field (up to {field[0]}x{field[1]} px); titles: activation"
    )
    shared = Shared("gray", 0, 255, "pixel value") if splits.input_shape[-1] == 1 else None
    return [save_grid(rows, options.out / f"{file_name(path)}.png", title, shared, 1.0)]


# ----------------------------------------------------------------------------- deepdream


def dream(
    features,
    images: np.ndarray,
    steps: int,
    learning_rate: float,
    octaves: int,
    scale: float,
    low: np.ndarray,
    high: np.ndarray,
    channels: list[int] | None = None,
):
    """Gradient ascent on the mean squared activation of ``features`` (coarsest octave
    first): at each octave the image is optimised at a lower resolution (upsampled to the
    model's size inside the graph) and only the detail gained is added to the full image.
    Returns (dreamed images, energy before, energy after)."""
    import tensorflow as tf

    size = images.shape[1:3]

    def energy(x):
        acts = features(x)
        if channels:
            acts = tf.gather(acts, channels, axis=-1)
        return tf.reduce_mean(tf.square(acts), axis=[1, 2, 3])

    @tf.function(reduce_retracing=True)
    def step(z):
        with tf.GradientTape() as tape:
            tape.watch(z)
            loss = tf.reduce_sum(energy(tf.image.resize(z, size)))
        grad = tape.gradient(loss, z)
        grad /= tf.math.reduce_std(grad, axis=[1, 2, 3], keepdims=True) + 1e-8
        return z + learning_rate * grad

    x = tf.constant(images, tf.float32)
    before = energy(x).numpy()
    for octave in reversed(range(octaves)):
        shape = [max(4, round(d / scale**octave)) for d in size]
        start = tf.image.resize(x, shape)
        z = start
        for _ in range(steps):
            z = step(z)
        x = tf.clip_by_value(x + tf.image.resize(z - start, size), low, high)
    return x.numpy(), before, energy(x).numpy()


def pixel_range(splits) -> tuple[np.ndarray, np.ndarray]:
    """Model-input values of pixels 0 and 255 (per channel)."""
    zeros = np.zeros((1, 1, 1, splits.input_shape[-1]), np.uint8)
    return splits.normalize(zeros), splits.normalize(zeros + 255)


def to_pixels(x: np.ndarray, splits) -> np.ndarray:
    """Model input back to uint8 pixels."""
    return np.clip(x * np.float32(splits.std) + np.float32(splits.mean), 0, 255).astype(np.uint8)


@register(
    "deepdream",
    options=("layer", "images", "channels", "steps", "learning_rate", "octaves", "octave_scale"),
    doc="amplify a layer's activations in test images, coarse octaves first",
)
def deepdream(model, splits, options: ExplainOptions) -> list[Path]:
    from kerasnets.explain import graph

    path = graph.find_layer(model, options.layer)[0] if options.layer else graph.middle_conv(model)
    features = graph.activation_model(model, path)
    index = pick_images(splits.y_test, options.images or 2, options.seed)
    x = splits.normalize(splits.x_test[index])
    depth = int(graph.output_shape(model, path)[-1])
    channels = _channels(options.channels, depth, depth, "deepdream") if options.channels else None
    steps, rate = options.steps or 20, options.learning_rate or 0.05
    low, high = pixel_range(splits)
    dreamed, before, after = dream(
        features, x, steps, rate, options.octaves, options.octave_scale, low, high, channels
    )
    change = (dreamed - x).mean(-1)
    limit = symmetric(change)
    rows = []
    for n, i in enumerate(index):
        original, result = picture(splits.x_test[i]), picture(to_pixels(dreamed[n], splits))
        original.title = f"input ({splits.class_names[splits.y_test[i]]})"
        result.title = f"dreamed: energy {before[n]:.3g} -> {after[n]:.3g}"
        rows.append(
            [original, result, Cell(change[n], "change (model input units)", "RdBu_r", -limit, limit, True)]
        )
    what = f"channels {channels}" if channels else "all channels"
    title = (
        f"DeepDream on {path} ({what}): {options.octaves} octaves x {steps} steps, "
        f"scale {options.octave_scale}, step {rate}"
    )
    return [save_grid(rows, options.out / f"{file_name(path)}.png", title, None, 2.2)]

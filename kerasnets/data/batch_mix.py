"""Batch-level augmentations albumentations does not do: MixUp (Zhang et al. 2018) and
CutMix (Yun et al. 2019). Both run inside the tf.data graph on one-hot labels, with stateless
random numbers drawn from the batch's seed, so they are reproducible."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from pydantic import Field

from kerasnets.registry import Registry

BatchMixer = Callable[..., Any]  # (images, labels, seed, **options) -> (images, labels)
BATCH_AUGMENTS: Registry[BatchMixer] = Registry("batch augmentation")


def _beta(alpha: float, seed):
    import tensorflow as tf

    a = tf.random.stateless_gamma([], seed=seed, alpha=alpha)
    b = tf.random.stateless_gamma([], seed=seed + [0, 7], alpha=alpha)
    return a / (a + b)


def _partner(batch, seed):
    import tensorflow as tf

    return tf.random.experimental.stateless_shuffle(tf.range(batch), seed=seed)


@BATCH_AUGMENTS.register("mixup")
def mixup(
    images,
    labels,
    seed,
    alpha: Annotated[float, Field(gt=0)] = 0.2,
    p: Annotated[float, Field(ge=0, le=1)] = 1.0,
):
    """``x = lam x_i + (1 - lam) x_j`` and the same for the labels, ``lam ~ Beta(alpha, alpha)``."""
    import tensorflow as tf

    seed = tf.stack([seed, tf.constant(11, tf.int64)])
    apply = tf.random.stateless_uniform([], seed=seed + [0, 1]) < p
    lam = tf.where(apply, _beta(alpha, seed), 1.0)
    order = _partner(tf.shape(images)[0], seed + [0, 2])
    mixed = lam * images + (1.0 - lam) * tf.gather(images, order)
    return mixed, lam * labels + (1.0 - lam) * tf.gather(labels, order)


@BATCH_AUGMENTS.register("cutmix")
def cutmix(
    images,
    labels,
    seed,
    alpha: Annotated[float, Field(gt=0)] = 1.0,
    p: Annotated[float, Field(ge=0, le=1)] = 1.0,
):
    """Paste a random box from a partner image; labels weighted by the pasted area."""
    import tensorflow as tf

    seed = tf.stack([seed, tf.constant(13, tf.int64)])
    shape = tf.shape(images)
    height, width = shape[1], shape[2]
    apply = tf.random.stateless_uniform([], seed=seed + [0, 1]) < p
    lam = tf.where(apply, _beta(alpha, seed), 1.0)
    cut = tf.sqrt(1.0 - lam)
    cut_h = tf.cast(tf.cast(height, tf.float32) * cut, tf.int32)
    cut_w = tf.cast(tf.cast(width, tf.float32) * cut, tf.int32)
    cy = tf.random.stateless_uniform([], seed=seed + [0, 3], maxval=height, dtype=tf.int32)
    cx = tf.random.stateless_uniform([], seed=seed + [0, 4], maxval=width, dtype=tf.int32)
    y0, y1 = tf.clip_by_value(cy - cut_h // 2, 0, height), tf.clip_by_value(cy + cut_h // 2, 0, height)
    x0, x1 = tf.clip_by_value(cx - cut_w // 2, 0, width), tf.clip_by_value(cx + cut_w // 2, 0, width)
    rows = tf.logical_and(tf.range(height) >= y0, tf.range(height) < y1)
    cols = tf.logical_and(tf.range(width) >= x0, tf.range(width) < x1)
    box = tf.cast(tf.logical_and(rows[:, None], cols[None, :]), images.dtype)[None, :, :, None]
    order = _partner(shape[0], seed + [0, 2])
    mixed = images * (1.0 - box) + tf.gather(images, order) * box
    share = 1.0 - tf.cast((y1 - y0) * (x1 - x0), tf.float32) / tf.cast(height * width, tf.float32)
    return mixed, share * labels + (1.0 - share) * tf.gather(labels, order)


MIXER_ARGS = ("images", "labels", "seed")


def parse_steps(steps: list[dict[str, Any]]) -> list[tuple[BatchMixer, dict[str, Any]]]:
    """``[{mixup: {alpha: 0.2}}]`` -> ``[(mixup, {"alpha": 0.2})]``."""
    return [(BATCH_AUGMENTS.get(name), dict(args or {})) for step in steps for name, args in step.items()]


def check_batch_augments(steps: list[Any]) -> list[tuple[str, str, Any]]:
    """Problems as ``("[i]...", message, received)``."""
    from kerasnets.options import check_options
    from kerasnets.registry import UnknownNameError

    problems: list[tuple[str, str, Any]] = []
    for i, step in enumerate(steps):
        if not isinstance(step, dict) or len(step) != 1:
            problems.append((f"[{i}]", "expected one mapping {name: {options}}", step))
            continue
        ((name, args),) = step.items()
        try:
            fn = BATCH_AUGMENTS.get(name)
        except UnknownNameError as exc:
            problems.append((f"[{i}]", exc.message, None))
            continue
        for key, message, received in check_options(fn, dict(args or {}), MIXER_ARGS):
            problems.append((f"[{i}].{name}.{key}", message, received))
    return problems

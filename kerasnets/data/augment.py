"""Albumentations transforms named in a recipe's ``augment:`` list.

Each step is ``{ClassName: {argument: value}}``. Names resolve to albumentations transform
classes; arguments are checked by constructing the transform with ``strict=True``.
"""

from __future__ import annotations

import difflib
import functools
import os
from typing import Any

os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")  # no call home at import


@functools.cache
def transform_names() -> list[str]:
    """Every albumentations transform class name."""
    import albumentations as A
    from albumentations.core.transforms_interface import BasicTransform

    return sorted(
        name
        for name in dir(A)
        if isinstance(getattr(A, name), type)
        and issubclass(getattr(A, name), BasicTransform)
        and not name.startswith("_")
    )


def _split_step(step: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(step, dict) or len(step) != 1:
        raise ValueError("expected one mapping {TransformName: {arguments}}")
    ((name, args),) = step.items()
    return str(name), dict(args or {})


def check_transforms(steps: list[Any]) -> list[tuple[str, str, Any]]:
    """Problems as ``("augment[i]", message, received)``; empty when every step is valid."""
    import albumentations as A

    problems: list[tuple[str, str, Any]] = []
    valid = transform_names()
    for i, step in enumerate(steps):
        key = f"[{i}]"
        try:
            name, args = _split_step(step)
        except ValueError as exc:
            problems.append((key, str(exc), step))
            continue
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            problems.append((key, f"unknown albumentations transform {name!r}.{hint}", None))
            continue
        try:
            getattr(A, name)(**args, strict=True)
        except Exception as exc:  # albumentations raises ValueError / pydantic errors / TypeError
            message = " ".join(str(exc).split())[:240]
            problems.append((f"{key}.{name}", f"invalid arguments: {message}", None))
    return problems


def build_transforms(steps: list[dict[str, Any]]):
    """One ``A.Compose`` for the recipe's steps (built once per run)."""
    import albumentations as A

    transforms = [getattr(A, name)(**args, strict=True) for name, args in map(_split_step, steps)]
    return A.Compose(transforms, strict=True)


class BatchAugmenter:
    """Applies the recipe's transforms to whole uint8 batches ``(B, H, W, C)``.

    Built once per run; tf.data runs several batches at once in its worker threads (a thread
    pool inside a batch was measured slower: OpenCV already threads its kernels, and for small
    images the Python overhead holds the GIL). Transforms covered by a whole-batch kernel
    (``kerasnets.data.batch_kernels``) run on the batch at once; runs of other transforms go
    through an albumentations Compose image by image. Every batch is seeded from the batch's
    seed and each worker thread keeps its own copy of the Composes, so the result does not
    depend on which thread ran which batch.
    """

    def __init__(self, steps: list[dict[str, Any]], in_graph: bool = True) -> None:
        import threading

        import albumentations as A

        from kerasnets.data.batch_kernels import batch_kernel
        from kerasnets.data.graph_kernels import graph_kernel

        self.steps = steps
        self.compose = build_transforms(steps)
        graph = [(t, graph_kernel(t)) for t in self.compose.transforms]
        #: When every transform has an in-graph kernel, the pipeline runs them as TF ops.
        self.graph_stages = graph if in_graph and all(k for _, k in graph) else None
        self._graph_fn = None
        self.stages: list[tuple[str, Any]] = []  # ("batch", (transform, kernel)) or ("image", Compose)
        pending: list[Any] = []
        for transform in self.compose.transforms:
            kernel = batch_kernel(transform)
            if kernel is None:
                pending.append(transform)
                continue
            if pending:
                self.stages.append(("image", A.Compose(pending, strict=True)))
                pending = []
            self.stages.append(("batch", (transform, kernel)))
        if pending:
            self.stages.append(("image", A.Compose(pending, strict=True)))
        self._local = threading.local()

    @property
    def in_graph(self) -> bool:
        """Whether the whole list runs as TensorFlow ops (``apply_in_graph``)."""
        return self.graph_stages is not None

    def apply_in_graph(self, images, seed):
        """The transforms as TF ops on a uint8 batch tensor, seeded by the batch's int64 seed,
        compiled with XLA (one fused program per batch shape)."""
        if self._graph_fn is None:
            import tensorflow as tf

            self._graph_fn = tf.function(self._graph_chain, jit_compile=True, autograph=False)
        return self._graph_fn(images, seed)

    def _graph_chain(self, images, seed):
        import tensorflow as tf

        for index, (transform, kernel) in enumerate(self.graph_stages or []):
            pair = tf.stack([tf.cast(seed, tf.int64), tf.constant(1_000 + 8 * index, tf.int64)])
            images = kernel.apply(transform, images, pair)
        return images

    @property
    def batch_kernels(self) -> list[str]:
        """Names of the transforms that run as whole-batch kernels."""
        return [type(stage[0]).__name__ for kind, stage in self.stages if kind == "batch"]

    def _thread_stages(self):
        stages = getattr(self._local, "stages", None)
        if stages is None:
            import copy

            stages = self._local.stages = copy.deepcopy(self.stages)
        return stages

    def __call__(self, images, seed):
        import numpy as np

        seed = int(seed) % (2**32)
        rng = np.random.default_rng(seed)
        for index, (kind, stage) in enumerate(self._thread_stages()):
            if kind == "batch":
                transform, kernel = stage
                images = kernel.apply(transform, images, rng)
                continue
            stage.set_random_seed((seed + index) % (2**32))
            out = np.empty_like(images)
            for i, image in enumerate(images):
                out[i] = stage(image=image)["image"].reshape(image.shape)
            images = out
        return images

    def __getstate__(self):  # thread-locals do not copy
        return {"steps": self.steps, "in_graph": self.in_graph}

    def __setstate__(self, state):
        self.__init__(state["steps"], state.get("in_graph", True))

    def check_shape(self, image) -> None:
        """Raise when the transforms change an image's shape (batches must keep static shapes)."""
        from kerasnets.errors import KerasnetsError

        result = self(image[None], 0)[0] if image.ndim == 3 else image
        if result.shape != image.shape:
            raise KerasnetsError(
                f"augment: the transforms turn {tuple(image.shape)} images into {tuple(result.shape)}; "
                "set data.image_size (or the transform's size) so that they agree"
            )

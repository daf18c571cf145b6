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
        name for name in dir(A)
        if isinstance(getattr(A, name), type) and issubclass(getattr(A, name), BasicTransform)
        and not name.startswith("_")
    )


def _split_step(step: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(step, dict) or len(step) != 1:
        raise ValueError("expected one mapping {TransformName: {arguments}}")
    (name, args), = step.items()
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
    """Applies one recipe Compose to whole uint8 batches ``(B, H, W, C)``.

    Built once per run. Each worker thread keeps its own copy of the Compose and reseeds it
    from the batch's seed, so the result does not depend on which thread ran which batch.
    """

    def __init__(self, steps: list[dict[str, Any]]) -> None:
        import threading

        self.steps = steps
        self.compose = build_transforms(steps)
        self._local = threading.local()

    def _thread_compose(self):
        compose = getattr(self._local, "compose", None)
        if compose is None:
            import copy

            compose = self._local.compose = copy.deepcopy(self.compose)
        return compose

    def __call__(self, images, seed):
        import numpy as np

        compose = self._thread_compose()
        compose.set_random_seed(int(seed) % (2**32))
        out = np.empty_like(images)
        for i, image in enumerate(images):
            out[i] = compose(image=image)["image"].reshape(image.shape)
        return out

    def check_shape(self, image) -> None:
        """Raise when the transforms change an image's shape (batches must keep static shapes)."""
        from kerasnets.errors import KerasnetsError

        result = self.compose(image=image)["image"]
        if result.shape != image.shape:
            raise KerasnetsError(
                f"augment: the transforms turn {tuple(image.shape)} images into {tuple(result.shape)}; "
                "set data.image_size (or the transform's size) so that they agree")

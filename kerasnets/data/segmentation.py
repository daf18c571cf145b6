"""Segmentation data sets: generated shapes with per-pixel labels, and image/mask folders.

Both return ``RawData`` whose labels are masks ``(N, H, W)`` of int32 class ids; the pipeline
(``kerasnets.data.pipeline.prepare``) splits them without stratifying and resizes masks with
the nearest neighbour.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasnets.data.base import DATASETS, IMAGE_SUFFIXES, RawData
from kerasnets.errors import DataError

SHAPE_CLASSES = ["background", "circle", "square", "triangle"]


# ----------------------------------------------------------------------------- shapes


def _shape_mask(kind: int, grid: np.ndarray, cy: float, cx: float, radius: float, angle: float) -> np.ndarray:
    """Boolean mask of one filled shape on ``grid`` (pixel-centre coordinates, (2, H, W)):
    1 circle, 2 square, 3 triangle centred at (cy, cx); ``radius`` is the circumradius,
    squares and triangles are rotated by ``angle``."""
    dy, dx = grid[0] - cy, grid[1] - cx
    if kind == 1:
        return dy**2 + dx**2 <= radius**2
    # rotate the pixel grid into the shape's frame
    u = dx * np.cos(angle) + dy * np.sin(angle)
    v = -dx * np.sin(angle) + dy * np.cos(angle)
    if kind == 2:
        half = radius / np.sqrt(2.0)
        return (np.abs(u) <= half) & (np.abs(v) <= half)
    # equilateral triangle: inside all three edges, each at distance radius / 2 from the centre
    inside = np.ones_like(u, dtype=bool)
    for k in range(3):
        theta = np.pi / 2 + 2 * np.pi * k / 3  # outward normals of the edges
        inside &= u * np.cos(theta) + v * np.sin(theta) <= radius / 2
    return inside


def _colour_apart(rng: np.random.Generator, other: np.ndarray, distance: float = 96.0) -> np.ndarray:
    """A random RGB colour at least ``distance`` away from ``other`` (so shapes stay visible)."""
    while True:
        colour = rng.integers(0, 256, 3).astype(np.float32)
        if np.linalg.norm(colour - other) >= distance:
            return colour


def make_shapes(
    num_samples: int, size: int, max_shapes: int, noise: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, size, size, 3)`` uint8 and masks ``(N, size, size)`` int32 (see ``shapes``)."""
    rng = np.random.default_rng(seed)
    grid = np.mgrid[0:size, 0:size].astype(np.float32) + 0.5
    images = np.empty((num_samples, size, size, 3), np.uint8)
    masks = np.zeros((num_samples, size, size), np.int32)
    for n in range(num_samples):
        background = rng.integers(0, 256, 3).astype(np.float32)
        image = np.broadcast_to(background, (size, size, 3)).copy()
        for _ in range(rng.integers(1, max_shapes + 1)):
            kind = int(rng.integers(1, 4))
            radius = rng.uniform(0.1, 0.25) * size
            cy, cx = rng.uniform(radius * 0.7, size - radius * 0.7, 2)
            inside = _shape_mask(kind, grid, cy, cx, radius, rng.uniform(0, 2 * np.pi))
            image[inside] = _colour_apart(rng, background)
            masks[n][inside] = kind  # later shapes cover earlier ones
        if noise:
            image += rng.normal(0.0, noise, image.shape)
        images[n] = np.clip(np.rint(image), 0, 255).astype(np.uint8)
    return images, masks


@DATASETS.register("shapes", classes=4, shape=None)
def shapes(
    search: list[Path],
    image_size: tuple[int, int] | None = None,
    num_samples: int = 2000,
    size: int = 64,
    max_shapes: int = 3,
    noise: float = 16.0,
    seed: int = 0,
) -> RawData:
    """Generated segmentation data (no files): filled circles, squares and triangles of random
    size, position, rotation and colour, 1 to ``max_shapes`` per ``size`` x ``size`` image, later
    ones covering earlier ones, on a plain random background; gaussian pixel noise of standard
    deviation ``noise`` (0..255 scale) over everything. Masks label each pixel background (0),
    circle (1), square (2) or triangle (3). The same ``seed`` gives the same data; the test
    split comes from ``data.test_split``."""
    if num_samples < 2 or size < 8 or max_shapes < 1 or noise < 0:
        raise DataError(
            "data set 'shapes' needs num_samples >= 2, size >= 8, max_shapes >= 1 and noise >= 0, "
            f"got num_samples={num_samples}, size={size}, max_shapes={max_shapes}, noise={noise}"
        )
    images, masks = make_shapes(num_samples, size, max_shapes, noise, seed)
    return RawData(images, masks, list(SHAPE_CLASSES), source=f"generated (seed {seed})")


# ----------------------------------------------------------------------------- mask folders

MASK_SUFFIXES = (".png", ".bmp", ".gif", ".tif", ".tiff")
MASK_LAYOUT = (
    "images/ and masks/ (same file names; masks single-channel PNGs of class ids), "
    "optionally inside train/ and test/"
)


def _by_stem(folder: Path, suffixes: tuple[str, ...]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() not in suffixes:
            continue
        if path.stem in found:
            raise DataError(f"{folder}: {found[path.stem].name} and {path.name} share a name; keep one")
        found[path.stem] = path
    return found


def _pairs(base: Path) -> list[tuple[Path, Path]]:
    for folder in ("images", "masks"):
        if not (base / folder).is_dir():
            raise DataError(f"{base}: missing folder {folder}/. Layout: {MASK_LAYOUT}")
    images = _by_stem(base / "images", IMAGE_SUFFIXES)
    masks = _by_stem(base / "masks", MASK_SUFFIXES)
    if not images:
        raise DataError(f"{base / 'images'}: no images ({', '.join(IMAGE_SUFFIXES)})")
    unpaired = {"mask": images.keys() - masks.keys(), "image": masks.keys() - images.keys()}
    for what, stems in unpaired.items():
        if stems:
            shown = ", ".join(sorted(stems)[:5]) + (" ..." if len(stems) > 5 else "")
            raise DataError(
                f"{base / (what + 's')}: no {what} for {len(stems)} file(s) ({shown}); images/ and "
                f"masks/ must hold the same file names (masks as {', '.join(MASK_SUFFIXES)})"
            )
    return [(images[stem], masks[stem]) for stem in sorted(images)]


def _read_pair(
    image_path: Path, mask_path: Path, size: tuple[int, int] | None
) -> tuple[np.ndarray, np.ndarray]:
    from PIL import Image

    with Image.open(image_path) as img, Image.open(mask_path) as mask:
        if mask.mode not in ("L", "P", "I", "I;16", "1"):
            raise DataError(
                f"{mask_path}: a mask must be a single-channel image of class ids (mode L, P, I, I;16 or 1), "
                f"got mode {mask.mode}"
            )
        if img.size != mask.size:
            raise DataError(
                f"{mask_path}: mask is {mask.size[0]}x{mask.size[1]} but its image {image_path.name} "
                f"is {img.size[0]}x{img.size[1]} (width x height); they must match"
            )
        img = img.convert("RGB")
        if size:
            img = img.resize((size[1], size[0]), Image.BILINEAR)
            mask = mask.resize((size[1], size[0]), Image.NEAREST)  # class ids must not blend
        return np.asarray(img, dtype=np.uint8), np.asarray(mask, dtype=np.int32)


def _read_split(base: Path, size: tuple[int, int] | None) -> tuple[np.ndarray, np.ndarray]:
    pairs = [_read_pair(i, m, size) for i, m in _pairs(base)]
    shapes = {image.shape[:2] for image, _ in pairs}
    if len(shapes) > 1:
        raise DataError(
            f"{base / 'images'}: images differ in size ({', '.join(f'{h}x{w}' for h, w in sorted(shapes))}); "
            "set data.image_size: [height, width] to resize them (masks use the nearest neighbour)"
        )
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def _class_names(root: Path, given: list[str] | None, masks: list[np.ndarray]) -> list[str]:
    highest = max(int(m.max()) for m in masks)
    names = given
    if names is None and (root / "classes.txt").is_file():
        names = [line.strip() for line in (root / "classes.txt").read_text().splitlines() if line.strip()]
    if names is None:
        return [str(i) for i in range(highest + 1)]
    if highest >= len(names):
        source = "data.options.class_names" if given is not None else str(root / "classes.txt")
        raise DataError(
            f"{root}: masks hold class id {highest} but {source} names only {len(names)} classes "
            f"(ids 0..{len(names) - 1})"
        )
    return list(names)


def _mask_root(search: list[Path]) -> Path:
    for base in search:
        if (base / "images").is_dir() or (base / "train" / "images").is_dir():
            return base
    looked = ", ".join(str(b) for b in search) or "(no folders: set data.dir)"
    raise DataError(
        f"data set 'mask_folder' found no images/ or train/images/ folder in: {looked}. Layout: {MASK_LAYOUT}"
    )


@DATASETS.register("mask_folder", classes=None, shape=None)
def mask_folder(
    search: list[Path],
    image_size: tuple[int, int] | None = None,
    class_names: list[str] | None = None,
) -> RawData:
    """Your own segmentation data in ``data.dir``: ``images/`` and ``masks/`` with the same
    file names (masks: single-channel PNGs whose pixel values are class ids), or ``train/``
    and ``test/`` each holding both (the official split; otherwise ``data.test_split``).
    Class names come from ``class_names``, else ``classes.txt`` (one per line, id order), else
    the ids. ``data.image_size`` resizes images (bilinear) and masks (nearest neighbour)."""
    root = _mask_root(search)
    size = tuple(image_size) if image_size else None
    split = (root / "train" / "images").is_dir()
    x_tr, y_tr = _read_split(root / "train" if split else root, size)
    x_te = y_te = None
    if split and (root / "test").is_dir():
        x_te, y_te = _read_split(root / "test", size)
        if x_te.shape[1:] != x_tr.shape[1:]:
            raise DataError(
                f"{root}: test images are {x_te.shape[1]}x{x_te.shape[2]}, train images "
                f"{x_tr.shape[1]}x{x_tr.shape[2]}; set data.image_size to give both one size"
            )
    masks = [y_tr] if y_te is None else [y_tr, y_te]
    return RawData(x_tr, y_tr, _class_names(root, class_names, masks), x_te, y_te, str(root))

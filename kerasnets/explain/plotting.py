"""The one plotting helper every explainer uses: a grid of titled image cells, with colour
bars (per cell or one shared), written to a PNG."""

from __future__ import annotations

import textwrap
from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass
class Cell:
    """One panel: a 2-D array (drawn with ``cmap``) or an RGB array in [0, 1]."""

    image: np.ndarray
    title: str = ""
    cmap: str = "gray"
    vmin: float | None = None
    vmax: float | None = None
    colorbar: bool = False


@dataclass
class Shared:
    """One colour bar for the whole grid; the cells it describes carry the same cmap and
    limits themselves (a grid may also hold pictures on their own scale)."""

    cmap: str
    vmin: float
    vmax: float
    label: str = ""


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def picture(image: np.ndarray) -> Cell:
    """A uint8 data image as a cell (grey on a fixed 0-255 scale, or RGB)."""
    image = np.asarray(image)
    if image.shape[-1] == 1:
        return Cell(image[..., 0].astype(np.float32), vmin=0, vmax=255)
    return Cell(image[..., :3].astype(np.float32) / 255.0)


def symmetric(values: np.ndarray) -> float:
    """A colour limit symmetric about zero (never 0, so imshow never divides by it)."""
    return float(np.max(np.abs(values))) or 1e-12


def rescale(image: np.ndarray) -> np.ndarray:
    """Min-max to [0, 1] (for RGB kernels, gradients and synthesised images)."""
    low, high = float(image.min()), float(image.max())
    return (image - low) / (high - low) if high > low else np.zeros_like(image)


def save_grid(
    rows: list[list[Cell | None]],
    path: Path,
    title: str,
    shared: Shared | None = None,
    cell_inches: float = 1.5,
) -> Path:
    """Draw ``rows`` of cells (``None`` leaves a gap) under ``title``; write ``path``."""
    plt = _pyplot()
    n_rows, n_cols = len(rows), max(len(row) for row in rows)
    width = cell_inches * n_cols + (1.0 if shared else 0.3)
    fig, axes = plt.subplots(
        n_rows, n_cols, figsize=(width, (cell_inches + 0.25) * n_rows + 0.8), squeeze=False
    )
    for r, row in enumerate(rows):
        for c in range(n_cols):
            ax = axes[r][c]
            ax.axis("off")
            cell = row[c] if c < len(row) else None
            if cell is None:
                continue
            kwargs = {"cmap": cell.cmap, "vmin": cell.vmin, "vmax": cell.vmax} if cell.image.ndim == 2 else {}
            im = ax.imshow(cell.image, interpolation="nearest", **kwargs)
            ax.set_title(cell.title, fontsize=7)
            if cell.colorbar and cell.image.ndim == 2:
                bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
                bar.ax.tick_params(labelsize=6)
    fig.suptitle(textwrap.fill(title, max(40, int(width * 15))), fontsize=9)
    if shared:
        fig.tight_layout(rect=(0, 0, 1 - 0.8 / width, 0.95))
        mappable = plt.cm.ScalarMappable(plt.Normalize(shared.vmin, shared.vmax), shared.cmap)
        axis = fig.add_axes((1 - 0.65 / width, 0.12, 0.18 / width, 0.72))
        bar = fig.colorbar(mappable, cax=axis)
        bar.set_label(shared.label, fontsize=7)
        bar.ax.tick_params(labelsize=6)
    else:
        fig.tight_layout(rect=(0, 0, 1, 0.95))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path

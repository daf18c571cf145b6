"""Learned kernels: the first layer as a picture grid (Krizhevsky et al. 2012, Fig. 3), deeper
layers as one small grid per output filter and input channel."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from kerasnets.explain.base import ExplainOptions, NotApplicable, register
from kerasnets.explain.plotting import Cell, Shared, rescale, save_grid, symmetric

MAX_FIRST = 96  # AlexNet's 96 first-layer kernels
MAX_GRID = 16  # output filters x input channels shown for deeper layers


def file_name(path: str) -> str:
    return path.replace("/", "__")


def kernel_of(layer) -> np.ndarray:
    """The (kh, kw, in, out) kernel of any 2-D convolution (depthwise: (kh, kw, in, mult))."""
    import keras

    weights = getattr(layer, "depthwise_kernel", None)
    weights = weights if weights is not None else layer.kernel
    kernel = keras.ops.convert_to_numpy(weights)
    if isinstance(layer, keras.layers.Conv2DTranspose):
        kernel = kernel.transpose(0, 1, 3, 2)  # stored as (kh, kw, out, in)
    return kernel


def default_layers(model) -> list[str]:
    """The first convolution, then up to two deeper ones with spatial kernels."""
    from kerasnets.explain import graph

    convs = graph.require_conv(model)
    spatial = [p for p in convs[1:] if max(kernel_of(graph.find_layer(model, p)[1]).shape[:2]) > 1]
    deeper = [spatial[0], spatial[-1]] if len(spatial) > 1 else spatial
    return [convs[0], *dict.fromkeys(deeper)]


def first_layer_grid(kernel: np.ndarray, path: str, out: Path) -> Path:
    kh, kw, cin, cout = kernel.shape
    count = min(cout, MAX_FIRST)
    cols = math.ceil(math.sqrt(count))
    tiles = [kernel[..., i] for i in range(count)]
    if cin == 3:  # AlexNet-style: each kernel rescaled to [0, 1] on its own, shown as colour
        cells = [Cell(rescale(t), f"{i}") for i, t in enumerate(tiles)]
        shared, how = None, "RGB, each kernel min-max rescaled"
    else:
        limit = symmetric(kernel)
        cells = [Cell(t[..., 0], f"{i}", "gray", -limit, limit) for i, t in enumerate(tiles)]
        shared, how = Shared("gray", -limit, limit, "weight"), "grey, one shared scale"
    rows = [cells[r : r + cols] for r in range(0, count, cols)]
    title = f"{path}: {count} of {cout} first-layer kernels, {kh}x{kw}x{cin} ({how})"
    return save_grid(rows, out / f"{file_name(path)}.png", title, shared, cell_inches=0.9)


def channel_grid(kernel: np.ndarray, path: str, out: Path, filters: list[int] | None) -> Path:
    kh, kw, cin, cout = kernel.shape
    outs = [f for f in (filters or range(cout)) if f < cout][:MAX_GRID]
    ins = list(range(min(cin, MAX_GRID)))
    limit = symmetric(kernel[..., ins, :][..., outs])
    rows = [
        [
            Cell(
                kernel[:, :, i, o],
                f"out {o}, in {i}"
                if r == 0 and c == 0
                else (f"in {i}" if r == 0 else (f"out {o}" if c == 0 else "")),
                "RdBu_r",
                -limit,
                limit,
            )
            for c, i in enumerate(ins)
        ]
        for r, o in enumerate(outs)
    ]
    title = (
        f"{path}: {kh}x{kw} kernels, rows = output filters ({len(outs)} of {cout}), "
        f"columns = input channels ({len(ins)} of {cin})"
    )
    return save_grid(
        rows, out / f"{file_name(path)}.png", title, Shared("RdBu_r", -limit, limit, "weight"), 0.7
    )


@register(
    "filters",
    options=("layer", "channels"),
    doc="first-layer kernels as a picture grid; deeper kernels per output filter x input channel",
)
def filters(model, splits, options: ExplainOptions) -> list[Path]:
    from kerasnets.explain import graph

    graph.require_conv(model)
    paths = [graph.find_layer(model, options.layer)[0]] if options.layer else default_layers(model)
    first = graph.conv_layers(model)[0]
    written = []
    for path in paths:
        layer = graph.find_layer(model, path)[1]
        if not isinstance(layer, graph.CONV_TYPES):
            raise NotApplicable(f"filters: layer {path!r} is not a convolution")
        kernel = kernel_of(layer)
        if path == first and kernel.shape[2] in (1, 3):
            written.append(first_layer_grid(kernel, path, options.out))
        else:
            written.append(channel_grid(kernel, path, options.out, options.channels))
    return written

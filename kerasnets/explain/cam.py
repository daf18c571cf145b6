"""Grad-CAM and guided Grad-CAM (Selvaraju et al. 2017): where in the image the last
convolution's maps (or ``--layer``'s) carry evidence for a class, and that map multiplied
with guided backpropagation for pixel-sharp detail."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from kerasnets.explain.base import ExplainOptions, register
from kerasnets.explain.gradients import chosen_images, image_title, signed_cell
from kerasnets.explain.plotting import Cell, picture, save_grid


def cams(model, layer: str | None, x: np.ndarray, classes: np.ndarray) -> tuple[str, np.ndarray]:
    """(layer used, Grad-CAM maps (N, H, W) each scaled to a maximum of 1, or all 0)."""
    from kerasnets.explain import graph

    path = graph.cam_layer(model, layer)
    maps = graph.grad_cam(model, path, x, classes)
    peak = maps.reshape(len(maps), -1).max(-1)
    return path, maps / np.where(peak > 0, peak, 1.0)[:, None, None]


def _overlay(image: np.ndarray, heat: np.ndarray) -> np.ndarray:
    """The picture in grey with the heat map (0..1) laid over it in the jet colours."""
    import matplotlib

    grey = image.astype(np.float32).mean(-1) / 255.0
    colours = matplotlib.colormaps["jet"](heat)[..., :3]
    return 0.5 * grey[..., None] + 0.5 * colours


@register(
    "grad-cam",
    options=("images", "class", "layer"),
    doc="ReLU of the last conv maps weighted by their mean class-score gradient, upsampled (Selvaraju 2017)",
)
def grad_cam(model, splits, options: ExplainOptions) -> list[Path]:
    index, x, classes, predicted = chosen_images(model, splits, options)
    path, maps = cams(model, options.layer, x, classes)
    rows = []
    for n, i in enumerate(index):
        first = picture(splits.x_test[i])
        first.title = image_title(splits, i, predicted[n])
        name = splits.class_names[classes[n]]
        heat = Cell(maps[n], f"Grad-CAM ({name})", "jet", 0.0, 1.0, True)
        rows.append([first, heat, Cell(_overlay(splits.x_test[i], maps[n]), "overlay")])
    title = f"Grad-CAM (Selvaraju et al. 2017) of layer {path}, per image scaled to its maximum"
    return [save_grid(rows, options.out / "grad_cam.png", title, None, 2.2)]


@register(
    "guided-grad-cam",
    options=("images", "class", "layer"),
    doc="guided backpropagation times the upsampled Grad-CAM map (Selvaraju 2017)",
)
def guided_grad_cam(model, splits, options: ExplainOptions) -> list[Path]:
    from kerasnets.explain import graph

    index, x, classes, predicted = chosen_images(model, splits, options)
    path, maps = cams(model, options.layer, x, classes)
    guided = graph.input_gradients(graph.score_model(model, guided=True), x, classes)
    product = guided * maps[..., None]
    rows = []
    for n, i in enumerate(index):
        first = picture(splits.x_test[i])
        first.title = image_title(splits, i, predicted[n])
        name = splits.class_names[classes[n]]
        rows.append(
            [
                first,
                Cell(maps[n], f"Grad-CAM ({name})", "jet", 0.0, 1.0, True),
                signed_cell(guided[n], name),
                signed_cell(product[n], f"x Grad-CAM, {name}"),
            ]
        )
    title = f"Guided Grad-CAM (Selvaraju et al. 2017): guided backprop x Grad-CAM of layer {path}"
    return [save_grid(rows, options.out / "guided_grad_cam.png", title, None, 2.2)]

"""``kerasnets compare``: one number of finished runs against another (by default test
accuracy against parameter count, seed 000's CNN-vs-MLP comparison), as a PNG; or, with
``--curves METRIC``, every run's per-epoch ``METRIC`` (solid) and ``val_METRIC`` (dashed)
on one set of axes (``--error``: as error, 100 (1 - value) %; He et al.'s Fig. 4 and 6).

The plot is saved locally, not logged: a comparison run would land in the experiment it
compares and show up in the next comparison. The plotted values travel in the PNG itself
(text chunk ``kerasnets.points``, JSON), so the figure can be checked or re-plotted.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from kerasnets.errors import KerasnetsError

POINTS_KEY = "kerasnets.points"


@dataclass(frozen=True)
class Point:
    run_id: str
    label: str  # the run's name
    model: str  # model.name of its recipe (one colour per model)
    x: float
    y: float


def run_value(run, key: str) -> float | None:
    """A run's metric ``key``, else its param ``key`` as a number; None when it has neither."""
    data = run.data
    value = data.metrics.get(key, data.params.get(key))
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _chosen_runs(run_ids: list[str], experiment: str | None, uri: str | None) -> tuple[Any, list]:
    """A client of the store and the given runs, or the FINISHED runs of ``experiment`` (one
    of the two, else a ``KerasnetsError``), oldest first."""
    from mlflow import MlflowClient

    from kerasnets.tracking import tracking_uri

    if bool(run_ids) == bool(experiment):
        raise KerasnetsError("give RUN_IDs or --experiment E (one of them)")
    client = MlflowClient(tracking_uri(uri))
    if run_ids:
        runs = []
        for run_id in run_ids:
            try:
                runs.append(client.get_run(run_id))
            except Exception:  # noqa: BLE001 - MlflowException for unknown ids
                raise KerasnetsError(f"no run {run_id!r} in the tracking store") from None
        return client, runs
    found = client.get_experiment_by_name(experiment)
    if found is None:
        names = ", ".join(e.name for e in client.search_experiments()) or "none"
        raise KerasnetsError(f"--experiment: no experiment {experiment!r}. Valid: {names}")
    runs = client.search_runs(
        [found.experiment_id], "attributes.status = 'FINISHED'", order_by=["attributes.start_time ASC"]
    )
    return client, runs


def _label(run) -> str:
    """A run's name, else the start of its id."""
    return run.info.run_name or run.info.run_id[:8]


def _save(fig, out: Path, meta: dict) -> Path:
    """Write ``fig`` to ``out`` with what it plots in the PNG's text chunk, then free it."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100, metadata={POINTS_KEY: json.dumps(meta)})
    plt.close(fig)
    return out


@dataclass(frozen=True)
class Curve:
    run_id: str
    label: str  # the run's name
    metric: str  # the logged metric, e.g. accuracy or val_accuracy
    steps: list[int]  # epochs, as logged (1 = the first)
    values: list[float]


def collect_curves(
    run_ids: list[str], experiment: str | None, metric: str, uri: str | None = None
) -> tuple[list[Curve], list[str]]:
    """The per-epoch histories of ``metric`` and ``val_{metric}`` of the given runs (or of the
    FINISHED runs of ``experiment``), and the ids of the runs that logged neither."""
    client, runs = _chosen_runs(run_ids, experiment, uri)
    curves, skipped = [], []
    for run in runs:
        label = _label(run)
        found = []
        for key in (metric, f"val_{metric}"):
            history = sorted(client.get_metric_history(run.info.run_id, key), key=lambda m: m.step)
            if history:
                steps, values = [m.step for m in history], [float(m.value) for m in history]
                found.append(Curve(run.info.run_id, label, key, steps, values))
        curves += found
        if not found:
            skipped.append(run.info.run_id)
    return curves, skipped


def error_percent(value: float) -> float:
    """An accuracy as an error in percent."""
    return 100.0 * (1.0 - value)


def plot_curves(curves: list[Curve], metric: str, out: Path, error: bool = False, title: str = "") -> Path:
    """One colour per run: ``metric`` solid, ``val_{metric}`` dashed, against epochs."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not curves:
        raise KerasnetsError(f"no run logged {metric!r} or 'val_{metric}' per epoch")
    shown = f"{metric} error (%)" if error else metric
    fig, ax = plt.subplots(figsize=(7, 4.5))
    colours: dict[str, str] = {}
    for curve in curves:
        colour = colours.setdefault(curve.run_id, f"C{len(colours) % 10}")
        values = [error_percent(v) for v in curve.values] if error else curve.values
        validation = curve.metric != metric
        split = "validation" if validation else "training"
        ax.plot(
            curve.steps, values, color=colour, linestyle="--" if validation else "-",
            linewidth=1.0 if validation else 2.0, label=f"{curve.label} ({split})",
        )  # fmt: skip
    ax.set_xlabel("epoch")
    ax.set_ylabel(shown)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or f"{shown} per epoch: training solid, validation dashed", fontsize=10)
    return _save(fig, out, {"metric": metric, "error": error, "curves": [asdict(c) for c in curves]})


def collect(
    run_ids: list[str], experiment: str | None, x: str, y: str, uri: str | None = None
) -> tuple[list[Point], list[str]]:
    """The points of the given runs (or of the FINISHED runs of ``experiment``) and the ids of
    those skipped because they lack ``x`` or ``y``."""
    _, runs = _chosen_runs(run_ids, experiment, uri)
    points, skipped = [], []
    for run in runs:
        vx, vy = run_value(run, x), run_value(run, y)
        if vx is None or vy is None:
            skipped.append(run.info.run_id)
            continue
        model = run.data.params.get("model.name", run.data.tags.get("model", ""))
        points.append(Point(run.info.run_id, _label(run), model, vx, vy))
    return points, skipped


def plot(points: list[Point], x: str, y: str, out: Path, xscale: str = "log", title: str = "") -> Path:
    """Scatter ``points`` (one colour per model, each labelled with its run name) to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not points:
        raise KerasnetsError(f"no run has both {x!r} and {y!r} to plot")
    if xscale == "log" and min(p.x for p in points) <= 0:
        raise KerasnetsError(f"--xscale log: {x!r} has values <= 0; use --xscale linear")
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for model in dict.fromkeys(p.model for p in points):
        mine = [p for p in points if p.model == model]
        ax.scatter([p.x for p in mine], [p.y for p in mine], label=model or "?", s=36, zorder=3)
    for p in points:
        ax.annotate(p.label, (p.x, p.y), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale(xscale)
    ax.set_xlabel(x + (" (log scale)" if xscale == "log" else ""))
    ax.set_ylabel(y)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(title="model", fontsize=8)
    ax.set_title(title or f"{y} against {x} over {len(points)} runs", fontsize=10)
    return _save(fig, out, {"x": x, "y": y, "xscale": xscale, "points": [asdict(p) for p in points]})


def read_points(path: Path) -> dict:
    """What ``plot`` drew, read back from the PNG's text chunk."""
    from PIL import Image

    with Image.open(path) as image:
        return json.loads(image.text[POINTS_KEY])

"""The sweep's report on its parent run: trials.csv, two plots, best.json and best_recipe.yaml.

Written to ``<state dir>/report/`` and logged as the parent's artifacts (overwritten when a
continued sweep ends again); the best values become ``best.<key>`` tags and the best
objective the ``best_objective`` metric.
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kerasnets.tuning.records import EXECUTION_TAG, TRIAL_TAG, SweepRecords
from kerasnets.tuning.sweep import BooleanSpace, ChoiceSpace, FloatSpace, Sweep


@dataclass
class SweepResult:
    """What ``tune`` returns: the parent run, the state folder, the report's rows and the best."""

    parent_run_id: str
    state_dir: Path
    trials: list[dict[str, Any]]
    best: dict[str, Any] | None
    best_recipe: Path | None


def trial_rows(sweep: Sweep, oracle, records: SweepRecords) -> list[dict[str, Any]]:
    """One row per trial: id, status, objective, the tuned values, child run ids, failure."""
    runs: dict[str, list] = {}
    for run in records.children():
        runs.setdefault(run.data.tags.get(TRIAL_TAG, ""), []).append(run)
    rows = []
    for trial_id in sorted(oracle.trials, key=int):
        trial = oracle.trials[trial_id]
        values = trial.hyperparameters.values
        children = sorted(runs.get(trial_id, []), key=lambda r: int(r.data.tags.get(EXECUTION_TAG, 0)))
        message = (trial.message or "").strip().splitlines()
        row = {
            "number": int(trial_id) + 1,
            "trial": trial_id,
            "status": trial.status,
            "objective": trial.score if trial.status == "COMPLETED" else None,
            **{key: values.get(key) for key in sweep.space},
            "epochs": values.get("tuner/epochs", ""),
            "run_ids": " ".join(r.info.run_id for r in children),
            "failure": message[-1] if trial.status != "COMPLETED" and message else "",
        }
        rows.append(row)
    return rows


def write_report(sweep: Sweep, oracle, records: SweepRecords, folder: Path) -> SweepResult:
    out = folder / "report"
    out.mkdir(parents=True, exist_ok=True)
    rows = trial_rows(sweep, oracle, records)
    with open(out / "trials.csv", "w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(rows[0]) if rows else ["trial"])
        writer.writeheader()
        writer.writerows(rows)
    _plots(sweep, rows, out)
    best, best_recipe = _best(sweep, oracle, rows, out)
    records.log_artifacts(out)
    if best:
        records.set_tags(
            {
                "best.trial": best["number"],
                "best.run_id": best["run_ids"].split(" ")[0],
                **{f"best.{k}": best[k] for k in sweep.space if best.get(k) is not None},
            }
        )
        records.log_metrics({"best_objective": best["objective"]})
    records.log_metrics(
        {
            "trials_completed": sum(r["status"] == "COMPLETED" for r in rows),
            "trials_failed": sum(r["status"] in ("FAILED", "INVALID") for r in rows),
        }
    )
    return SweepResult(records.parent_run_id, folder, rows, best, best_recipe)


def _best(sweep: Sweep, oracle, rows: list[dict[str, Any]], out: Path):
    done = [r for r in rows if r["objective"] is not None and math.isfinite(r["objective"])]
    if not done:
        return None, None
    pick = max if sweep.file.objective.mode == "max" else min
    best = pick(done, key=lambda r: r["objective"])
    values = {k: v for k, v in oracle.trials[best["trial"]].hyperparameters.values.items()}
    recipe = sweep.trial_recipe({k: v for k, v in values.items() if k in sweep.space})
    if best["epochs"]:
        recipe = recipe.model_copy(
            update={"train": recipe.train.model_copy(update={"epochs": int(best["epochs"])})}
        )
    objective = sweep.file.objective.name
    header = (
        f"# Best trial {best['number']} of sweep {sweep.name} ({sweep.path}): {objective} "
        f"{best['objective']:.6g}\n# run {best['run_ids']}; values: "
        f"{json.dumps({k: best[k] for k in sweep.space if best.get(k) is not None}, default=str)}\n"
    )
    path = out / "best_recipe.yaml"
    path.write_text(header + recipe.to_yaml())
    (out / "best.json").write_text(json.dumps(best, indent=2, default=str))
    return best, path


def _plots(sweep: Sweep, rows: list[dict[str, Any]], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    objective, mode = sweep.file.objective.name, sweep.file.objective.mode
    done = [r for r in rows if r["objective"] is not None]
    numbers = [r["number"] for r in done]
    scores = [r["objective"] for r in done]

    figure, ax = plt.subplots(figsize=(7, 4))
    ax.scatter(numbers, scores, label="trial")
    best, best_line = None, []
    for score in scores:
        best = score if best is None else (max if mode == "max" else min)(best, score)
        best_line.append(best)
    ax.step(numbers, best_line, where="post", color="C1", label="best so far")
    failed = [r["number"] for r in rows if r["objective"] is None]
    if failed and scores:
        ax.scatter(failed, [min(scores)] * len(failed), marker="x", color="C3", label="failed")
    ax.set(xlabel="trial", ylabel=objective, title=f"{sweep.name}: {objective} per trial")
    ax.legend()
    figure.tight_layout()
    figure.savefig(out / "objective_per_trial.png", dpi=100)
    plt.close(figure)

    keys = list(sweep.space)
    cols = min(3, len(keys))
    figure, axes = plt.subplots(
        math.ceil(len(keys) / cols),
        cols,
        figsize=(4.5 * cols, 3.5 * math.ceil(len(keys) / cols)),
        squeeze=False,
    )
    for ax, key in zip(axes.flat, keys, strict=False):
        entry = sweep.space[key]
        points = [(r[key], r["objective"]) for r in done if r.get(key) is not None]
        if isinstance(entry, ChoiceSpace | BooleanSpace):
            labels = [str(x) for x in sweep.labels(key)]
            xs = [labels.index(str(v)) for v, _ in points]
            ax.set_xticks(range(len(labels)), [x[:14] for x in labels], rotation=30, ha="right")
            ax.set_xlim(-0.5, len(labels) - 0.5)
        else:
            xs = [float(v) for v, _ in points]
            if isinstance(entry, FloatSpace) and entry.log or getattr(entry, "log", False):
                ax.set_xscale("log")
        ax.scatter(xs, [s for _, s in points])
        ax.set(xlabel=key, ylabel=objective)
    for ax in list(axes.flat)[len(keys) :]:
        ax.axis("off")
    figure.suptitle(f"{sweep.name}: {objective} against each tuned key")
    figure.tight_layout()
    figure.savefig(out / "objective_by_key.png", dpi=100)
    plt.close(figure)

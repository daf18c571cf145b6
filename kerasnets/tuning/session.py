"""``tune(sweep_path)``: one sweep from start, or from where it was interrupted, to its report.

State lives beside the tracking store: ``<store dir>/tuning/<sweep name>/`` holds keras-tuner's
oracle and trial files and ``sweep.json`` (the parent run id and the sweep's fingerprint). Run
again, the same command continues the same parent run; ``restart=True`` wipes the state and
opens a new parent run.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kerasnets.errors import KerasnetsError, RecipeError
from kerasnets.recipe import Recipe
from kerasnets.tracking import DESCRIPTION_TAG, check_store, sigterm_as_interrupt, tracking_uri
from kerasnets.tuning.report import SweepResult
from kerasnets.tuning.sweep import Sweep, load_sweep, register_problems

STATE_FILE = "sweep.json"


class SweepStopped(KerasnetsError):
    """Too many trials failed in a row (the CLI exits 1)."""


def state_dir(uri: str, name: str) -> Path:
    """``<folder of the SQLite store>/tuning/<name>``; ``mlruns/tuning/<name>`` for other stores."""
    root = Path(uri.removeprefix("sqlite:///")).parent if uri.startswith("sqlite:///") else Path("mlruns")
    return root / "tuning" / name


def _read_state(folder: Path) -> dict[str, Any]:
    try:
        return json.loads((folder / STATE_FILE).read_text())
    except (OSError, ValueError):
        return {}


def prepare(sweep: Sweep, *, restart: bool = False):
    """Open (or reopen) the sweep's parent run and its state folder; returns (records, folder)."""
    from kerasnets.tuning.records import SweepRecords

    base = Recipe.model_validate(sweep.base)
    uri = tracking_uri(base.tracking.uri)
    check_store(uri)
    folder = state_dir(uri, sweep.name)
    state = _read_state(folder)
    records = SweepRecords(uri, base.tracking.experiment)
    if restart:
        records.kill_stale_parent(state.get("parent_run_id"))
        shutil.rmtree(folder, ignore_errors=True)
        state = {}
    elif state and state.get("fingerprint") != sweep.fingerprint():
        raise KerasnetsError(
            f"{folder} holds the state of a different version of sweep {sweep.name!r} "
            f"(its base recipe, space, tuner or objective changed): run with --restart "
            "to start afresh"
        )
    objective = sweep.file.objective
    tags = {
        "sweep.file": str(sweep.path),
        "sweep.name": sweep.name,
        "sweep.tuner": sweep.file.tuner.name,
        "sweep.objective": f"{objective.name} ({objective.mode})",
        "recipe": str(sweep.recipe_path),
        "kerasnets.kind": "sweep",
    }
    if sweep.file.description:
        tags[DESCRIPTION_TAG] = sweep.file.description  # the UI's Description of the parent run
    params = {
        "sweep.tuner": sweep.file.tuner.name,
        "sweep.objective": objective.name,
        "sweep.direction": objective.mode,
        "sweep.executions_per_trial": sweep.file.executions_per_trial,
        **{
            f"space.{k}": json.dumps(v.model_dump(exclude_none=True), default=str)
            for k, v in sweep.space.items()
        },
    }
    records.open_parent(state.get("parent_run_id"), sweep.name, tags, params)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / STATE_FILE).write_text(
        json.dumps(
            {
                "parent_run_id": records.parent_run_id,
                "fingerprint": sweep.fingerprint(),
                "sweep_file": str(sweep.path),
                "tuner": sweep.file.tuner.name,
                "tracking_uri": uri,
            },
            indent=2,
        )
    )
    return records, folder


def tune(
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    max_trials: int | None = None,
    restart: bool = False,
    workers: int = 1,
    data_dir: str | None = None,
    echo: Callable[[str], None] = print,
    register_as: str | None = None,
) -> SweepResult:
    """Run (or continue) the sweep in ``path``; returns its trials and best recipe.
    ``register_as`` (else the sweep file's) registers the best trial's model.

    Raises ``SweepStopped`` when ``max_consecutive_failures`` trials failed in a row (the
    parent run ends FAILED); Ctrl-C or SIGTERM ends the parent KILLED, and the same call
    later continues it.
    """
    sweep = load_sweep(path, overrides)
    register_as = register_as or sweep.file.register_as
    problems = register_problems(sweep, register_as)
    if problems:
        raise RecipeError(str(sweep.path), problems)
    records, folder = prepare(sweep, restart=restart)
    echo(
        f"sweep {sweep.name}: {sweep.file.tuner.name} search, {max_trials or sweep.file.max_trials} trials "
        f"on {sweep.file.objective.name} ({sweep.file.objective.mode}); parent run {records.parent_run_id}"
    )
    echo(f"  state: {folder}")
    try:
        with sigterm_as_interrupt():
            if workers != 1:  # 0: the oracle only, for workers started elsewhere
                from kerasnets.tuning.workers import run_with_workers

                oracle = run_with_workers(
                    sweep,
                    records,
                    folder,
                    workers,
                    overrides or [],
                    max_trials=max_trials,
                    data_dir=data_dir,
                    echo=echo,
                )
            else:
                from kerasnets.tuning.tuner import make_tuner

                tuner = make_tuner(
                    sweep, records, folder, max_trials=max_trials, data_dir=data_dir, echo=echo
                )
                tuner.search(verbose=0)
                oracle = tuner.oracle
    except KeyboardInterrupt:
        records.end_parent("KILLED")
        raise
    except BaseException as exc:
        records.end_parent("FAILED", f"{type(exc).__name__}: {exc}")
        raise
    from kerasnets.tuning.report import write_report

    result = write_report(sweep, oracle, records, folder)
    if oracle.stopped_by_failures:
        records.end_parent("FAILED", oracle.stopped_by_failures)
        raise SweepStopped(
            f"sweep {sweep.name} stopped: {oracle.stopped_by_failures}. "
            f"Fix the cause and run the same command to continue (parent run {records.parent_run_id})"
        )
    if register_as and result.best:
        register_best(sweep, records, result.best, register_as, echo)
    records.end_parent("FINISHED")
    return result


def register_best(sweep: Sweep, records, best: dict[str, Any], name: str, echo) -> None:
    """The best trial's model as a new version of ``name``, described by the sweep's objective."""
    run_id = best["run_ids"].split(" ")[0]
    objective = sweep.file.objective.name
    description = (
        f"best trial {best['number']} of sweep {sweep.name} ({sweep.path}), run {run_id}: "
        f"{objective} {best['objective']:.4f}"
    )
    tags = {
        "sweep.name": sweep.name,
        "sweep.trial": str(best["number"]),
        "run_id": run_id,
        f"metric.{objective}": f"{best['objective']:.6g}",
    }
    version = records.register_best(name, run_id, description, tags)
    if version is None:
        echo(f"[yellow]the best trial's run {run_id} logged no model: nothing registered[/]")
    else:
        echo(f"registered the best trial's model as {name} version {version.version}")


def run_worker(
    path: str | Path,
    overrides: list[str] | None = None,
    *,
    max_trials: int | None = None,
    data_dir: str | None = None,
    echo: Callable[[str], None] = print,
) -> None:
    """One worker of a ``--workers N`` sweep (env KERASTUNER_TUNER_ID/ORACLE_IP/ORACLE_PORT set).
    GPU memory grows as needed: with more workers than GPUs, several share one."""
    from kerasnets.train.runtime import enable_memory_growth

    enable_memory_growth()  # before TensorFlow allocates anything in this process
    sweep = load_sweep(path, overrides)
    from kerasnets.tuning.records import SweepRecords

    base = Recipe.model_validate(sweep.base)
    uri = tracking_uri(base.tracking.uri)
    folder = state_dir(uri, sweep.name)
    state = _read_state(folder)
    if not state.get("parent_run_id"):
        raise KerasnetsError(f"no sweep state in {folder}: start workers with `kerasnets tune --workers N`")
    records = SweepRecords(uri, base.tracking.experiment)
    records.parent_run_id = state["parent_run_id"]
    from kerasnets.tuning.tuner import make_tuner

    tuner_id = os.environ.get("KERASTUNER_TUNER_ID", "worker")
    with sigterm_as_interrupt():
        tuner = make_tuner(
            sweep,
            records,
            folder,
            max_trials=max_trials,
            data_dir=data_dir,
            echo=lambda line: echo(f"[dim]{tuner_id}[/] {line}"),
        )
        tuner.search(verbose=0)

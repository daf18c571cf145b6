"""Run explainers on a model, or on a finished MLflow run, and log their PNGs to the run."""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kerasnets.errors import KerasnetsError
from kerasnets.explain import base

LogFile = Callable[[Path, str], Any]  # (local PNG, artifact folder)


def _check(steps: list[Any]) -> None:
    problems = base.check_steps(steps)
    if problems:
        key, message, _ = problems[0]
        where = key.split(".", 1)[1] if "." in key else "method"
        raise base.NotApplicable(f"{where}: {message}")


def explain_model(
    model,
    splits,
    steps: list[Any],
    out: Path,
    given: dict[str, Any] | None = None,
    log: LogFile | None = None,
    echo: Callable[[str], None] = print,
) -> dict[str, list[Path]]:
    """Run each step (``"name"`` or ``{name: {options}}``; ``all`` = every method) on
    ``model``; PNGs go to ``out/<method>/`` and, with ``log``, to ``explain/<method>``.
    ``given`` (command-line options) applies to the methods that take each option. A method
    that does not apply to the model (filters of an MLP) is skipped under ``all`` and an
    error when named."""
    _check(steps)
    given = {k: v for k, v in (given or {}).items() if v is not None}
    explicit = {step if isinstance(step, str) else next(iter(step)) for step in steps}
    plan = base.expand(steps)
    unused = [k for k in given if not any(k in base.allowed_options(name) for name, _ in plan)]
    if unused:
        users = [n for n in base.EXPLAINERS.names() if unused[0] in base.allowed_options(n)]
        raise base.NotApplicable(
            f"--{unused[0]} applies to {', '.join(users)}, not to {', '.join(dict(plan))}"
        )
    written: dict[str, list[Path]] = {}
    for name, args in plan:
        mine = {k: v for k, v in given.items() if k in base.allowed_options(name)}
        options = base.make_options(name, {**mine, **args}, out=out / name)
        started = time.perf_counter()
        try:
            paths = base.lookup(name)(model, splits, options)
        except base.NotApplicable as exc:
            if name in explicit:
                raise
            echo(f"{name}: skipped ({exc})")
            continue
        for path in paths:
            if log is not None:
                log(path, f"explain/{name}")
        written[name] = paths
        seconds = time.perf_counter() - started
        echo(f"{name}: {len(paths)} PNG{'s' if len(paths) != 1 else ''} in {seconds:.1f} s")
    return written


def explain_after_training(model, splits, steps: list[Any], tracker, echo: Callable[[str], None]) -> None:
    """The recipe's ``explain:`` list at the end of a tracked run; trouble is a warning,
    never a failed run (the model is already trained and logged)."""
    with tempfile.TemporaryDirectory() as tmp:
        try:
            explain_model(model, splits, steps, Path(tmp), log=tracker.log_file, echo=echo)
        except Exception as exc:  # noqa: BLE001 - explanations must never fail a finished training
            echo(f"warning: explanations failed: {exc}")


def load_run(run_id: str, uri: str, data_dir: str | Path | None = None):
    """(recipe, model, splits, run) of a finished kerasnets run; KerasnetsError when the run
    or its artifacts are missing or it is not an image classifier."""
    from mlflow import MlflowClient

    from kerasnets.recipe import load_recipe

    client = MlflowClient(uri)
    try:
        run = client.get_run(run_id)
    except Exception:  # noqa: BLE001 - MlflowException for unknown ids
        raise KerasnetsError(f"no run {run_id!r} in the tracking store {uri}") from None
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for name in ("recipe.yaml", "model.keras"):
            try:
                files[name] = client.download_artifacts(run_id, name, tmp)
            except Exception:  # noqa: BLE001
                raise KerasnetsError(
                    f"run {run_id} has no {name} artifact (only finished kerasnets runs can be explained)"
                ) from None
        recipe = load_recipe(files["recipe.yaml"])
        if recipe.task.name != "classify" or recipe.data.layout != "image":
            raise KerasnetsError(
                f"run {run_id} is a {recipe.task.name!r} run on {recipe.data.layout!r} data: "
                "explain works on image classifiers"
            )
        import keras

        import kerasnets.models  # noqa: F401 - registers the custom layers the model uses

        model = keras.saving.load_model(files["model.keras"], compile=False, safe_mode=True)
    from kerasnets.data.pipeline import load_splits

    return recipe, model, load_splits(recipe.data, data_dir), run


def explain_run(
    run_id: str,
    steps: list[Any],
    given: dict[str, Any] | None = None,
    out: Path | None = None,
    data_dir: str | Path | None = None,
    uri: str | None = None,
    echo: Callable[[str], None] = print,
) -> tuple[dict[str, list[Path]], str]:
    """Explain a logged run and log the PNGs to it (its status is left as it is).
    Returns the written files by method and the run's artifact URI for them."""
    from kerasnets.tracking import tracking_uri, with_retries

    uri = tracking_uri(uri)
    _check(steps)  # before anything is downloaded
    _, model, splits, run = load_run(run_id, uri, data_dir)
    from mlflow import MlflowClient

    client = MlflowClient(uri)

    def log(path: Path, folder: str) -> None:
        with_retries(client.log_artifact, run_id, str(path), folder)

    written = explain_model(model, splits, steps, out or Path("explain") / run_id, given, log, echo)
    return written, f"{run.info.artifact_uri}/explain"

"""MLflow tracking: explicit store, one run per recipe, honest end states, per-epoch metrics.

Default store: ``sqlite:///mlruns/mlflow.db`` (relative to the working directory) with
artifacts under ``mlruns/artifacts``. ``MLFLOW_TRACKING_URI`` or the recipe's
``tracking.uri`` override it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from kerasnets.errors import KerasnetsError

log = logging.getLogger("kerasnets")

STORE_DIR = Path("mlruns")
DEFAULT_URI = "sqlite:///mlruns/mlflow.db"
PACKAGES = ("kerasnets", "tensorflow", "keras", "keras-tuner", "mlflow", "albumentations", "numpy",
            "scikit-learn", "pydantic")


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so the run ends KILLED like Ctrl-C."""


def tracking_uri(recipe_uri: str | None = None) -> str:
    """The recipe's URI, else ``MLFLOW_TRACKING_URI``, else the local project store."""
    return recipe_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


def check_store(uri: str) -> None:
    """Fail before training when a local store cannot be written."""
    db = _sqlite_path(uri)
    folder = db.parent if db else Path(uri.removeprefix("file://")) if "://" not in uri or uri.startswith("file://") else None
    if folder is None:
        return
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
    except OSError as exc:
        raise KerasnetsError(f"tracking store {uri} is not writable: {exc.strerror or exc}") from None


def _artifact_location(uri: str, experiment: str) -> str | None:
    db = _sqlite_path(uri)
    if db is None:
        return None
    return (db.parent.resolve() / "artifacts" / experiment).as_uri()


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def git_commit() -> str | None:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _safe(what: str, fn, *args, **kwargs) -> Any:
    """Call a logging function; trouble is a warning, never a failed training."""
    try:
        return fn(*args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - logging must never kill training
        log.warning("MLflow: could not %s: %s", what, exc)
        return None


class Tracker:
    """One open MLflow run. Use as a context manager: the run ends FINISHED, FAILED or KILLED."""

    def __init__(self, uri: str, experiment: str, run_name: str | None, tags: dict[str, str]) -> None:
        import mlflow

        self.mlflow = mlflow
        self.uri = uri
        mlflow.set_tracking_uri(uri)
        self.client = mlflow.MlflowClient(uri)
        exp = self.client.get_experiment_by_name(experiment)
        experiment_id = exp.experiment_id if exp else self.client.create_experiment(
            experiment, artifact_location=_artifact_location(uri, experiment))
        self.run = mlflow.start_run(experiment_id=experiment_id, run_name=run_name, tags=tags)
        self.run_id = self.run.info.run_id
        self.experiment_id = experiment_id

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            status = "FINISHED"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "KILLED"
        else:
            status = "FAILED"
            _safe("tag the failure", self.client.set_tag, self.run_id, "failure",
                  f"{exc_type.__name__}: {str(exc)[:4000]}")
        self.mlflow.end_run(status)
        return False

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            _safe("log params", self.client.log_batch, self.run_id, params=items[i:i + 100])

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(k, float(v), now, step or 0) for k, v in metrics.items()]
        _safe("log metrics", self.client.log_batch, self.run_id, metrics=items)

    def log_text(self, text: str, name: str) -> None:
        _safe(f"log {name}", self.client.log_text, self.run_id, text, name)

    def log_file(self, path: Path, folder: str | None = None) -> None:
        _safe(f"log {path.name}", self.client.log_artifact, self.run_id, str(path), folder)

    def log_figure(self, figure, name: str) -> None:
        _safe(f"log {name}", self.client.log_figure, self.run_id, figure, name)

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            _safe("set a tag", self.client.set_tag, self.run_id, key, value)

    def log_keras_model(self, model, name: str = "model") -> None:
        import mlflow.keras

        versions = package_versions()
        requirements = [f"{p}=={versions[p]}" for p in ("tensorflow", "keras") if versions[p] != "not installed"]
        _safe("log the MLflow model", mlflow.keras.log_model, model, name=name, pip_requirements=requirements)

    @property
    def artifact_uri(self) -> str:
        return self.run.info.artifact_uri


@contextlib.contextmanager
def sigterm_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises ``Interrupted`` (a KeyboardInterrupt)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        raise Interrupted(f"signal {signum}")

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)

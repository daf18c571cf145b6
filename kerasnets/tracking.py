"""MLflow tracking: explicit store, one run per recipe, honest end states, per-epoch metrics.

Default store: ``sqlite:///mlruns/mlflow.db`` (relative to the working directory) with
artifacts under ``mlruns/artifacts``. ``MLFLOW_TRACKING_URI`` or the recipe's
``tracking.uri`` override it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import re
import signal
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from importlib import metadata
from pathlib import Path
from typing import Any

from kerasnets.errors import KerasnetsError

log = logging.getLogger("kerasnets")

STORE_DIR = Path("mlruns")
DEFAULT_URI = "sqlite:///mlruns/mlflow.db"
PACKAGES = (
    "kerasnets",
    "tensorflow",
    "keras",
    "keras-tuner",
    "mlflow",
    "albumentations",
    "numpy",
    "scikit-learn",
    "pydantic",
)


class Interrupted(KeyboardInterrupt):
    """SIGTERM, turned into an interrupt so the run ends KILLED like Ctrl-C."""


def tracking_uri(recipe_uri: str | None = None) -> str:
    """The recipe's URI, else ``MLFLOW_TRACKING_URI``, else the local project store."""
    return recipe_uri or os.environ.get("MLFLOW_TRACKING_URI") or DEFAULT_URI


def _sqlite_path(uri: str) -> Path | None:
    return Path(uri.removeprefix("sqlite:///")) if uri.startswith("sqlite:///") else None


#: a local store with less free space than this is refused before training starts
MIN_FREE_BYTES = 64 * 2**20


def check_store(uri: str) -> None:
    """Fail before training when a local store cannot be written or its disk is full."""
    import shutil

    db = _sqlite_path(uri)
    if db is not None:
        folder = db.parent
    elif "://" not in uri or uri.startswith("file://"):
        folder = Path(uri.removeprefix("file://"))
    else:
        return  # a server: it reports its own trouble
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".write-check-"):
            pass
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        raise KerasnetsError(f"tracking store {uri} is not writable: {exc.strerror or exc}") from None
    if free < MIN_FREE_BYTES:
        raise KerasnetsError(
            f"tracking store {uri} has only {free / 2**20:.0f} MB free "
            f"(at least {MIN_FREE_BYTES // 2**20} MB needed)"
        )


def artifact_location(uri: str, experiment: str) -> str | None:
    """``<store dir>/artifacts/<experiment>`` as a URI for a SQLite store (None for others);
    raises ``KerasnetsError`` when the experiment name would leave that folder."""
    db = _sqlite_path(uri)
    if db is None:
        return None
    root = (db.parent.resolve() / "artifacts").resolve()
    folder = (root / safe_folder_name(experiment)).resolve()
    if root not in folder.parents:
        raise KerasnetsError(f"experiment name {experiment!r} cannot be used as an artifact folder")
    return folder.as_uri()


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
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _is_lock_error(exc: BaseException) -> bool:
    text = str(exc).lower()
    return "database is locked" in text or "database table is locked" in text or "busy" in text


def with_retries(fn, *args, attempts: int = 12, **kwargs) -> Any:
    """Call ``fn``, retrying SQLite lock errors with exponential backoff (about 60 s in all)."""
    delay = 0.05
    for attempt in range(attempts):
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            if attempt == attempts - 1 or not _is_lock_error(exc):
                raise
            time.sleep(delay + random.uniform(0, delay))
            delay = min(delay * 2, 8.0)
    return None


def _safe(what: str, fn, *args, **kwargs) -> Any:
    """Call a logging function (retrying lock errors); trouble is a warning, never a failed
    training."""
    try:
        return with_retries(fn, *args, **kwargs)
    except Exception as exc:  # noqa: BLE001 - logging must never kill training
        log.warning("MLflow: could not %s: %s", what, exc)
        return None


@contextlib.contextmanager
def store_lock(uri: str) -> Iterator[None]:
    """An exclusive file lock beside a local SQLite store (creation and schema upgrades race)."""
    db = _sqlite_path(uri)
    if db is None:
        yield
        return
    import fcntl

    db.parent.mkdir(parents=True, exist_ok=True)
    with open(db.parent / ".kerasnets-store.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def prepare_store(uri: str):
    """Create (once, under a lock) the store and switch a SQLite store to WAL journaling, so
    that concurrent runs write without 'database is locked' failures. Returns a client."""
    import mlflow

    with store_lock(uri):
        client = mlflow.MlflowClient(uri)
        client.search_experiments(max_results=1)  # creates and migrates the database
        db = _sqlite_path(uri)
        if db is not None and db.exists():
            import sqlite3

            with contextlib.closing(sqlite3.connect(db, timeout=30)) as connection:
                connection.execute("PRAGMA journal_mode=WAL")
    return client


def safe_folder_name(name: str) -> str:
    """An experiment or run name as one harmless path component (no traversal, no separators)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
    return cleaned[:100]


class Tracker:
    """One open MLflow run. Use as a context manager: the run ends FINISHED, FAILED or KILLED."""

    def __init__(
        self, uri: str, experiment: str, run_name: str | None, tags: dict[str, str], run_id: str | None = None
    ) -> None:
        import mlflow

        self.mlflow = mlflow
        self.uri = uri
        mlflow.set_tracking_uri(uri)
        self.client = prepare_store(uri)
        owner = {"kerasnets.pid": str(os.getpid()), "kerasnets.host": socket.gethostname()}
        if run_id is not None:  # resume: reopen the same run (status back to RUNNING)
            self.run = with_retries(mlflow.start_run, run_id=run_id)
            for key, value in owner.items():
                _safe("set a tag", self.client.set_tag, run_id, key, value)
        else:
            with store_lock(uri):
                exp = self.client.get_experiment_by_name(experiment)
                experiment_id = (
                    exp.experiment_id
                    if exp
                    else self.client.create_experiment(
                        experiment, artifact_location=artifact_location(uri, experiment)
                    )
                )
            self.run = with_retries(
                mlflow.start_run, experiment_id=experiment_id, run_name=run_name, tags={**tags, **owner}
            )
        self.run_id = self.run.info.run_id
        self.experiment_id = self.run.info.experiment_id
        self.resumed = run_id is not None

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            status = "FINISHED"
        elif issubclass(exc_type, KeyboardInterrupt):
            status = "KILLED"
        else:
            status = "FAILED"
            _safe(
                "tag the failure",
                self.client.set_tag,
                self.run_id,
                "failure",
                f"{exc_type.__name__}: {str(exc)[:4000]}",
            )
        with_retries(self.mlflow.end_run, status)
        return False

    def log_params(self, params: dict[str, str]) -> None:
        from mlflow.entities import Param

        items = [Param(k, str(v)[:6000]) for k, v in params.items()]
        for i in range(0, len(items), 100):
            _safe("log params", self.client.log_batch, self.run_id, params=items[i : i + 100])

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
        requirements = [
            f"{p}=={versions[p]}" for p in ("tensorflow", "keras") if versions[p] != "not installed"
        ]
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


class NullTracker:
    """Stands in for ``Tracker`` when ``tracking.enabled`` is false: no run, and each logging
    method the loop calls spelled out as doing nothing (a misspelt one is an AttributeError)."""

    run_id = artifact_uri = experiment_id = uri = client = None
    resumed = False

    def __enter__(self) -> NullTracker:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        return False

    def log_params(self, params: dict[str, str]) -> None:
        """Nothing to log to."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Nothing to log to."""

    def log_text(self, text: str, name: str) -> None:
        """Nothing to log to."""

    def log_file(self, path: Path, folder: str | None = None) -> None:
        """Nothing to log to."""

    def log_figure(self, figure, name: str) -> None:
        """Nothing to log to."""

    def set_tags(self, tags: dict[str, str]) -> None:
        """Nothing to log to."""

    def log_keras_model(self, model, name: str = "model") -> None:
        """Nothing to log to."""


def delete_artifacts(client, run_id: str, path: str) -> bool:
    """Delete a run's artifact folder where its store allows it (local folders, proxied
    ``mlflow-artifacts:``, S3, GCS, Azure...); True when ``path`` is gone afterwards."""
    from mlflow.store.artifact.artifact_repository_registry import get_artifact_repository

    try:
        artifact_uri = client.get_run(run_id).info.artifact_uri
        repository = get_artifact_repository(artifact_uri, tracking_uri=client.tracking_uri)
        repository.delete_artifacts(path)
        return not client.list_artifacts(run_id, path)
    except Exception as exc:  # noqa: BLE001 - a store that cannot delete keeps the folder
        log.warning("MLflow: could not delete %s of run %s: %s", path, run_id, exc)
        return False

"""MLflow tracking: explicit store, one run per recipe, honest end states, per-epoch metrics.

Default store: ``sqlite:///mlruns/mlflow.db`` (relative to the working directory) with
artifacts under ``mlruns/artifacts``. ``MLFLOW_TRACKING_URI`` or the recipe's
``tracking.uri`` override it.
"""

from __future__ import annotations

import contextlib
import functools
import json
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
#: the experiment tag MLflow 3's UI reads to open an experiment on its training-runs view
EXPERIMENT_KIND_TAG = "mlflow.experimentKind"
TRAINING_KIND = "custom_model_development"
#: the run tag the UI shows as the run's Description
DESCRIPTION_TAG = "mlflow.note.content"
#: seconds between two samples of MLflow's system metrics (MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL wins)
SYSTEM_METRICS_INTERVAL = 5
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


def model_requirements() -> list[str]:
    """The pip requirements of a logged Keras model: this environment's TensorFlow and Keras."""
    versions = package_versions()
    return [f"{p}=={versions[p]}" for p in ("tensorflow", "keras") if versions[p] != "not installed"]


@functools.cache
def package_versions() -> dict[str, str]:
    """The installed versions of the packages a run depends on (read once per process: reading
    package metadata takes about 0.1 s)."""
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


def training_experiment(client, uri: str, name: str) -> str:
    """The id of experiment ``name``, created (under the store lock) with its artifact folder
    and the tag that opens MLflow's UI on training runs. An existing experiment without that
    tag gets it: kerasnets writes only training runs, and the tag only picks the UI's view."""
    with store_lock(uri):
        found = client.get_experiment_by_name(name)
        if found is None:
            return client.create_experiment(
                name,
                artifact_location=artifact_location(uri, name),
                tags={EXPERIMENT_KIND_TAG: TRAINING_KIND},
            )
    if EXPERIMENT_KIND_TAG not in found.tags:
        _safe(
            "tag the experiment",
            client.set_experiment_tag,
            found.experiment_id,
            EXPERIMENT_KIND_TAG,
            TRAINING_KIND,
        )
    return found.experiment_id


def configure_system_metrics() -> None:
    """Sample system metrics every ``SYSTEM_METRICS_INTERVAL`` s unless the environment says,
    and keep the monitor's start/stop INFO lines out of the run's output (warnings still show)."""
    logging.getLogger("mlflow.system_metrics").setLevel(logging.WARNING)
    if "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL" not in os.environ:
        import mlflow

        mlflow.set_system_metrics_sampling_interval(SYSTEM_METRICS_INTERVAL)


def safe_folder_name(name: str) -> str:
    """An experiment or run name as one harmless path component (no traversal, no separators)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "experiment"
    return cleaned[:100]


def end_state(exc_type, exc) -> tuple[str, str | None]:
    """How a run ends when its block exits with ``exc`` (or none): (status, failure text).
    No exception: FINISHED; Ctrl-C or SIGTERM (``KeyboardInterrupt``): KILLED; else FAILED."""
    if exc_type is None:
        return "FINISHED", None
    if issubclass(exc_type, KeyboardInterrupt):
        return "KILLED", None
    return "FAILED", f"{exc_type.__name__}: {str(exc)[:4000]}"


class Tracker:
    """One open MLflow run. Use as a context manager: the run ends FINISHED, FAILED or KILLED."""

    def __init__(
        self,
        uri: str,
        experiment: str,
        run_name: str | None,
        tags: dict[str, str],
        run_id: str | None = None,
        *,
        description: str = "",
        system_metrics: bool = False,
        client=None,
        pid: int | None = None,
    ) -> None:
        import mlflow

        self.mlflow = mlflow
        self.uri = uri
        mlflow.set_tracking_uri(uri)
        self.client = client if client is not None else prepare_store(uri)
        owner = {"kerasnets.pid": str(pid or os.getpid()), "kerasnets.host": socket.gethostname()}
        if system_metrics:
            configure_system_metrics()
        if run_id is not None:  # resume: reopen the same run (status back to RUNNING)
            self.run = with_retries(mlflow.start_run, run_id=run_id, log_system_metrics=system_metrics)
            for key, value in owner.items():
                _safe("set a tag", self.client.set_tag, run_id, key, value)
        else:
            experiment_id = training_experiment(self.client, uri, experiment)
            if description:
                tags = {**tags, DESCRIPTION_TAG: description}
            self.run = with_retries(
                mlflow.start_run,
                experiment_id=experiment_id,
                run_name=run_name,
                tags={**tags, **owner},
                log_system_metrics=system_metrics,
            )
        self.run_id = self.run.info.run_id
        self.experiment_id = self.run.info.experiment_id
        self.resumed = run_id is not None

    def __enter__(self) -> Tracker:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        self.end(*end_state(exc_type, exc))
        return False

    def end(self, status: str, failure: str | None = None) -> None:
        """End the run FINISHED, FAILED or KILLED (stopping its system-metrics sampling); a
        failure's text goes to its ``failure`` tag."""
        if failure:
            self.set_tags({"failure": failure})
        with_retries(self.mlflow.end_run, status)

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

    def log_datasets(self, inputs: list[tuple[Any, str, dict[str, str]]]) -> None:
        """MLflow dataset inputs: (dataset, context, extra input tags) for each split."""
        from mlflow.entities import DatasetInput, InputTag
        from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

        items = [
            DatasetInput(
                dataset._to_mlflow_entity(),
                [InputTag(MLFLOW_DATASET_CONTEXT, context), *(InputTag(k, v) for k, v in tags.items())],
            )
            for dataset, context, tags in inputs
        ]
        _safe("log the data set inputs", self.client.log_inputs, self.run_id, datasets=items)

    def log_versions(self) -> None:
        """``versions.json``: the installed versions of the packages a run depends on."""
        self.log_text(json.dumps(package_versions(), indent=2), "versions.json")

    def log_keras_file(self, model, name: str = "model", signature=None, input_example=None):
        """A saved model (``keras_flavor.KerasFile``) as an MLflow model of the ``mlflow.keras``
        flavor, through ``Model.log``, with this environment's TensorFlow and Keras as its
        requirements; its ``ModelInfo``, or None on trouble."""
        from mlflow.models import Model

        from kerasnets.keras_flavor import KerasFileFlavor

        return _safe(
            "log the MLflow model",
            Model.log,
            artifact_path=None,
            name=name,
            flavor=KerasFileFlavor,
            flavor_name="mlflow.keras",
            model=model,
            pip_requirements=model_requirements(),
            signature=signature,
            input_example=input_example,
            validate_serving_input=False,  # it reloads the model and predicts: seconds, and noise
        )

    def register_model(self, model_uri: str, name: str, description: str, tags: dict[str, str]):
        """A new version of registered model ``name`` from ``model_uri``, with ``description``
        and ``tags``; the ModelVersion, or None (a warning) on trouble."""
        version = _safe("register the model", self.mlflow.register_model, model_uri, name, tags=tags)
        if version is not None and description:
            _safe(
                "describe the model version",
                self.client.update_model_version,
                name,
                version.version,
                description=description,
            )
        return version

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
    """Stands in for the run's tracker (``TrackingProcess``) when ``tracking.enabled`` is false:
    no run, and each logging method the loop calls spelled out as doing nothing (a misspelt one
    is an AttributeError)."""

    run_id = artifact_uri = experiment_id = uri = None
    active = resumed = False
    tags: dict[str, str] = {}

    def __enter__(self) -> NullTracker:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        return False

    def check(self) -> None:
        """Nothing to fail."""

    def log_params(self, params: dict[str, str]) -> None:
        """Nothing to log to."""

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        """Nothing to log to."""

    def log_text(self, text: str, name: str) -> None:
        """Nothing to log to."""

    def log_file(self, path: Path, folder: str | None = None) -> None:
        """Nothing to log to."""

    def log_drawing(self, draw, args: tuple, name: str) -> None:
        """Nothing to log to."""

    def set_tags(self, tags: dict[str, str]) -> None:
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

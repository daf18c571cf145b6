"""A tracked run's MLflow side in a process of its own.

``TrackingProcess(uri)`` starts ``python -m kerasnets.tracking_worker``, which imports MLflow,
opens the store, creates the run and makes every logging call, in the order the training
process made them, on a core that training leaves idle: importing MLflow, opening a store,
rendering figures and writing the model take seconds of pure Python, which in a thread of the
training process would hold the GIL that training needs. The training process never imports
MLflow, and draws nothing, for a run. Its logging calls return at once (the worker reports trouble
as warnings, as ``Tracker`` does); the few that need an answer (the run's id, a checkpoint to
resume from) wait for it; leaving the ``with`` block ends the run FINISHED, FAILED or KILLED
and waits until everything is in the store.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from multiprocessing.connection import Pipe
from pathlib import Path
from typing import Any

from kerasnets.errors import KerasnetsError

#: the folder that holds the ``kerasnets`` package: the worker imports the same code
PACKAGE_PARENT = Path(__file__).resolve().parents[1]


def open_tracking(recipe) -> TrackingProcess | None:
    """The tracking process of a run of ``recipe`` (None when ``tracking.enabled`` is false),
    after checking that a local store can be written."""
    from kerasnets.tracking import check_store, tracking_uri

    if not recipe.tracking.enabled:
        return None
    uri = tracking_uri(recipe.tracking.uri)
    check_store(uri)  # a store that cannot be written stops the run before anything else
    return TrackingProcess(uri)


class TrackingProcess:
    """The tracker of one run, its work done by a worker process (``tracking.Tracker`` there)."""

    active = True

    def __init__(self, uri: str) -> None:
        self.uri = uri
        self.resumed = False
        self.tags: dict[str, str] = {}
        here, there = Pipe()
        path = os.pathsep.join(filter(None, [str(PACKAGE_PARENT), os.environ.get("PYTHONPATH")]))
        self._process = subprocess.Popen(
            [sys.executable, "-m", "kerasnets.tracking_worker", str(there.fileno())],
            pass_fds=[there.fileno()],
            stdin=subprocess.DEVNULL,
            env={**os.environ, "PYTHONPATH": path},
        )
        there.close()
        self._conn = here
        self._send_lock = threading.Lock()
        self._ids = itertools.count()
        self._replies: dict[int, concurrent.futures.Future] = {}
        self._closed = False
        threading.Thread(target=self._read_replies, name="kerasnets-tracking", daemon=True).start()
        self.staging = Path(tempfile.mkdtemp(prefix="kerasnets-tracking-"))
        self._opened = self._ask("open_store", uri)
        self._started: concurrent.futures.Future | None = None

    # ------------------------------------------------------------------ the pipe
    def _send(self, message: tuple) -> None:
        if self._closed:
            raise KerasnetsError("the tracking process has ended")
        with self._send_lock:
            try:
                self._conn.send(message)
            except (OSError, ValueError) as exc:
                raise KerasnetsError(f"the tracking process has ended ({exc})") from None

    def _tell(self, op: str, *args: Any) -> None:
        """Ask the worker to do ``op``; no answer awaited (trouble is the worker's warning)."""
        self._send((None, op, args))

    def _ask(self, op: str, *args: Any) -> concurrent.futures.Future:
        """Ask the worker to do ``op``; its answer (or error) arrives in the returned future."""
        call = next(self._ids)
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._replies[call] = future
        self._send((call, op, args))
        return future

    def _read_replies(self) -> None:
        while True:
            try:
                call, ok, value = self._conn.recv()
            except (EOFError, OSError):
                break
            future = self._replies.pop(call)
            if ok:
                future.set_result(value)
            else:
                future.set_exception(KerasnetsError(value) if isinstance(value, str) else value)
        for future in self._replies.values():  # the worker died: nobody will answer
            future.set_exception(KerasnetsError("the tracking process ended unexpectedly"))

    def check(self) -> None:
        """Raise now if the store could not be opened or the run not created (never waits)."""
        for future in (self._opened, self._started):
            if future is not None and future.done() and future.exception() is not None:
                raise future.exception()

    # ------------------------------------------------------------------ the run
    def start(
        self,
        experiment: str,
        run_name: str | None,
        tags: dict[str, str],
        run_id: str | None = None,
        *,
        description: str = "",
        system_metrics: bool = False,
        log_model: bool = True,
    ) -> TrackingProcess:
        """Create (or, with ``run_id``, reopen) the run; returns at once."""
        self.resumed = run_id is not None
        self.tags = dict(tags)
        self._started = self._ask(
            "start", experiment, run_name, tags, run_id, description, system_metrics, os.getpid()
        )
        self._tell("warm_up", log_model)
        return self

    def _run_info(self) -> dict[str, str]:
        self._opened.result()
        if self._started is None:
            raise KerasnetsError("no run started in the tracking process")
        return self._started.result()

    @property
    def run_id(self) -> str:
        return self._run_info()["run_id"]

    @property
    def experiment_id(self) -> str:
        return self._run_info()["experiment_id"]

    @property
    def artifact_uri(self) -> str:
        return self._run_info()["artifact_uri"]

    def __enter__(self) -> TrackingProcess:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        from kerasnets.tracking import end_state

        try:
            ended = self._ask("end", *end_state(exc_type, exc))
        except KerasnetsError:
            ended = None
        self.close()
        if ended is not None and exc_type is None:
            ended.result()  # a run that could not be opened or ended is this run's error
        return False

    def close(self) -> None:
        """Wait for the worker to finish what it was asked and exit (an unstarted run is
        never created); remove the staging folder."""
        if self._closed:
            return
        try:
            self._tell("close")
        except KerasnetsError:
            pass
        self._closed = True
        self._process.wait()
        self._conn.close()
        shutil.rmtree(self.staging, ignore_errors=True)

    # ------------------------------------------------------------------ logging
    def log_params(self, params: dict[str, str]) -> None:
        self._tell("log_params", {k: str(v) for k, v in params.items()})

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self._tell("log_metrics", {k: float(v) for k, v in metrics.items()}, step)

    def log_text(self, text: str, name: str) -> None:
        self._tell("log_text", text, name)

    def set_tags(self, tags: dict[str, str]) -> None:
        self._tell("set_tags", dict(tags))

    def log_file(self, path: Path, folder: str | None = None) -> None:
        """Log ``path`` and wait until it is logged (the caller may delete it afterwards)."""
        self._ask("log_file", str(path), folder, False).result()

    def hand_over(self, path: Path, folder: str | None = None) -> None:
        """Log ``path`` (a file in ``staging``) and delete it; returns at once."""
        self._tell("log_file", str(path), folder, True)

    def log_drawing(self, draw, args: tuple, name: str) -> None:
        """``draw(*args)`` (a module-level function returning a figure) run and logged by the
        worker: the figure is drawn there."""
        self._tell("log_drawing", draw, args, name)

    def log_splits(self, described: list) -> None:
        """MLflow dataset inputs, made by the worker from ``dataset_inputs.SplitDescription``s."""
        self._tell("log_datasets", described)

    def log_versions(self) -> None:
        """``versions.json`` (read by the worker: the same environment)."""
        self._tell("log_versions")

    def log_model(self, path: Path, example, output, keras_version: str, keras_backend: str) -> None:
        """The MLflow model (``mlflow.keras`` flavor) copied from the saved ``path`` (not deleted:
        hand it over afterwards to log it as ``model.keras`` too), its signature inferred from
        ``example`` -> ``output`` (None, None: no signature)."""
        self._tell("log_model", str(path), example, output, keras_version, keras_backend)

    def register_model(self, name: str, description: str, tags: dict[str, str]) -> None:
        """A new version of registered model ``name`` from the run's logged model."""
        self._tell("register_model", name, description, tags)

    # ------------------------------------------------------------------ checkpoints
    def checkpoint_upload(self, files: list[Path], folder: str) -> None:
        """Upload ``files`` (in ``staging``, in order) to the run's ``folder``, then delete them."""
        self._tell("upload", [str(f) for f in files], folder)

    def checkpoint_fetch(self, folder: str, state: str, destination: Path) -> dict | None:
        """Download the run's checkpoint (``folder/state``, a JSON file, then the weights file
        its ``weights`` names) into ``destination``; the state, or None when there is none."""
        return self._ask("fetch_checkpoint", folder, state, str(destination)).result()

    def delete_artifacts(self, folder: str) -> bool:
        return self._ask("delete_artifacts", folder).result()

    def logged_steps(self, key: str) -> set[int]:
        return self._ask("logged_steps", key).result()

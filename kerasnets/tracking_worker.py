"""The tracking process of one run (``python -m kerasnets.tracking_worker FD``; see
``kerasnets.tracking_process``): it reads ``(call, op, args)`` messages from the pipe ``FD``
and does them in order with a ``tracking.Tracker``, answering those that carry a call number.

Ctrl-C and SIGTERM are the training process's to handle: it ends the run KILLED through this
process. If the training process dies first (the pipe closes without ``end``), this process
ends the run KILLED itself, after logging what it had been sent.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from kerasnets.keras_flavor import KerasFile, KerasFileFlavor
from kerasnets.tracking import Tracker, prepare_store, with_retries

log = logging.getLogger("kerasnets")

#: op name -> function(worker, *args): what the training process may ask
OPS: dict[str, Callable[..., Any]] = {}


def op(fn: Callable[..., Any]) -> Callable[..., Any]:
    OPS[fn.__name__] = fn
    return fn


class Worker:
    """The state one tracking process keeps: the store's client, the run, the logged model."""

    def __init__(self) -> None:
        self.uri: str | None = None
        self.client = None
        self.tracker: Tracker | None = None
        self.model_info = None
        self.ended = False


@op
def open_store(worker: Worker, uri: str) -> None:
    worker.uri, worker.client = uri, prepare_store(uri)


@op
def start(worker, experiment, run_name, tags, run_id, description, system_metrics, pid) -> dict:
    worker.tracker = Tracker(
        worker.uri,
        experiment,
        run_name,
        tags,
        run_id,
        description=description,
        system_metrics=system_metrics,
        client=worker.client,
        pid=pid,  # the training process's: the one whose death makes a RUNNING run INTERRUPTED
    )
    return {
        "run_id": worker.tracker.run_id,
        "experiment_id": worker.tracker.experiment_id,
        "artifact_uri": worker.tracker.artifact_uri,
    }


@op
def warm_up(worker, log_model) -> None:
    """Do once now, while the run trains, what the end of the run would otherwise do for the
    first time (imports, font and code caches): draw the end's figures from made-up data and,
    when a model will be logged, write a stand-in MLflow model to a temporary folder."""
    import io
    import tempfile

    import matplotlib.pyplot as plt
    import numpy as np

    from kerasnets.plots import confusion_matrix_figure, learning_curves

    history = {"loss": [1.0, 0.5], "val_loss": [1.1, 0.6], "learning_rate": [0.1, 0.01]}
    for figure in (learning_curves(history), confusion_matrix_figure([0, 1], [0, 1], ["a", "b"])):
        figure.savefig(io.BytesIO(), format="png")
        plt.close(figure)
    if not log_model:
        return
    from mlflow.models import infer_signature

    with tempfile.TemporaryDirectory() as tmp:
        stand_in = Path(tmp, "stand-in.keras")
        stand_in.write_bytes(b"")
        example = np.zeros((1, 2), np.float32)
        KerasFileFlavor.save_model(
            str(Path(tmp, "model")),
            KerasFile(str(stand_in), "0", "none"),
            signature=infer_signature(example, example),
            input_example=example,
        )


@op
def log_params(worker, params) -> None:
    worker.tracker.log_params(params)


@op
def log_metrics(worker, metrics, step) -> None:
    worker.tracker.log_metrics(metrics, step)


@op
def log_text(worker, text, name) -> None:
    worker.tracker.log_text(text, name)


@op
def set_tags(worker, tags) -> None:
    worker.tracker.set_tags(tags)


@op
def log_file(worker, path, folder, remove) -> None:
    try:
        worker.tracker.log_file(Path(path), folder)
    finally:
        if remove:
            Path(path).unlink(missing_ok=True)


@op
def log_drawing(worker, draw, args, name) -> None:
    """``draw(*args)`` (a plotting function of ``kerasnets.plots``) rendered and logged."""
    import matplotlib.pyplot as plt

    figure = draw(*args)
    try:
        worker.tracker.log_figure(figure, name)
    finally:
        plt.close(figure)


@op
def log_datasets(worker, splits) -> None:
    from kerasnets.dataset_inputs import mlflow_inputs

    worker.tracker.log_datasets(mlflow_inputs(splits))


@op
def log_versions(worker) -> None:
    worker.tracker.log_versions()


@op
def log_model(worker, path, example, output, keras_version, keras_backend) -> None:
    from mlflow.models import infer_signature

    signature = None
    if example is not None and output is not None:
        signature = infer_signature(example, output)
    saved = KerasFile(path, keras_version, keras_backend)
    worker.model_info = worker.tracker.log_keras_file(saved, signature=signature, input_example=example)


@op
def register_model(worker, name, description, tags) -> None:
    if worker.model_info is None:
        log.warning("MLflow: no logged model to register as %r", name)
        return
    worker.tracker.register_model(worker.model_info.model_uri, name, description, tags)


@op
def upload(worker, paths, folder) -> None:
    try:
        for path in paths:
            with_retries(worker.client.log_artifact, worker.tracker.run_id, path, folder)
    finally:
        for path in paths:
            Path(path).unlink(missing_ok=True)


@op
def fetch_checkpoint(worker, folder, state_name, destination) -> dict | None:
    import json

    client, run_id = worker.client, worker.tracker.run_id
    try:
        state_path = client.download_artifacts(run_id, f"{folder}/{state_name}", destination)
        state = json.loads(Path(state_path).read_text())
        weights = client.download_artifacts(run_id, f"{folder}/{state['weights']}", destination)
    except Exception as exc:  # noqa: BLE001 - none uploaded yet: the run starts from epoch 0
        log.warning("MLflow: no checkpoint to resume from in run %s: %s", run_id, exc)
        return None
    return {**state, "weights": weights}


@op
def delete_artifacts(worker, folder) -> bool:
    from kerasnets.tracking import delete_artifacts as delete

    return delete(worker.client, worker.tracker.run_id, folder)


@op
def logged_steps(worker, key) -> set[int]:
    return {m.step for m in worker.client.get_metric_history(worker.tracker.run_id, key)}


@op
def end(worker, status, failure) -> None:
    worker.ended = True
    if worker.tracker is None:
        return
    worker.tracker.end(status, failure)


def serve(connection: Connection) -> None:
    """Do what arrives, in order, until ``close`` or the training process is gone."""
    worker = Worker()
    while True:
        try:
            call, name, args = connection.recv()
        except (EOFError, OSError):
            if worker.tracker is not None and not worker.ended:
                end(worker, "KILLED", None)  # the training process died
            return
        if name == "close":
            return
        try:
            value, ok = OPS[name](worker, *args), True
        except Exception as exc:  # noqa: BLE001 - reported to the caller, or a warning
            value, ok = _portable(exc), False
            if call is None:
                log.warning("MLflow: could not %s: %s", name.replace("_", " "), exc)
        if call is not None:
            connection.send((call, ok, value))


def _portable(exc: Exception) -> Exception | str:
    """The error as the training process can unpickle it without importing MLflow."""
    from kerasnets.errors import KerasnetsError

    return exc if isinstance(exc, KerasnetsError) else f"MLflow: {exc}"


def main(argv: list[str]) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the training process ends the run
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(format="%(levelname)s %(name)s: %(message)s", level=logging.WARNING)
    serve(Connection(int(argv[1])))
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)  # MLflow's atexit hooks have nothing left to do: the run is ended


if __name__ == "__main__":
    main(sys.argv)

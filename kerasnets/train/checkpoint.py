"""Per-epoch checkpoints of a run, so an interrupted run resumes from its last whole epoch.

Each epoch end writes, atomically, the model and optimizer variables (``weights.h5``; the
dropout seed generators are model variables and travel with them) and ``state.json``: the
number of completed epochs and every completed epoch's logs. The logs let a resumed run
re-log an epoch whose metrics never reached MLflow, so no epoch is missing or duplicated.

Where: in the run's artifact folder (``checkpoint/``) when the artifact store is a local
folder; otherwise (an MLflow server with proxied artifacts, S3...) in a local temporary folder
whose files are uploaded each epoch to the run's artifacts under ``checkpoint/``, overwriting
the previous epoch's, and downloaded again by a resume on any host (``RemoteCheckpoint``).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import keras

WEIGHTS = "weights.weights.h5"
STATE = "state.json"
#: the artifact folder of a run's checkpoint
ARTIFACT_FOLDER = "checkpoint"
#: remote weights alternate between two names and ``state.json``, uploaded after them, names the
#: current one: a process killed mid-upload leaves the previous epoch's pair whole
WEIGHT_SLOTS = ("weights-even.weights.h5", "weights-odd.weights.h5")

log = logging.getLogger("kerasnets")


class RunCheckpoint(keras.callbacks.Callback):
    """Saves weights, optimizer state, the epoch counter and the epoch logs every epoch."""

    def __init__(
        self,
        folder: str | Path,
        history: list[dict[str, float]] | None = None,
        saved: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.history: list[dict[str, float]] = list(history or [])
        self.saved = saved  # called with the number of completed epochs once both files are written

    def on_epoch_end(self, epoch, logs=None):
        self.folder.mkdir(parents=True, exist_ok=True)
        self.history = self.history[:epoch] + [
            {
                k: float(v)
                for k, v in (logs or {}).items()
                if isinstance(v, int | float) or hasattr(v, "__float__")
            }
        ]
        tmp = self.folder / f"tmp-{WEIGHTS}"
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, self.folder / WEIGHTS)
        state = {"epoch": epoch + 1, "history": self.history}
        tmp_state = self.folder / f"tmp-{STATE}"
        tmp_state.write_text(json.dumps(state))
        os.replace(tmp_state, self.folder / STATE)
        if self.saved is not None:
            self.saved(epoch + 1)


def read_state(folder: str | Path) -> dict[str, Any] | None:
    """The saved state, or ``None`` when there is no complete checkpoint."""
    folder = Path(folder)
    if not (folder / STATE).is_file() or not (folder / WEIGHTS).is_file():
        return None
    return json.loads((folder / STATE).read_text())


def completed_epochs(folder: str | Path) -> int:
    """How many epochs the checkpoint in ``folder`` has completed (0 without one)."""
    state = read_state(folder)
    return int(state["epoch"]) if state else 0


def restore(model: keras.Model, folder: str | Path) -> dict[str, Any] | None:
    """Load weights and optimizer state into a compiled model; returns the saved state."""
    state = read_state(folder)
    if state is None:
        return None
    if model.optimizer is not None and not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    model.load_weights(Path(folder) / WEIGHTS)
    return state


def local_artifact_dir(artifact_uri: str | None) -> Path | None:
    """The folder of a ``file://`` (or plain path) artifact URI; None for any other store."""
    if not artifact_uri:
        return None
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(artifact_uri) if parsed.scheme == "" else None


class LocalCheckpoint:
    """The checkpoint written in place, in the run's local artifact folder."""

    saved = None  # nothing to upload

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def fetch(self) -> None:
        """Already here."""

    def discard(self) -> None:
        """The run finished: the logged model supersedes its checkpoint."""
        shutil.rmtree(self.folder, ignore_errors=True)

    def close(self) -> None:
        """Kept for a resume."""


class RemoteCheckpoint:
    """The checkpoint of a run whose artifacts live on a server or in object storage: written to
    a local temporary folder, uploaded to ``checkpoint/`` after each epoch (the latest only,
    overwritten), and downloaded by ``fetch`` when the run resumes, on this host or another."""

    def __init__(self, tracker) -> None:
        self.tracker = tracker
        self.folder = Path(tempfile.mkdtemp(prefix=f"kerasnets-checkpoint-{tracker.run_id[:12]}-"))

    def saved(self, epochs: int) -> None:
        """Upload the weights to this epoch's slot, then ``state.json`` naming it."""
        from kerasnets.tracking import with_retries

        outbox = self.folder / "upload"
        outbox.mkdir(exist_ok=True)
        slot = WEIGHT_SLOTS[epochs % 2]
        weights = outbox / slot
        weights.unlink(missing_ok=True)
        try:
            os.link(self.folder / WEIGHTS, weights)  # a second name, no copy
        except OSError:  # a file system without hard links
            shutil.copyfile(self.folder / WEIGHTS, weights)
        state = json.loads((self.folder / STATE).read_text())
        (outbox / STATE).write_text(json.dumps({**state, "weights": slot}))
        client, run_id = self.tracker.client, self.tracker.run_id
        try:
            with_retries(client.log_artifact, run_id, str(weights), ARTIFACT_FOLDER)
            with_retries(client.log_artifact, run_id, str(outbox / STATE), ARTIFACT_FOLDER)
        except Exception as exc:  # noqa: BLE001 - a lost upload must not stop training
            log.warning("MLflow: could not upload the epoch %d checkpoint: %s", epochs, exc)

    def fetch(self) -> None:
        """Download the latest uploaded checkpoint into the local folder (nothing if none)."""
        client, run_id = self.tracker.client, self.tracker.run_id
        inbox = self.folder / "download"
        try:
            state_path = client.download_artifacts(run_id, f"{ARTIFACT_FOLDER}/{STATE}", str(inbox))
            state = json.loads(Path(state_path).read_text())
            slot = state.pop("weights")
            weights = client.download_artifacts(run_id, f"{ARTIFACT_FOLDER}/{slot}", str(inbox))
        except Exception as exc:  # noqa: BLE001 - none uploaded yet: the run starts from epoch 0
            log.warning("MLflow: no checkpoint to resume from in run %s: %s", run_id, exc)
            return
        os.replace(weights, self.folder / WEIGHTS)
        (self.folder / STATE).write_text(json.dumps(state))

    def discard(self) -> None:
        """The run finished: delete ``checkpoint/`` from the store where it allows deletion; where
        it does not, the run keeps its last checkpoint, and its tag ``kerasnets.checkpoint`` says so."""
        from kerasnets.tracking import delete_artifacts

        if not delete_artifacts(self.tracker.client, self.tracker.run_id, ARTIFACT_FOLDER):
            self.tracker.set_tags(
                {"kerasnets.checkpoint": "kept: the artifact store did not delete checkpoint/"}
            )
        self.close()

    def close(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def run_checkpoint(tracker) -> LocalCheckpoint | RemoteCheckpoint | None:
    """Where this run's checkpoint goes (None without a tracked run)."""
    if not tracker.run_id:
        return None
    folder = local_artifact_dir(tracker.artifact_uri)
    if folder is not None:
        return LocalCheckpoint(folder / ARTIFACT_FOLDER)
    return RemoteCheckpoint(tracker)


def merge_history(prior: list[dict[str, float]], new: dict[str, list[float]]) -> dict[str, list[float]]:
    """Per-key lists over all epochs: the checkpointed ones, then this fit's."""
    keys = list(dict.fromkeys([*(k for logs in prior for k in logs), *new]))
    return {
        k: [logs.get(k, float("nan")) for logs in prior] + [float(v) for v in new.get(k, [])] for k in keys
    }


def relog_missing_epochs(tracker, prior: list[dict[str, float]]) -> None:
    """Checkpoints are written before an epoch's metrics are logged; if the process died in
    between, log that epoch's metrics now, so the run has every epoch exactly once."""
    try:
        logged = {m.step for m in tracker.client.get_metric_history(tracker.run_id, "loss")}
    except Exception:  # noqa: BLE001 - an unreadable history: re-log nothing rather than fail
        logged = set()
    for epoch, logs in enumerate(prior, start=1):
        if epoch not in logged:
            tracker.log_metrics(logs, step=epoch)

"""Per-epoch checkpoints of a run, so an interrupted run resumes from its last whole epoch.

Each epoch end writes, atomically, the model and optimizer variables (``weights.npz``; the
dropout seed generators are model variables and travel with them) and ``state.json``: the
number of completed epochs and every completed epoch's logs. The logs let a resumed run
re-log an epoch whose metrics never reached MLflow, so no epoch is missing or duplicated.

Where: in the run's artifact folder (``checkpoint/``) when the artifact store is a local
folder; otherwise (an MLflow server with proxied artifacts, S3...) in a local temporary folder
whose files the tracking process uploads each epoch to the run's artifacts under
``checkpoint/``, overwriting the previous epoch's, and a resume on any host downloads again
(``StoreCheckpoint``).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import keras
import numpy as np

from kerasnets.errors import KerasnetsError

WEIGHTS = "weights.npz"
STATE = "state.json"
#: the artifact folder of a run's checkpoint
ARTIFACT_FOLDER = "checkpoint"
#: remote weights alternate between two names and ``state.json``, uploaded after them, names the
#: current one: a process killed mid-upload leaves the previous epoch's pair whole
WEIGHT_SLOTS = ("weights-even.npz", "weights-odd.npz")


class RunCheckpoint(keras.callbacks.Callback):
    """Saves weights, optimizer state, the epoch counter and the epoch logs every epoch."""

    def __init__(self, where: StoreCheckpoint, history: list[dict[str, float]] | None = None) -> None:
        super().__init__()
        self.where = where
        self.history: list[dict[str, float]] = list(history or [])

    def on_epoch_end(self, epoch, logs=None):
        folder = self.where.folder
        folder.mkdir(parents=True, exist_ok=True)
        self.history = self.history[:epoch] + [
            {
                k: float(v)
                for k, v in (logs or {}).items()
                if isinstance(v, int | float) or hasattr(v, "__float__")
            }
        ]
        tmp = folder / f"tmp-{WEIGHTS}"
        save_variables(self.model, tmp)
        os.replace(tmp, folder / WEIGHTS)
        state = {"epoch": epoch + 1, "history": self.history}
        tmp_state = folder / f"tmp-{STATE}"
        tmp_state.write_text(json.dumps(state))
        os.replace(tmp_state, folder / STATE)
        self.where.saved(epoch + 1)


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
    load_variables(model, Path(folder) / WEIGHTS)
    return state


def checkpoint_variables(model: keras.Model) -> list:
    """What a checkpoint holds, in a fixed order: the model's variables (weights, and state such
    as the dropout seed generators), then each of its optimizers' (``optimizer``, or a GAN's
    ``d_optimizer`` and ``g_optimizer``: step count, learning rate, moments, loss scale)."""
    optimizers = [o for o in vars(model).values() if isinstance(o, keras.optimizers.Optimizer)]
    variables = list(model.variables) + [v for o in optimizers for v in o.variables]
    return list({id(v): v for v in variables}.values())


def save_variables(model: keras.Model, path: Path) -> None:
    """Every checkpoint variable's value into one ``.npz`` file, by position (``000000``...):
    a few milliseconds where ``model.save_weights`` walks the model and writes HDF5 (about
    five times as long for LeNet-5, paid at every epoch end)."""
    arrays = {f"{i:06d}": keras.ops.convert_to_numpy(v) for i, v in enumerate(checkpoint_variables(model))}
    with open(path, "wb") as handle:
        np.savez(handle, **arrays)


def load_variables(model: keras.Model, path: Path) -> None:
    """Assign a ``save_variables`` file to the same model, built and compiled the same way;
    a ``KerasnetsError`` when it holds other variables."""
    variables = checkpoint_variables(model)
    with np.load(path, allow_pickle=False) as saved:
        shapes = [saved[k].shape for k in sorted(saved.files)]
        if shapes != [tuple(v.shape) for v in variables]:
            raise KerasnetsError(
                f"checkpoint {path} holds {len(shapes)} variables that do not match this model's "
                f"{len(variables)}: was the recipe changed since the run started?"
            )
        for i, variable in enumerate(variables):
            variable.assign(saved[f"{i:06d}"])


def local_artifact_dir(artifact_uri: str | None) -> Path | None:
    """The folder of a ``file://`` (or plain path) artifact URI; None for any other store."""
    if not artifact_uri:
        return None
    parsed = urlparse(artifact_uri)
    if parsed.scheme == "file":
        return Path(unquote(parsed.path))
    return Path(artifact_uri) if parsed.scheme == "" else None


class StoreCheckpoint:
    """Where a tracked run's checkpoint lives, decided at its first use (by then the tracking
    process has created the run and knows its artifact URI): the run's local artifact folder
    (``checkpoint/``), written in place; or, for artifacts on a server or in object storage,
    a local temporary folder whose files are uploaded to ``checkpoint/`` after each epoch (the
    latest only, overwritten) and downloaded by ``fetch`` when the run resumes, on this host or
    another."""

    def __init__(self, tracker) -> None:
        self.tracker = tracker
        self._folder: Path | None = None
        self.remote = False

    @property
    def folder(self) -> Path:
        if self._folder is None:
            local = local_artifact_dir(self.tracker.artifact_uri)
            self.remote = local is None
            self._folder = (
                Path(tempfile.mkdtemp(prefix=f"kerasnets-checkpoint-{self.tracker.run_id[:12]}-"))
                if self.remote
                else local / ARTIFACT_FOLDER
            )
        return self._folder

    def saved(self, epochs: int) -> None:
        """Remote: hand this epoch's weights (in its slot) and then ``state.json`` naming the
        slot to the tracking process, which uploads them in that order."""
        if not self.remote:
            return
        outbox = self.tracker.staging / f"checkpoint-{epochs}"
        outbox.mkdir()
        slot = WEIGHT_SLOTS[epochs % 2]
        try:
            os.link(self.folder / WEIGHTS, outbox / slot)  # a second name, no copy
        except OSError:  # a file system without hard links
            shutil.copyfile(self.folder / WEIGHTS, outbox / slot)
        state = json.loads((self.folder / STATE).read_text())
        (outbox / STATE).write_text(json.dumps({**state, "weights": slot}))
        self.tracker.checkpoint_upload([outbox / slot, outbox / STATE], ARTIFACT_FOLDER)

    def fetch(self) -> None:
        """Remote: download the latest uploaded checkpoint into the local folder (nothing if none)."""
        folder = self.folder
        if not self.remote:
            return
        state = self.tracker.checkpoint_fetch(ARTIFACT_FOLDER, STATE, folder / "download")
        if state is None:
            return
        os.replace(state.pop("weights"), folder / WEIGHTS)
        (folder / STATE).write_text(json.dumps(state))

    def discard(self) -> None:
        """The run finished: the logged model supersedes its checkpoint. Remote: delete
        ``checkpoint/`` from the store where it allows deletion; where it does not, the run keeps
        its last checkpoint, and its tag ``kerasnets.checkpoint`` says so."""
        if not self.remote:
            shutil.rmtree(self.folder, ignore_errors=True)
            return
        if not self.tracker.delete_artifacts(ARTIFACT_FOLDER):
            kept = "kept: the artifact store did not delete checkpoint/"
            self.tracker.set_tags({"kerasnets.checkpoint": kept})
        self.close()

    def close(self) -> None:
        """Remote: remove the local copy (the store keeps the checkpoint for a resume)."""
        if self.remote and self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)


def run_checkpoint(tracker) -> StoreCheckpoint | None:
    """Where this run's checkpoint goes (None without a tracked run)."""
    return StoreCheckpoint(tracker) if tracker.active else None


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
        logged = tracker.logged_steps("loss")
    except Exception:  # noqa: BLE001 - an unreadable history: re-log nothing rather than fail
        logged = set()
    for epoch, logs in enumerate(prior, start=1):
        if epoch not in logged:
            tracker.log_metrics(logs, step=epoch)

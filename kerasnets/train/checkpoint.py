"""Per-epoch checkpoints of a run, so an interrupted run resumes from its last whole epoch.

Each epoch end writes, atomically, the model and optimizer variables (``weights.h5``; the
dropout seed generators are model variables and travel with them) and ``state.json``: the
number of completed epochs and every completed epoch's logs. The logs let a resumed run
re-log an epoch whose metrics never reached MLflow, so no epoch is missing or duplicated.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import keras

WEIGHTS = "weights.weights.h5"
STATE = "state.json"


class RunCheckpoint(keras.callbacks.Callback):
    """Saves weights, optimizer state, the epoch counter and the epoch logs every epoch."""

    def __init__(self, folder: str | Path, history: list[dict[str, float]] | None = None) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.history: list[dict[str, float]] = list(history or [])

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


def checkpoint_dir(artifact_uri: str | None, run_id: str) -> Path:
    """``<artifact dir>/checkpoint`` for a local artifact store, else ``mlruns/checkpoints/<run>``."""
    if artifact_uri and artifact_uri.startswith("file://"):
        from urllib.parse import unquote, urlparse

        return Path(unquote(urlparse(artifact_uri).path)) / "checkpoint"
    return Path("mlruns") / "checkpoints" / run_id


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

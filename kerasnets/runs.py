"""``kerasnets runs``: a table of recent runs in the tracking store."""

from __future__ import annotations

import os
import socket
from datetime import datetime


def _duration(start: int | None, end: int | None) -> str:
    if not start or not end:
        return ""
    seconds = (end - start) / 1000
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def displayed_status(run) -> str:
    """The store's status, except that a RUNNING run whose process on this host is gone (it was
    killed with SIGKILL, the machine slept or lost power) shows as INTERRUPTED."""
    status = run.info.status
    if status != "RUNNING":
        return status
    tags = run.data.tags
    pid, host = tags.get("kerasnets.pid"), tags.get("kerasnets.host")
    if pid and pid.isdigit() and host == socket.gethostname() and not _process_alive(int(pid)):
        return "INTERRUPTED"
    return status


def recent_runs(limit: int = 20, experiment: str | None = None, uri: str | None = None) -> list:
    from mlflow import MlflowClient
    from mlflow.entities import ViewType

    from kerasnets.tracking import tracking_uri

    client = MlflowClient(tracking_uri(uri))
    experiments = client.search_experiments(view_type=ViewType.ACTIVE_ONLY)
    if experiment:
        experiments = [e for e in experiments if e.name == experiment]
    ids = {e.experiment_id: e.name for e in experiments}
    if not ids:
        return []
    runs = client.search_runs(list(ids), max_results=limit, order_by=["attributes.start_time DESC"])
    return [(run, ids[run.info.experiment_id]) for run in runs]


def runs_table(limit: int = 20, experiment: str | None = None, uri: str | None = None):
    from rich.table import Table

    table = Table(
        title="recent runs", caption="INTERRUPTED/KILLED runs continue with: kerasnets run --resume RUN_ID"
    )
    for column in (
        "run id",
        "name",
        "experiment",
        "model",
        "dataset",
        "test acc",
        "duration",
        "status",
        "started",
    ):
        table.add_column(column, no_wrap=column in ("run id", "status", "test acc"))
    for run, exp_name in recent_runs(limit, experiment, uri):
        info, data = run.info, run.data
        accuracy = data.metrics.get("test_accuracy")
        status = displayed_status(run)
        style = {
            "FINISHED": "green",
            "FAILED": "red",
            "KILLED": "yellow",
            "RUNNING": "cyan",
            "INTERRUPTED": "magenta",
        }.get(status, "")
        table.add_row(
            info.run_id[:12],
            info.run_name or "",
            exp_name,
            data.params.get("model.name", data.tags.get("model", "")),
            data.params.get("data.dataset", data.tags.get("dataset", "")),
            "" if accuracy is None else f"{accuracy:.4f}",
            _duration(info.start_time, info.end_time),
            f"[{style}]{status}[/]" if style else status,
            datetime.fromtimestamp(info.start_time / 1000).strftime("%Y-%m-%d %H:%M")
            if info.start_time
            else "",
        )
    return table

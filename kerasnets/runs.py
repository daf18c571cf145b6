"""``kerasnets runs``: a table of recent runs in the tracking store."""

from __future__ import annotations

from datetime import datetime


def _duration(start: int | None, end: int | None) -> str:
    if not start or not end:
        return ""
    seconds = (end - start) / 1000
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


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

    table = Table(title="recent runs")
    for column in ("run id", "name", "experiment", "model", "dataset", "test acc", "duration", "status", "started"):
        table.add_column(column, no_wrap=column in ("run id", "status", "test acc"))
    for run, exp_name in recent_runs(limit, experiment, uri):
        info, data = run.info, run.data
        accuracy = data.metrics.get("test_accuracy")
        status = info.status
        style = {"FINISHED": "green", "FAILED": "red", "KILLED": "yellow", "RUNNING": "cyan"}.get(status, "")
        table.add_row(
            info.run_id[:12], info.run_name or "", exp_name,
            data.params.get("model.name", data.tags.get("model", "")),
            data.params.get("data.dataset", data.tags.get("dataset", "")),
            "" if accuracy is None else f"{accuracy:.4f}",
            _duration(info.start_time, info.end_time),
            f"[{style}]{status}[/]" if style else status,
            datetime.fromtimestamp(info.start_time / 1000).strftime("%Y-%m-%d %H:%M") if info.start_time else "",
        )
    return table

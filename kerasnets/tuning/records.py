"""The sweep's MLflow records: one parent run per sweep, one child run per trial (nested with
``mlflow.parentRunId``; the child is the ordinary run that ``kerasnets.train.loop.run`` opens).

The parent is handled with ``MlflowClient`` only (never the fluent API), so each trial's
``run()`` can open its own run as usual. Every write retries SQLite lock errors.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from kerasnets.tracking import prepare_store, training_experiment, with_retries

TRIAL_TAG = "sweep.trial"
EXECUTION_TAG = "sweep.execution"


class SweepRecords:
    """MLflow access for one sweep: its experiment, its parent run and its trials' child runs."""

    def __init__(self, uri: str, experiment: str) -> None:
        self.uri = uri
        self.client = prepare_store(uri)
        self.experiment_id = training_experiment(self.client, uri, experiment)
        self.parent_run_id: str | None = None

    # ------------------------------------------------------------------ parent

    def open_parent(self, run_id: str | None, name: str, tags: dict[str, str], params: dict[str, str]) -> str:
        """Reopen the sweep's parent run (status back to RUNNING), or create it."""
        owner = {"kerasnets.pid": str(os.getpid()), "kerasnets.host": socket.gethostname()}
        if run_id and self._exists(run_id):
            with_retries(self.client.update_run, run_id, status="RUNNING")
            for key, value in owner.items():
                with_retries(self.client.set_tag, run_id, key, value)
        else:
            from mlflow.tracking.context.registry import resolve_tags

            # resolve_tags adds what mlflow.start_run would (user, source, git commit): the UI's
            # "Created by" and "Source"
            run = with_retries(
                self.client.create_run,
                self.experiment_id,
                run_name=name,
                tags=resolve_tags({**tags, **owner}),
            )
            run_id = run.info.run_id
            from mlflow.entities import Param

            items = [Param(k, str(v)[:6000]) for k, v in params.items()]
            with_retries(self.client.log_batch, run_id, params=items)
        self.parent_run_id = run_id
        return run_id

    def _exists(self, run_id: str) -> bool:
        try:
            run = self.client.get_run(run_id)
        except Exception:  # noqa: BLE001 - MlflowException for an unknown or deleted run
            return False
        return run.info.lifecycle_stage == "active"

    def end_parent(self, status: str, failure: str | None = None) -> None:
        if not self.parent_run_id:
            return
        if failure:
            with_retries(self.client.set_tag, self.parent_run_id, "failure", failure[:4000])
        with_retries(self.client.set_terminated, self.parent_run_id, status)

    def kill_stale_parent(self, run_id: str | None) -> None:
        """``--restart``: an old parent still RUNNING ends KILLED."""
        if run_id and self._exists(run_id) and self.client.get_run(run_id).info.status == "RUNNING":
            with_retries(self.client.set_terminated, run_id, "KILLED")

    # ------------------------------------------------------------------ children

    def children(self) -> list:
        """Every child run of the parent (any status)."""
        query = f"tags.mlflow.parentRunId = '{self.parent_run_id}'"
        return with_retries(self.client.search_runs, [self.experiment_id], query, max_results=50_000)

    def find_child(self, trial_id: str, execution: int):
        query = (
            f"tags.mlflow.parentRunId = '{self.parent_run_id}' and tags.`{TRIAL_TAG}` = '{trial_id}' "
            f"and tags.`{EXECUTION_TAG}` = '{execution}'"
        )
        runs = with_retries(self.client.search_runs, [self.experiment_id], query)
        return runs[0] if runs else None

    def discard(self, run) -> None:
        """A child killed before it logged anything: deleted, so the re-run is the only record."""
        with_retries(self.client.set_terminated, run.info.run_id, "KILLED")
        with_retries(self.client.delete_run, run.info.run_id)

    def log_outcome(self, run_id: str, values: dict[str, Any], objective: float | None) -> None:
        """The trial's sampled values as ``tuned.<key>`` params, and its ``objective`` metric."""
        import time

        from mlflow.entities import Metric, Param

        existing = with_retries(self.client.get_run, run_id).data.params
        params = [
            Param(f"tuned.{k}", str(v)[:6000]) for k, v in values.items() if f"tuned.{k}" not in existing
        ]
        metrics = (
            [] if objective is None else [Metric("objective", float(objective), int(time.time() * 1000), 0)]
        )
        with_retries(self.client.log_batch, run_id, params=params, metrics=metrics)

    def record_failure(
        self, trial_id: str, execution: int, tags: dict[str, str], values: dict[str, Any], reason: str
    ) -> str:
        """Make sure the failed trial has a FAILED child run that says why; returns its id."""
        run = self.find_child(trial_id, execution)
        if run is None:  # it failed before a run was opened (an invalid combination, missing data)
            run = with_retries(
                self.client.create_run,
                self.experiment_id,
                tags={**tags, "mlflow.parentRunId": self.parent_run_id},
            )
        run_id = run.info.run_id
        with_retries(self.client.set_tag, run_id, "failure", reason[:4000])
        self.log_outcome(run_id, values, None)
        if with_retries(self.client.get_run, run_id).info.status != "FAILED":
            with_retries(self.client.set_terminated, run_id, "FAILED")
        return run_id

    def best_objective_of(self, run, name: str, mode: str) -> float | None:
        """The objective of a child run that finished before the sweep could record it."""
        if "objective" in run.data.metrics:
            return run.data.metrics["objective"]
        history = [m.value for m in with_retries(self.client.get_metric_history, run.info.run_id, name)]
        if not history:
            return None
        return max(history) if mode == "max" else min(history)

    def log_artifacts(self, folder: Path) -> None:
        with_retries(self.client.log_artifacts, self.parent_run_id, str(folder))

    def set_tags(self, tags: dict[str, str]) -> None:
        for key, value in tags.items():
            with_retries(self.client.set_tag, self.parent_run_id, key, str(value)[:5000])

    def log_metrics(self, metrics: dict[str, float]) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        with_retries(
            self.client.log_batch,
            self.parent_run_id,
            metrics=[Metric(k, float(v), now, 0) for k, v in metrics.items()],
        )

    def register_best(self, name: str, run_id: str, description: str, tags: dict[str, str]):
        """The model that child run ``run_id`` logged, as a new version of ``name``; the
        ModelVersion, or None when that run logged no model."""
        import mlflow

        found = with_retries(
            self.client.search_logged_models,
            experiment_ids=[self.experiment_id],
            filter_string=f"source_run_id = '{run_id}'",
        )
        if not found:
            return None
        version = with_retries(mlflow.register_model, f"models:/{found[0].model_id}", name, tags=tags)
        with_retries(self.client.update_model_version, name, version.version, description=description)
        self.set_tags({"registered.name": name, "registered.version": version.version})
        return version

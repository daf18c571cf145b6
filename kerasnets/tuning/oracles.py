"""keras-tuner's four oracles, with the sweep's failure cap and a fix for resuming grid search.

Every oracle stops handing out trials (instead of raising from ``end_trial``, as keras-tuner
1.4.8 does) after ``max_consecutive_failed_trials`` failures in a row within one session, and
records why in ``stopped_by_failures``; the tuner turns that into a clear error.
"""

from __future__ import annotations

from typing import Any

import keras_tuner as kt
from keras_tuner.src.engine import trial as trial_module
from keras_tuner.src.tuners.gridsearch import LinkedList

from kerasnets.tuning.sweep import Sweep


class _SweepOracle:
    """Mixin: the consecutive-failure cap as a stop, not an exception; ``all_trials_ended`` for
    a chief that must outlive every worker's trial."""

    stopped_by_failures: str | None = None
    _session_start = 0  # failures before a resume do not count against the cap
    search_over = False  # a worker has been told to stop: no new trials will start

    def _check_consecutive_failures(self) -> None:
        streak, last = 0, None
        for trial_id in self.end_order[self._session_start :]:
            trial = self.trials[trial_id]
            failed = trial.status == trial_module.TrialStatus.FAILED
            streak, last = (streak + 1, trial) if failed else (0, None)
        if streak >= self.max_consecutive_failed_trials and not self.stopped_by_failures:
            reason = (last.message or "").strip().splitlines()[-1:] if last else []
            cap = self.max_consecutive_failed_trials
            self.stopped_by_failures = (
                f"{streak} trials failed in a row (max_consecutive_failures: {cap})"
                + (f"; the last one: {reason[0]}" if reason else "")
            )

    @kt.synchronized
    def create_trial(self, tuner_id: str):
        if self.stopped_by_failures and tuner_id not in self.ongoing_trials:
            self.tuner_ids.discard(tuner_id)
            trial = trial_module.Trial(self.hyperparameters.copy(), status=trial_module.TrialStatus.STOPPED)
        else:
            trial = super().create_trial(tuner_id)
        if trial.status == trial_module.TrialStatus.STOPPED:
            self.search_over = True
        return trial

    @kt.synchronized
    def all_trials_ended(self) -> bool:
        """The search is over, no trial is running and every worker that asked for a trial has
        been told to stop (keras-tuner's own condition for the chief to exit, without its
        20-second polling)."""
        return self.search_over and not self.ongoing_trials and not self.tuner_ids

    @kt.synchronized
    def running_on(self) -> list[str]:
        """The workers with a trial in flight, as ``tuner (trial N)``."""
        return [f"{tuner} (trial {int(t.trial_id) + 1})" for tuner, t in sorted(self.ongoing_trials.items())]

    def reload(self) -> None:
        super().reload()
        self._session_start = len(self.end_order)


class RandomOracle(_SweepOracle, kt.oracles.RandomSearchOracle):
    pass


class BayesianOracle(_SweepOracle, kt.oracles.BayesianOptimizationOracle):
    pass


class HyperbandOracle(_SweepOracle, kt.oracles.HyperbandOracle):
    pass


class GridOracle(_SweepOracle, kt.oracles.GridSearchOracle):
    """Grid search that resumes: keras-tuner 1.4.8 does not save the order of the grid it has
    walked (``_ordered_ids``, ``_populate_next``), so the first trial after a reload raises
    ``KeyError`` in ``populate_space`` (keras-tuner#1055). Both are saved with the state here."""

    def get_state(self) -> dict[str, Any]:
        state = super().get_state()
        state["grid_order"] = _linked_items(self._ordered_ids)
        state["grid_populate_next"] = list(self._populate_next)
        return state

    def set_state(self, state: dict[str, Any]) -> None:
        super().set_state(state)
        self._ordered_ids = LinkedList()
        for trial_id in state.get("grid_order", []):
            self._ordered_ids.insert(trial_id)
        self._populate_next = list(state.get("grid_populate_next", []))


def _linked_items(linked: LinkedList) -> list[Any]:
    items, index = [], linked._next_index[None]
    while index is not None:
        items.append(linked._memory[index])
        index = linked._next_index[index]
    return items


#: tuner name -> (oracle class, sweep ``tuner`` option -> oracle argument)
ORACLES: dict[str, tuple[type, dict[str, str]]] = {
    "random": (RandomOracle, {}),
    "grid": (GridOracle, {}),
    "bayesian": (BayesianOracle, {"num_initial_points": "num_initial_points"}),
    "hyperband": (
        HyperbandOracle,
        {"max_epochs": "max_epochs", "factor": "factor", "iterations": "hyperband_iterations"},
    ),
}


def make_oracle(sweep: Sweep, max_trials: int | None = None) -> kt.Oracle:
    """The sweep's oracle; ``max_trials`` overrides the file's (``--max-trials``)."""
    section = sweep.file.tuner
    cls, options = ORACLES[section.name]
    kwargs = {arg: getattr(section, key) for key, arg in options.items() if getattr(section, key) is not None}
    objective = kt.Objective(sweep.file.objective.name, sweep.file.objective.mode)
    oracle = cls(
        objective=objective,
        seed=section.seed,
        max_consecutive_failed_trials=sweep.file.max_consecutive_failures,
        **kwargs,
    )
    oracle.max_trials = max_trials or sweep.file.max_trials  # HyperbandOracle takes no max_trials argument
    return oracle

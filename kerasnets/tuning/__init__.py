"""Hyperparameter sweeps: ``tuning/*.yaml`` -> keras-tuner -> ``loop.run`` per trial, in MLflow.

``sweep.py`` (the file format and its checks) imports nothing heavy; ``tuner.py``,
``oracles.py``, ``records.py``, ``report.py`` and ``workers.py`` load keras-tuner and MLflow.
"""

from kerasnets.tuning.sweep import Sweep, load_sweep

__all__ = ["Sweep", "load_sweep", "tune"]


def tune(*args, **kwargs):
    """Run or continue a sweep (see ``kerasnets.tuning.session.tune``)."""
    from kerasnets.tuning.session import tune as _tune

    return _tune(*args, **kwargs)

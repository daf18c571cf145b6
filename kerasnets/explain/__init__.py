"""Looking inside a trained network: one module per method family, one registry.

``EXPLAINERS`` maps a method name to ``fn(model, splits, options) -> [PNG paths]``;
``kerasnets.explain.runner`` loads a run's model and data, runs methods and logs the PNGs
to the run under ``explain/<method>/``. Importing this package does not import TensorFlow.
"""

from kerasnets.explain import activations, cam, filters, gradients, neighbours, occlusion  # noqa: F401  (registrations)
from kerasnets.explain.base import ALL, EXPLAINERS, ExplainOptions, NotApplicable, check_steps, expand

__all__ = ["ALL", "EXPLAINERS", "ExplainOptions", "NotApplicable", "check_steps", "expand"]

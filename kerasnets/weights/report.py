"""What a weight load did: which layers were copied, which stayed fresh and why."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field


@dataclass
class WeightsReport:
    """The outcome of loading starting weights into a model."""

    source: str  # "imagenet", a file path or "run <id>"
    copied: list[str] = field(default_factory=list)
    fresh: dict[str, str] = field(default_factory=dict)  # layer -> why it kept its initialisation
    source_run: str | None = None
    preprocessing: str | None = None  # keras.applications preprocess_input mode, for ImageNet weights

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def summary(self) -> str:
        return f"init from {self.source}: {len(self.copied)} layers copied, {len(self.fresh)} fresh"


def weighted_layers(model) -> list:
    """The model's top-level layers that own weights, in graph order."""
    return [layer for layer in model.layers if layer.weights]


def shapes(layer) -> list[tuple[int, ...]]:
    return [tuple(int(d) for d in w.shape) for w in layer.weights]

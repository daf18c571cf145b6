"""Weights from a finished kerasnets run (or a ``.keras`` file) into a new model: every layer
whose name and weight shapes match, or only the layers named in ``init.layers``.

VGG's procedure (Simonyan & Zisserman 2015, section 3.1): net D started from net A's first
four convolutional layers and its last three fully-connected layers, the rest random:
``init.layers: [block1_conv1, block2_conv1, block3_conv1, block3_conv2, head_*]``.
"""

from __future__ import annotations

import fnmatch
import tempfile
from pathlib import Path

import keras

from kerasnets.errors import KerasnetsError
from kerasnets.weights.report import WeightsReport, shapes, weighted_layers


def is_model_file(source: str) -> bool:
    return source.endswith(".keras")


def read_model_file(path: str | Path) -> keras.Model:
    """A saved ``.keras`` model, loaded with ``safe_mode=True`` (no code runs)."""
    import kerasnets.models  # noqa: F401 - registers the custom layers a kerasnets model uses

    path = Path(path)
    if not path.is_file():
        raise KerasnetsError(f"no model file {str(path)!r}")
    try:
        return keras.saving.load_model(path, compile=False, safe_mode=True)
    except Exception as exc:  # noqa: BLE001 - zip, h5 and deserialisation errors
        raise KerasnetsError(
            f"cannot load {str(path)!r} as a Keras model: {str(exc).splitlines()[0][:200]}"
        ) from None


def find_run(client, ref: str, uri: str):
    """The run with id ``ref``, else the latest finished run named ``ref`` (its
    ``tracking.run_name``), in any experiment of the store."""
    from mlflow.entities import ViewType

    try:
        return client.get_run(ref)
    except Exception:  # noqa: BLE001 - MlflowException for unknown ids
        pass
    experiments = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ACTIVE_ONLY)]
    quoted = ref.replace("'", "\\'")
    runs = (
        client.search_runs(
            experiments,
            f"attributes.run_name = '{quoted}' and attributes.status = 'FINISHED'",
            max_results=1,
            order_by=["attributes.start_time DESC"],
        )
        if experiments
        else []
    )
    if not runs:
        raise KerasnetsError(f"no run {ref!r} (id or finished run name) in the tracking store {uri}")
    return runs[0]


def read_run_model(ref: str, uri: str) -> tuple[keras.Model, str]:
    """The ``model.keras`` artifact of finished run ``ref`` (an id or a run name) in the
    tracking store ``uri``, and the run's id."""
    from mlflow import MlflowClient

    client = MlflowClient(uri)
    run = find_run(client, ref, uri)
    run_id = run.info.run_id
    if run.info.status != "FINISHED":
        raise KerasnetsError(f"run {run_id} is {run.info.status}: take weights from a finished run")
    with tempfile.TemporaryDirectory() as tmp:
        try:
            path = client.download_artifacts(run_id, "model.keras", tmp)
        except Exception:  # noqa: BLE001
            raise KerasnetsError(f"run {run_id} has no model.keras artifact") from None
        return read_model_file(path), run_id


def _matching(names: list[str], patterns: list[str], key: str) -> set[str]:
    chosen = set()
    for pattern in patterns:
        hits = {n for n in names if fnmatch.fnmatchcase(n, pattern)}
        if not hits:
            raise KerasnetsError(
                f"{key}: {pattern!r} names no layer with weights of the model; its layers: "
                f"{', '.join(names[:12])}{', ...' if len(names) > 12 else ''}"
            )
        chosen |= hits
    return chosen


def copy_layers(
    source: keras.Model,
    target: keras.Model,
    layers: list[str] | None = None,
    exclude: list[str] | None = None,
    description: str = "a model",
) -> WeightsReport:
    """Copy into ``target`` each layer of ``source`` with the same name and weight shapes.

    With ``layers`` only those (names or fnmatch patterns) are taken, and each must exist in
    the source with the same shapes (else an error, nothing copied); ``exclude`` leaves
    layers fresh. Layers without a match keep their initialisation and are reported."""
    theirs = {layer.name: layer for layer in weighted_layers(source)}
    ours = weighted_layers(target)
    names = [layer.name for layer in ours]
    wanted = _matching(names, layers, "init.layers") if layers is not None else set(names)
    left_out = _matching(names, exclude or [], "init.exclude")
    pairs, fresh = [], {}
    for layer in ours:
        if layer.name not in wanted:
            fresh[layer.name] = "not in init.layers"
        elif layer.name in left_out:
            fresh[layer.name] = "init.exclude"
        elif layer.name not in theirs:
            fresh[layer.name] = f"not in {description}"
        elif shapes(layer) != shapes(theirs[layer.name]):
            fresh[layer.name] = f"shapes {shapes(layer)} != {shapes(theirs[layer.name])}"
        else:
            pairs.append((layer, theirs[layer.name]))
    if layers is not None:
        refused = {n: why for n, why in fresh.items() if n in wanted and n not in left_out}
        if refused:
            name, why = next(iter(refused.items()))
            raise KerasnetsError(f"init.layers: layer {name!r} cannot be copied from {description}: {why}")
    if not pairs:
        raise KerasnetsError(f"no layer of the model matches {description} by name and shapes")
    for mine, source_layer in pairs:
        mine.set_weights(source_layer.get_weights())
    return WeightsReport(source=description, copied=[m.name for m, _ in pairs], fresh=fresh)

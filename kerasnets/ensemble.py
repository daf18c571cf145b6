"""Ensembles of finished classifier runs: their test-set probabilities averaged (``mean``, as
AlexNet's seven CNNs) or their predictions voted (``vote``), scored on the test split they all
share and logged as an MLflow run of its own (tag ``kerasnets.kind=ensemble``).

Members are numbered from 1 in the logged params, metrics and ``members.csv``.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from kerasnets.errors import DataError, KerasnetsError

METHODS = ("mean", "vote")
TASKS = ("classify", "sequence")  # tasks whose models output class probabilities
PREDICT_BATCH = 256
IGNORED_DATA_KEYS = ("batch_size", "dir")  # neither changes the test split


@dataclass
class Member:
    """One finished run, loaded: its recipe, model, ``data.json`` and MLflow run."""

    run_id: str
    recipe: Any
    model: Any = field(repr=False)
    data_info: dict[str, Any]
    run: Any = field(repr=False)
    experiment: str


@dataclass
class EnsembleResult:
    """The members' and the ensemble's test accuracies, and the ensemble's MLflow run."""

    method: str
    run_ids: list[str]
    member_accuracies: list[float]
    test_accuracy: float
    member_median: float
    best_member: str
    best_member_accuracy: float
    run_id: str | None = None
    experiment_id: str | None = None
    artifact_uri: str | None = None
    models: list[str] = field(default_factory=list)
    predictions: np.ndarray | None = field(default=None, repr=False)


# ----------------------------------------------------------------------------- checks


def check_request(run_ids: list[str], method: str) -> None:
    """At least two distinct run ids and a known method (cheap: no TensorFlow, no store)."""
    if method not in METHODS:
        raise KerasnetsError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if len(run_ids) < 2:
        raise KerasnetsError(f"an ensemble needs at least 2 runs, got {len(run_ids)}")
    repeated = [run_id for run_id, count in Counter(run_ids).items() if count > 1]
    if repeated:
        raise KerasnetsError(f"run {repeated[0]} is given more than once")


def data_fields(recipe: Any) -> dict[str, Any]:
    """The recipe's ``data`` section as dotted keys (``data.image_size``...), less what does
    not change the test split."""
    dump = recipe.data.model_dump(mode="json")
    for key in IGNORED_DATA_KEYS:
        dump.pop(key, None)
    return dotted(dump, "data.")


def dotted(tree: dict[str, Any], prefix: str) -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``, the leaves kept as they are (lists, None...)."""
    out: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict) and value:
            out.update(dotted(value, f"{prefix}{key}."))
        else:
            out[f"{prefix}{key}"] = value
    return out


def first_difference(mine: dict[str, Any], first: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """(key, my value, the first member's value) of the first key where they differ."""
    for key in [*first, *(k for k in mine if k not in first)]:
        if mine.get(key) != first.get(key):
            return key, mine.get(key), first.get(key)
    return None


def stats_differ(a: list[float], b: list[float]) -> bool:
    return len(a) != len(b) or not np.allclose(a, b, rtol=1e-6, atol=0)


def check_compatible(members: list[Member]) -> None:
    """Every member sees the first one's test split: same data section, class names and
    preprocessing (``data.json`` mean/std); KerasnetsError naming the first difference."""
    first = members[0]
    for member in members[1:]:
        found = first_difference(data_fields(member.recipe), data_fields(first.recipe))
        found = found or data_json_difference(member.data_info, first.data_info)
        if found is not None:
            key, mine, theirs = found
            raise KerasnetsError(f"run {member.run_id}: {key} is {mine!r}, the first member's is {theirs!r}")


def data_json_difference(mine: dict[str, Any], first: dict[str, Any]) -> tuple[str, Any, Any] | None:
    """Like ``first_difference`` for ``data.json``: class names, then mean and std (to 1e-6)."""
    for key in ("class_names", "mean", "std"):
        a, b = mine.get(key), first.get(key)
        exact = key == "class_names" or a is None or b is None
        if (a != b) if exact else stats_differ(a, b):
            return f"data.json {key}", a, b
    return None


def check_splits(splits: Any, first: Member) -> None:
    """The data loaded here are those the members saw (not, say, another local copy)."""
    info = first.data_info
    if list(splits.class_names) != list(info["class_names"]):
        raise KerasnetsError(
            f"the {first.recipe.data.dataset} data loaded here ({splits.source}) have classes "
            f"{splits.class_names!r}, the members saw {info['class_names']!r}"
        )
    if stats_differ(splits.mean, info["mean"]) or stats_differ(splits.std, info["std"]):
        raise KerasnetsError(
            f"the {first.recipe.data.dataset} data loaded here ({splits.source}) are not those the "
            f"members saw: training mean {splits.mean} vs {info['mean']}"
        )


# ----------------------------------------------------------------------------- loading


def download(client: Any, run_id: str, name: str, folder: str) -> str:
    """One artifact of a finished run, or KerasnetsError."""
    try:
        return client.download_artifacts(run_id, name, folder)
    except Exception:  # noqa: BLE001 - MlflowException or OSError for a missing artifact
        raise KerasnetsError(
            f"run {run_id} has no {name} artifact (only finished kerasnets classifier runs can be ensembled)"
        ) from None


def load_member(client: Any, run_id: str, uri: str) -> Member:
    """Recipe, model (main output only), ``data.json`` and run of a finished classifier run."""
    from kerasnets.recipe import load_recipe

    try:
        run = client.get_run(run_id)
    except Exception:  # noqa: BLE001 - MlflowException for unknown ids
        raise KerasnetsError(f"no run {run_id!r} in the tracking store {uri}") from None
    with tempfile.TemporaryDirectory() as tmp:
        recipe = load_recipe(download(client, run_id, "recipe.yaml", tmp))
        if recipe.task.name not in TASKS:
            raise KerasnetsError(
                f"run {run_id} is a {recipe.task.name!r} run: ensembles need classifiers "
                f"(task {' or '.join(TASKS)})"
            )
        data_info = json.loads(Path(download(client, run_id, "data.json", tmp)).read_text())
        model = load_model(download(client, run_id, "model.keras", tmp))
    experiment = client.get_experiment(run.info.experiment_id).name
    return Member(run_id, recipe, model, data_info, run, experiment)


def load_model(path: str) -> Any:
    """A saved kerasnets model (safe mode), reduced to its main output."""
    import keras

    import kerasnets.models  # noqa: F401 - registers the custom layers the model uses
    from kerasnets.train.tasks.classify import main_output

    return main_output(keras.saving.load_model(path, compile=False, safe_mode=True))


# ----------------------------------------------------------------------------- combining


def held_out_dataset(recipe: Any, splits: Any, data_info: dict[str, Any]) -> Any:
    """The test split as the members saw it: normalised with their statistics, in their layout."""
    from kerasnets.data.inputs import geometries
    from kerasnets.data.pipeline import make_dataset

    return make_dataset(
        splits.x_test,
        splits.y_test,
        PREDICT_BATCH,
        shuffle=False,
        seed=None,
        num_classes=splits.num_classes,
        one_hot=False,
        mean=data_info["mean"],
        std=data_info["std"],
        layout=recipe.data.layout,
        geometry=geometries(recipe, splits)[1],
    )


def class_probabilities(model: Any, dataset: Any) -> np.ndarray:
    """(N, classes) softmax outputs; a many-to-many sequence model's last step."""
    probabilities = np.asarray(model.predict(dataset, verbose=0), dtype=np.float64)
    return probabilities[:, -1] if probabilities.ndim == 3 else probabilities


def combine(probabilities: list[np.ndarray], method: str) -> np.ndarray:
    """Predicted classes: argmax of the averaged probabilities (``mean``) or the members'
    majority (``vote``), a tie going to the tied class with the highest averaged probability."""
    average = np.mean(probabilities, axis=0)
    if method == "mean":
        return np.argmax(average, axis=-1)
    votes = np.zeros_like(average)
    rows = np.arange(len(average))
    for p in probabilities:
        votes[rows, np.argmax(p, axis=-1)] += 1
    tied = votes == votes.max(axis=-1, keepdims=True)
    return np.argmax(np.where(tied, average, -np.inf), axis=-1)


def accuracy(predictions: np.ndarray, labels: np.ndarray) -> float:
    return float(np.mean(predictions == labels))


# ----------------------------------------------------------------------------- logging


def run_name(method: str, members: list[Member]) -> str:
    """``ensemble-mean-3xlenet5`` (``ensemble-vote-2xlenet5+1xmlp`` for mixed models)."""
    counts = Counter(m.recipe.model.name for m in members)
    return f"ensemble-{method}-" + "+".join(f"{n}x{name}" for name, n in counts.items())


def members_csv(members: list[Member], accuracies: list[float]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["member", "run_id", "model", "experiment", "test_accuracy"])
    for i, (member, value) in enumerate(zip(members, accuracies, strict=True), start=1):
        writer.writerow([i, member.run_id, member.recipe.model.name, member.experiment, f"{value:.6g}"])
    return buffer.getvalue()


def log_ensemble(tracker: Any, result: EnsembleResult, members: list[Member], splits: Any) -> None:
    """Params, metrics, the confusion matrix and ``members.csv`` of the ensemble run."""
    from kerasnets.plots import confusion_matrix_figure, pyplot

    first = members[0]
    tracker.log_params(
        {
            "ensemble.method": result.method,
            "ensemble.members": str(len(members)),
            **{f"ensemble.member.{i}": m.run_id for i, m in enumerate(members, start=1)},
            **{
                k: json.dumps(v) if isinstance(v, list | dict) else str(v)
                for k, v in data_fields(first.recipe).items()
            },
            "data.source": splits.source,
        }
    )
    tracker.log_metrics(
        {
            "test_accuracy": result.test_accuracy,
            **{f"member_{i}_test_accuracy": v for i, v in enumerate(result.member_accuracies, start=1)},
            "member_median_test_accuracy": result.member_median,
            "best_member_test_accuracy": result.best_member_accuracy,
        }
    )
    figure = confusion_matrix_figure(splits.y_test, result.predictions, splits.class_names)
    tracker.log_figure(figure, "confusion_matrix.png")
    pyplot().close(figure)
    tracker.log_text(members_csv(members, result.member_accuracies), "members.csv")
    tracker.log_text(json.dumps(first.data_info, indent=2), "data.json")


def ensemble_tags(run_ids: list[str], members: list[Member]) -> dict[str, str]:
    from kerasnets.tracking import git_commit
    from kerasnets.version import __version__

    tags = {
        "kerasnets.kind": "ensemble",
        "kerasnets.version": __version__,
        "ensemble.members": ",".join(run_ids),
        "model": ",".join(dict.fromkeys(m.recipe.model.name for m in members)),
        "dataset": members[0].recipe.data.dataset,
    }
    commit = git_commit()
    if commit:
        tags["git.commit"] = commit
    return tags


# ----------------------------------------------------------------------------- the whole


def score(members: list[Member], method: str, splits: Any, echo: Callable[[str], None]) -> EnsembleResult:
    """Each member's and the ensemble's test accuracy (no logging)."""
    dataset = held_out_dataset(members[0].recipe, splits, members[0].data_info)
    probabilities, accuracies = [], []
    for i, member in enumerate(members, start=1):
        p = class_probabilities(member.model, dataset)
        if len(p) != len(splits.y_test):
            unread = len(splits.y_test) - len(p)
            raise DataError(
                f"{unread} test image files could not be read; an ensemble scores every test image"
            )
        probabilities.append(p)
        accuracies.append(accuracy(np.argmax(p, axis=-1), splits.y_test))
        echo(f"member {i} {member.run_id} ({member.recipe.model.name}): test accuracy {accuracies[-1]:.4f}")
    predictions = combine(probabilities, method)
    best = int(np.argmax(accuracies))
    return EnsembleResult(
        method=method,
        run_ids=[m.run_id for m in members],
        member_accuracies=accuracies,
        test_accuracy=accuracy(predictions, splits.y_test),
        member_median=float(np.median(accuracies)),
        best_member=members[best].run_id,
        best_member_accuracy=accuracies[best],
        models=[m.recipe.model.name for m in members],
        predictions=predictions,
    )


def ensemble(
    run_ids: list[str],
    method: str = "mean",
    *,
    uri: str | None = None,
    data_dir: str | Path | None = None,
    experiment: str | None = None,
    echo: Callable[[str], None] = print,
) -> EnsembleResult:
    """Combine finished classifier runs of one tracking store on their shared test split and
    log the result as a new run (in ``experiment``, default the first member's).

    KerasnetsError for fewer than 2 or repeated ids, an unknown run, a run that is not a
    finished classifier, or members that did not see the same test split."""
    from mlflow import MlflowClient

    from kerasnets.data.pipeline import load_splits
    from kerasnets.tracking import Tracker, check_store, tracking_uri

    run_ids = list(run_ids)
    check_request(run_ids, method)
    uri = tracking_uri(uri)
    client = MlflowClient(uri)
    members = [load_member(client, run_id, uri) for run_id in run_ids]
    check_compatible(members)
    splits = load_splits(members[0].recipe.data, data_dir)
    check_splits(splits, members[0])
    result = score(members, method, splits, echo)
    check_store(uri)
    tags = ensemble_tags(run_ids, members)
    with Tracker(uri, experiment or members[0].experiment, run_name(method, members), tags) as tracker:
        log_ensemble(tracker, result, members, splits)
    result.run_id, result.experiment_id = tracker.run_id, tracker.experiment_id
    result.artifact_uri = tracker.artifact_uri
    echo(f"ensemble ({method}) of {len(members)}: test accuracy {result.test_accuracy:.4f}")
    return result


def result_table(result: EnsembleResult):
    """A rich table: each member's test accuracy, their median and best, and the ensemble's."""
    from rich.table import Table

    table = Table(title=f"ensemble ({result.method}): test accuracy")
    for column in ("", "run id", "model", "test acc"):
        table.add_column(column, no_wrap=True)
    members = zip(result.run_ids, result.models, result.member_accuracies, strict=True)
    for i, (run_id, model, value) in enumerate(members, start=1):
        table.add_row(f"member {i}", run_id, model, f"{value:.4f}")
    table.add_section()
    table.add_row("median member", "", "", f"{result.member_median:.4f}")
    best = result.run_ids.index(result.best_member)
    table.add_row(
        "best member", result.best_member, result.models[best], f"{result.best_member_accuracy:.4f}"
    )
    table.add_row(
        f"[bold]ensemble ({result.method})[/]",
        result.run_id or "",
        "",
        f"[bold]{result.test_accuracy:.4f}[/]",
    )
    return table

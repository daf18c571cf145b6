"""Ensembles of finished runs: three tiny digits classifiers trained once for the module, their
mean and vote ensembles checked against an independent computation from the members'
``model.keras``, the logged ensemble run, mismatched members and the command line."""

from __future__ import annotations

import csv
from collections import Counter

import numpy as np
import pytest
from conftest import run_cli

from kerasnets.cli import main
from kerasnets.ensemble import combine, ensemble
from kerasnets.errors import KerasnetsError

EXPERIMENT = "ensemble-members"


def digits_recipe(model: dict, seed: int, **data) -> dict:
    """A one-epoch digits classifier, tracked without an MLflow model (fast)."""
    return {
        "data": {"dataset": "digits", "batch_size": 64, **data},
        "model": model,
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "train": {"epochs": 1, "seed": seed, "verbose": 0},
        "tracking": {"experiment": EXPERIMENT, "log_model": False},
    }


MEMBERS = [
    digits_recipe({"name": "mlp", "hidden": [32]}, 0),
    digits_recipe({"name": "mlp", "hidden": [64]}, 1, batch_size=32),  # batch size: not the split
    digits_recipe({"name": "cnn_small"}, 2),
]
ODD = {  # a member that saw another test split (or other data), by the field that differs
    "data.image_size": digits_recipe({"name": "mlp", "hidden": [32]}, 0, image_size=[16, 16]),
    "data.limit": digits_recipe({"name": "mlp", "hidden": [32]}, 0, limit=600),
}


def train(recipe: dict):
    from kerasnets.recipe import validate
    from kerasnets.train import loop

    return loop.run(validate(recipe, "member.yaml"), echo=lambda _: None)


@pytest.fixture(scope="module")
def store(mlflow_store, tmp_path_factory):
    """The session store as MLFLOW_TRACKING_URI, in a scratch working directory."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
        patch.setenv("COLUMNS", "200")  # the CLI table fits whole run ids
        patch.chdir(tmp_path_factory.mktemp("ensemble"))
        yield mlflow_store


@pytest.fixture(scope="module")
def members(store):
    """Three finished runs: two MLPs and a small CNN."""
    return [train(recipe) for recipe in MEMBERS]


@pytest.fixture(scope="module")
def odd(store):
    return {field: train(recipe).run_id for field, recipe in ODD.items()}


@pytest.fixture(scope="module")
def ids(members) -> list[str]:
    return [m.run_id for m in members]


@pytest.fixture(scope="module")
def mean_result(ids, store):
    return ensemble(ids, "mean", echo=lambda _: None)


@pytest.fixture(scope="module")
def independent(ids, store):
    """(test labels, each member's softmax) computed here from the logged ``model.keras``."""
    import keras
    from mlflow import MlflowClient

    import kerasnets.models  # noqa: F401 - custom layers
    from kerasnets.data.pipeline import load_splits
    from kerasnets.recipe import validate

    splits = load_splits(validate(MEMBERS[0], "m.yaml").data)
    x = splits.normalize(splits.x_test)
    client = MlflowClient(store)
    probabilities = []
    for run_id in ids:
        model = keras.saving.load_model(client.download_artifacts(run_id, "model.keras"), compile=False)
        probabilities.append(np.asarray(model.predict(x, verbose=0)))
    return splits.y_test, probabilities


# ----------------------------------------------------------------------------- combining


def test_mean_averages_and_vote_counts_with_ties_to_the_mean():
    one = np.array([[0.9, 0.1], [0.6, 0.4]])
    two = np.array([[0.4, 0.6], [0.3, 0.7]])
    three = np.array([[0.45, 0.55], [0.5, 0.5]])
    assert combine([one, two, three], "mean").tolist() == [0, 1]  # [0.58, 0.42], [0.47, 0.53]
    assert combine([one, two, three], "vote").tolist() == [1, 0]  # two votes for 1; a 0 for row 2
    assert combine([one, two], "vote").tolist() == [0, 1]  # 1-1 ties: the higher average wins


def test_mean_ensemble_accuracy_is_the_averaged_softmax_argmax(mean_result, members, independent, ids):
    labels, probabilities = independent
    expected = float(np.mean(np.argmax(np.mean(probabilities, axis=0), axis=-1) == labels))
    assert mean_result.test_accuracy == pytest.approx(expected, abs=1e-12)
    own = [float(np.mean(np.argmax(p, axis=-1) == labels)) for p in probabilities]
    assert mean_result.member_accuracies == pytest.approx(own, abs=1e-12)
    assert mean_result.member_accuracies == pytest.approx([m.test_accuracy for m in members], abs=1e-6)
    assert mean_result.member_median == pytest.approx(float(np.median(own)))
    assert mean_result.best_member == ids[int(np.argmax(own))]
    assert mean_result.best_member_accuracy == max(own)
    assert mean_result.run_ids == ids and mean_result.method == "mean"


def test_vote_ensemble_accuracy_is_the_majority_of_the_members(ids, independent, store):
    labels, probabilities = independent
    average = np.mean(probabilities, axis=0)
    votes = np.argmax(probabilities, axis=-1).T  # (N, members)
    predicted = []
    for row, mine in zip(average, votes, strict=True):
        counts = Counter(mine.tolist())
        top = max(counts.values())
        predicted.append(max((c for c, n in counts.items() if n == top), key=lambda c: row[c]))
    expected = float(np.mean(np.array(predicted) == labels))
    result = ensemble(ids, "vote", echo=lambda _: None)
    assert result.method == "vote"
    assert result.test_accuracy == pytest.approx(expected, abs=1e-12)


# ----------------------------------------------------------------------------- the logged run


def test_the_ensemble_run_logs_members_metrics_and_figures(mean_result, ids, store):
    from mlflow import MlflowClient

    client = MlflowClient(store)
    run = client.get_run(mean_result.run_id)
    assert run.info.status == "FINISHED"
    assert run.info.run_name == "ensemble-mean-2xmlp+1xcnn_small"
    assert client.get_experiment(run.info.experiment_id).name == EXPERIMENT  # the first member's
    tags, params, metrics = run.data.tags, run.data.params, run.data.metrics
    assert tags["kerasnets.kind"] == "ensemble" and tags["ensemble.members"] == ",".join(ids)
    assert params["ensemble.method"] == "mean" and params["ensemble.members"] == "3"
    assert [params[f"ensemble.member.{i}"] for i in (1, 2, 3)] == ids
    assert params["data.dataset"] == "digits" and "data.batch_size" not in params
    assert metrics["test_accuracy"] == pytest.approx(mean_result.test_accuracy)
    for i, value in enumerate(mean_result.member_accuracies, start=1):
        assert metrics[f"member_{i}_test_accuracy"] == pytest.approx(value)
    assert metrics["member_median_test_accuracy"] == pytest.approx(mean_result.member_median)
    assert metrics["best_member_test_accuracy"] == pytest.approx(mean_result.best_member_accuracy)
    artifacts = {a.path for a in client.list_artifacts(mean_result.run_id)}
    assert {"confusion_matrix.png", "members.csv", "data.json"} <= artifacts
    with open(client.download_artifacts(mean_result.run_id, "members.csv")) as handle:
        rows = list(csv.DictReader(handle))
    assert [r["run_id"] for r in rows] == ids
    assert [r["model"] for r in rows] == ["mlp", "mlp", "cnn_small"]


def test_experiment_can_be_chosen(ids, store):
    from mlflow import MlflowClient

    result = ensemble(ids[:2], experiment="ensembles", echo=lambda _: None)
    run = MlflowClient(store).get_run(result.run_id)
    assert MlflowClient(store).get_experiment(run.info.experiment_id).name == "ensembles"
    assert run.info.run_name == "ensemble-mean-2xmlp"


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize("field", sorted(ODD))
def test_a_member_on_other_data_is_refused_by_the_field(field, odd, ids, store):
    with pytest.raises(KerasnetsError) as info:
        ensemble([ids[0], odd[field]], echo=lambda _: None)
    assert str(info.value).startswith(f"run {odd[field]}: {field} is ")
    assert "the first member's is" in str(info.value)


def test_unknown_repeated_or_single_runs_and_runs_without_a_model_are_refused(ids, store):
    from mlflow import MlflowClient

    with pytest.raises(KerasnetsError, match=f"no run 'nope' in the tracking store {store}"):
        ensemble([ids[0], "nope"], echo=lambda _: None)
    with pytest.raises(KerasnetsError, match="more than once"):
        ensemble([ids[0], ids[1], ids[0]], echo=lambda _: None)
    with pytest.raises(KerasnetsError, match="at least 2 runs"):
        ensemble([ids[0]], echo=lambda _: None)
    with pytest.raises(KerasnetsError, match="method must be one of mean, vote"):
        ensemble(ids, "median", echo=lambda _: None)
    client = MlflowClient(store)
    bare = client.create_run(client.get_experiment_by_name(EXPERIMENT).experiment_id).info.run_id
    client.set_terminated(bare)
    with pytest.raises(KerasnetsError, match=f"run {bare} has no recipe.yaml artifact"):
        ensemble([ids[0], bare], echo=lambda _: None)


# ----------------------------------------------------------------------------- command line


def test_cli_unknown_run_exits_2_without_traceback(ids, store, capsys):
    assert main(["ensemble", ids[0], "nope", "--tracking-uri", store]) == 2
    captured = capsys.readouterr()
    assert "error: no run 'nope' in the tracking store" in captured.err
    assert "Traceback" not in captured.err + captured.out


def test_cli_repeated_run_exits_2_before_tensorflow(tmp_path):
    result = run_cli("ensemble", "abc", "abc", cwd=tmp_path)
    assert result.returncode == 2
    assert "error: run abc is given more than once" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_prints_the_accuracy_table(ids, store, capsys):
    assert main(["ensemble", *ids, "--method", "vote", "--experiment", "cli"]) == 0
    out = capsys.readouterr().out
    for text in ("member 1", "member 3", "median member", "best member", "ensemble (vote)", *ids):
        assert text in out, text
    assert "MLflow run" in out

"""``kerasnets compare``: test accuracy against parameter count over tiny tracked runs; the
PNG carries what it plotted, which must be one point per run with the runs' own values; and
``--curves``: each run's per-epoch training and validation histories, as logged."""

from __future__ import annotations

import pytest
from conftest import tiny_recipe

HIDDEN = {"narrow": [4], "middle": [16], "wide": [64]}


@pytest.fixture(scope="module")
def three_runs(mlflow_store, tmp_path_factory):
    """Three tiny MLPs of different widths in experiment 'cmp', and one run elsewhere."""
    from kerasnets.recipe import validate
    from kerasnets.train import loop

    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", mlflow_store)
        patch.chdir(tmp_path_factory.mktemp("compare_runs"))
        for name, hidden in [*HIDDEN.items(), ("elsewhere", [8])]:
            experiment = "cmp-other" if name == "elsewhere" else "cmp"
            recipe = tiny_recipe(
                model={"hidden": hidden},
                train={"epochs": 2},
                tracking={"enabled": True, "experiment": experiment, "run_name": name, "log_model": False},
            )
            results[name] = loop.run(validate(recipe, f"{name}.yaml"), echo=lambda _: None)
    return results


def test_compare_plots_one_point_per_run_of_the_experiment_with_its_values(three_runs, tracking, tmp_path):
    from mlflow import MlflowClient

    from kerasnets.cli import main
    from kerasnets.compare import read_points

    out = tmp_path / "cmp.png"
    assert main(["compare", "--experiment", "cmp", "--out", str(out)]) == 0
    plotted = read_points(out)
    assert (plotted["x"], plotted["y"], plotted["xscale"]) == ("params", "test_accuracy", "log")
    points = {p["label"]: p for p in plotted["points"]}
    assert sorted(points) == sorted(HIDDEN)  # not the run of the other experiment
    client = MlflowClient(tracking)
    for name in HIDDEN:
        run = client.get_run(three_runs[name].run_id)
        assert points[name]["run_id"] == run.info.run_id
        assert points[name]["model"] == "mlp"
        assert points[name]["x"] == three_runs[name].model.count_params() == run.data.metrics["params"]
        assert points[name]["y"] == run.data.metrics["test_accuracy"]
    assert points["narrow"]["x"] < points["middle"]["x"] < points["wide"]["x"]


def test_compare_by_run_ids_other_axes_and_errors(three_runs, tracking, tmp_path, capsys):
    from kerasnets.cli import main
    from kerasnets.compare import read_points

    ids = [three_runs["wide"].run_id, three_runs["elsewhere"].run_id]
    out = tmp_path / "two.png"
    assert main(["compare", *ids, "--x", "model.hidden", "--out", str(out)]) == 2  # '[64]': no number
    assert "no run has both 'model.hidden' and 'test_accuracy' to plot" in capsys.readouterr().err
    args = ["compare", *ids, "--x", "optimizer.learning_rate", "--y", "test_loss", "--xscale", "linear"]
    assert main([*args, "--out", str(out)]) == 0  # a param on x, another metric on y
    plotted = read_points(out)
    assert [p["run_id"] for p in plotted["points"]] == ids
    assert [p["label"] for p in plotted["points"]] == ["wide", "elsewhere"]
    assert [p["x"] for p in plotted["points"]] == [0.01, 0.01]
    assert [p["y"] for p in plotted["points"]] == [
        three_runs[n].metrics["test_loss"] for n in ("wide", "elsewhere")
    ]
    assert main(["compare", "--experiment", "nope", "--out", str(out)]) == 2
    assert "--experiment: no experiment 'nope'. Valid:" in capsys.readouterr().err
    assert main(["compare", "--out", str(out)]) == 2
    assert "give RUN_IDs or --experiment E" in capsys.readouterr().err


def test_compare_curves_plots_each_runs_epoch_histories(three_runs, tracking, tmp_path, capsys):
    from mlflow import MlflowClient

    from kerasnets.cli import main
    from kerasnets.compare import read_points

    out = tmp_path / "curves.png"
    assert main(["compare", "--experiment", "cmp", "--curves", "accuracy", "--error", "--out", str(out)]) == 0
    plotted = read_points(out)
    assert (plotted["metric"], plotted["error"]) == ("accuracy", True)
    client = MlflowClient(tracking)
    drawn = {(c["label"], c["metric"]): c for c in plotted["curves"]}
    assert sorted(drawn) == sorted((n, m) for n in HIDDEN for m in ("accuracy", "val_accuracy"))
    for name in HIDDEN:
        for metric in ("accuracy", "val_accuracy"):
            history = client.get_metric_history(three_runs[name].run_id, metric)
            assert drawn[name, metric]["steps"] == [1, 2]  # two epochs
            assert drawn[name, metric]["values"] == [m.value for m in sorted(history, key=lambda m: m.step)]
    table = capsys.readouterr().out
    last = drawn["wide", "val_accuracy"]["values"][-1]
    assert f"{100 * (1 - last):.2f}" in table  # the last epoch, as error in percent
    assert main(["compare", "--experiment", "cmp", "--curves", "nope", "--out", str(out)]) == 2
    assert "no run logged 'nope' or 'val_nope' per epoch" in capsys.readouterr().err
    assert main(["compare", "--experiment", "cmp", "--error", "--out", str(out)]) == 2
    assert "--error applies to --curves only" in capsys.readouterr().err

"""The command line: exit codes, no tracebacks, lazy imports, listings."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys

from conftest import ROOT, run_cli

from kerasnets.cli import main


def test_help_does_not_import_tensorflow():
    code = (
        "import sys\nfrom kerasnets.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print('tensorflow' in sys.modules, 'keras' in sys.modules, 'mlflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert "usage: kerasnets" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "False False False"


def test_bad_recipe_exits_2_without_traceback_or_run(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("optimiser: {name: sgd}\nmodel: {name: resnet19}\n")
    store = tmp_path / "store"
    result = run_cli(
        "run", str(recipe), env={"MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db"}, cwd=tmp_path
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert f"{recipe}: 2 problems" in result.stderr
    assert "optimiser: unknown key 'optimiser' at top level. Did you mean 'optimizer'?" in result.stderr
    assert not store.exists() and not (tmp_path / "mlruns").exists()  # nothing opened


def test_missing_data_exits_2_and_leaves_no_run(tmp_path):
    store = tmp_path / "mlflow.db"
    result = run_cli(
        "run",
        str(ROOT / "recipes" / "digits_lenet5.yaml"),
        "--set",
        "data.dataset=cifar10",
        "--set",
        f"data.dir={tmp_path}",
        "--data-dir",
        str(tmp_path),
        env={
            "MLFLOW_TRACKING_URI": f"sqlite:///{store}",
            "KERASNETS_DATA_DIR": str(tmp_path),
            "KERAS_HOME": str(tmp_path),
        },
        cwd=tmp_path,
    )
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and "data set 'cifar10' not found locally" in result.stderr
    if store.exists():
        assert sqlite3.connect(store).execute("select count(*) from runs").fetchone()[0] == 0


def test_debug_shows_the_traceback(tmp_path):
    recipe = tmp_path / "bad.yaml"
    recipe.write_text("train: {epochs: zero}\n")
    result = run_cli("--debug", "run", str(recipe), cwd=tmp_path)
    assert result.returncode != 0 and "Traceback" in result.stderr


def test_validate_reports_each_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: {epochs: -1}\n")
    assert main(["validate", str(ROOT / "recipes" / "digits_lenet5.yaml")]) == 0
    assert main(["validate", str(ROOT / "recipes" / "digits_lenet5.yaml"), str(bad)]) == 2
    captured = capsys.readouterr()
    assert "ok" in captured.out and "train.epochs: expected a number of at least 1, got -1" in captured.err


def test_schema_is_json(capsys):
    assert main(["schema"]) == 0
    schema = json.loads(capsys.readouterr().out)
    assert schema["title"] == "Recipe"


def test_models_lists_the_registry(capsys):
    from kerasnets.models import names

    assert main(["models"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in names())
    assert "61,706" in out


def test_runs_table_shows_recent_runs(tracking, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "200")
    from conftest import tiny_recipe

    from kerasnets.recipe import validate
    from kerasnets.train.loop import run

    recipe = validate(
        tiny_recipe(tracking={"enabled": True, "experiment": "listing", "log_model": False}), "t"
    )
    result = run(recipe, echo=lambda _: None)
    assert main(["runs", "--experiment", "listing"]) == 0
    out = capsys.readouterr().out
    assert result.run_id[:12] in out and "FINISHED" in out and "mlp" in out


def test_ui_binds_to_localhost_by_default():
    from kerasnets.cli import build_parser

    args = build_parser().parse_args(["ui"])
    assert args.host == "127.0.0.1"

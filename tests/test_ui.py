"""``kerasnets ui``: the real command serves a fresh run's name, description, data set inputs,
system metrics and model signature over MLflow's REST API (what the UI's pages read)."""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import sys
import urllib.parse
import urllib.request

import pytest
import yaml
from conftest import ROOT

from kerasnets.cli import main


def _load_screenshots_script():
    """``benchmarks/ui_screenshots.py``, whose ``ui_server`` starts and ends ``kerasnets ui``."""
    name = "kerasnets_ui_screenshots"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, ROOT / "benchmarks" / "ui_screenshots.py")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


def _ui(uri: str, folder) -> contextlib.AbstractContextManager[str]:
    """``kerasnets ui`` over ``uri`` on 127.0.0.1 and a free port (this checkout's package)."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    return _load_screenshots_script().ui_server(uri, folder, env, timeout=180)


def _get(base: str, path: str, **query) -> dict:
    url = f"{base}{path}?{urllib.parse.urlencode(query)}" if query else base + path
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.load(answer)


def _post(base: str, path: str, body: dict) -> dict:
    request = urllib.request.Request(
        base + path, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


@pytest.mark.slow
def test_the_ui_serves_a_fresh_runs_name_description_datasets_system_metrics_and_signature(
    tracking, monkeypatch, tmp_path, capsys
):
    monkeypatch.setenv("MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL", "1")
    code = main(
        [
            "run",
            str(ROOT / "recipes" / "digits_lenet5.yaml"),
            "--epochs",
            "2",
            "--set",
            "tracking.experiment=ui-rest",
            "--set",
            "tracking.system_metrics=true",
            "--set",
            "train.verbose=0",
        ]
    )
    assert code == 0
    run_id = next(
        line.split()[2] for line in capsys.readouterr().out.splitlines() if line.startswith("MLflow run ")
    )
    description = yaml.safe_load((ROOT / "recipes" / "digits_lenet5.yaml").read_text())["description"]

    with _ui(tracking, tmp_path) as base:
        run = _get(base, "/api/2.0/mlflow/runs/get", run_id=run_id)["run"]
        assert run["info"]["run_name"] == "digits_lenet5" and run["info"]["status"] == "FINISHED"
        tags = {t["key"]: t["value"] for t in run["data"]["tags"]}
        assert tags["mlflow.note.content"] == description

        inputs = {
            d["dataset"]["name"]: (
                {t["key"]: t["value"] for t in d["tags"]}["mlflow.data.context"],
                d["dataset"]["digest"],
            )
            for d in run["inputs"]["dataset_inputs"]
        }
        assert {name: context for name, (context, _) in inputs.items()} == {
            "digits-train": "training",
            "digits-validation": "validation",
            "digits-test": "test",
        }
        assert all(len(digest) == 16 for _, digest in inputs.values())

        system = {m["key"] for m in run["data"]["metrics"] if m["key"].startswith("system/")}
        assert {"system/cpu_utilization_percentage", "system/system_memory_usage_megabytes"} <= system
        history = _get(
            base,
            "/api/2.0/mlflow/metrics/get-history",
            run_id=run_id,
            metric_key="system/cpu_utilization_percentage",
        )["metrics"]
        assert len(history) >= 2  # sampled every second through a run of several seconds

        experiment = _get(base, "/api/2.0/mlflow/experiments/get", experiment_id=run["info"]["experiment_id"])
        assert {"key": "mlflow.experimentKind", "value": "custom_model_development"} in experiment[
            "experiment"
        ]["tags"]

        models = _post(
            base,
            "/api/2.0/mlflow/logged-models/search",
            {"experiment_ids": [run["info"]["experiment_id"]], "filter": f"source_run_id = '{run_id}'"},
        )["models"]
        (model,) = [m for m in models if m["info"]["source_run_id"] == run_id]
        assert model["info"]["status"] == "LOGGED_MODEL_READY"
        # the file the UI's logged-model page reads its signature from
        url = f"{base}/ajax-api/2.0/mlflow/logged-models/{model['info']['model_id']}/artifacts/files"
        with urllib.request.urlopen(f"{url}?artifact_file_path=MLmodel", timeout=30) as answer:
            mlmodel = yaml.safe_load(answer.read())
        signature = mlmodel["signature"]
        assert json.loads(signature["inputs"]) == [
            {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 32, 32, 1]}}
        ]
        assert json.loads(signature["outputs"]) == [
            {"type": "tensor", "tensor-spec": {"dtype": "float32", "shape": [-1, 10]}}
        ]

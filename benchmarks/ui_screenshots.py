"""Screenshots of the MLflow UI that ``kerasnets ui`` serves, taken with headless Chromium.

A fresh store in a temporary folder gets a 2-epoch LeNet-5 run on digits registered as
``digits-lenet5`` (system metrics sampled every second) and a 2-trial sweep of
``tuning/digits_lenet5_optimizers.yaml``; ``kerasnets ui`` serves it on 127.0.0.1 and a free
port, and Chromium photographs the experiments list, the experiment's runs, the run's overview,
model metrics, system metrics and artifacts, its logged model, the sweep's parent run, and the
registered model and its version. The experiment page is taken twice: as a fresh browser opens
it (MLflow 3.17 starts in its GenAI mode) and with ``?workflowType=machine_learning`` (the
sidebar's "Model training" switch). About two minutes on 2 CPU cores.

    python benchmarks/ui_screenshots.py [--out DIR] [--chromium PATH]

Skips (exit 0) when Chromium is not installed (Debian: ``apt-get install chromium``). The
PNGs are for looking at, not for the repository.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--window-size=1400,900",
    "--virtual-time-budget=15000",
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def kerasnets(*args: str, cwd: Path, env: dict[str, str]) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "kerasnets", *args], cwd=cwd, env=env, text=True, capture_output=True
    )
    if done.returncode != 0:
        raise SystemExit(f"kerasnets {' '.join(args)} failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


@contextlib.contextmanager
def ui_server(uri: str, cwd: Path, env: dict[str, str], timeout: float = 120):
    """``kerasnets ui`` over ``uri`` on 127.0.0.1 and a free port, in its own process group
    (MLflow starts a server, a job runner and its consumers); yields the base URL."""
    port = free_port()
    log = open(cwd / "ui.log", "w")
    process = subprocess.Popen(
        [sys.executable, "-m", "kerasnets", "ui", "--port", str(port), "--tracking-uri", uri],
        cwd=cwd,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"kerasnets ui exited {process.returncode}: {(cwd / 'ui.log').read_text()[-3000:]}"
                )
            try:
                with urllib.request.urlopen(f"{base}/health", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"kerasnets ui did not answer in {timeout:.0f} s")
            time.sleep(0.5)
        yield base
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait()
        time.sleep(1)  # the group's other processes end on SIGTERM too; SIGKILL what is left
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        log.close()


def get(base: str, path: str, body: dict | None = None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return json.load(answer)


def screenshot(chromium: str, url: str, out: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        subprocess.run(
            [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", f"--screenshot={out}", url],
            capture_output=True,
            timeout=120,
            check=False,
        )
    print(f"  {out.name}: {url}" if out.exists() else f"  {out.name}: NOT WRITTEN ({url})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("ui_screenshots"), help="folder for the PNGs")
    parser.add_argument("--chromium", default=shutil.which("chromium") or shutil.which("chromium-browser"))
    parser.add_argument("--work", type=Path, help="working folder for the store (default: a temporary one)")
    args = parser.parse_args()
    if not args.chromium:
        print("skipped: Chromium is not installed (apt-get install chromium)")
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out.resolve()
    with contextlib.ExitStack() as stack:
        work = args.work or Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="kerasnets-ui-")))
        work.mkdir(parents=True, exist_ok=True)
        uri = f"sqlite:///{work.resolve()}/mlruns/mlflow.db"
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
            "MLFLOW_TRACKING_URI": uri,
            "MLFLOW_SYSTEM_METRICS_SAMPLING_INTERVAL": "1",
            "KERASNETS_OFFLINE": "1",
        }
        print(f"store: {uri}")
        kerasnets(
            "run",
            str(ROOT / "recipes" / "digits_lenet5.yaml"),
            "--epochs",
            "2",
            "--set",
            "tracking.register_as=digits-lenet5",
            "--set",
            "train.verbose=0",
            cwd=work,
            env=env,
        )
        kerasnets(
            "tune",
            str(ROOT / "tuning" / "digits_lenet5_optimizers.yaml"),
            "--max-trials",
            "2",
            "--set",
            "train.epochs=2",
            "--set",
            "train.verbose=0",
            cwd=work,
            env=env,
        )
        base = stack.enter_context(ui_server(uri, work, env))
        experiment = get(base, "/api/2.0/mlflow/experiments/get-by-name?experiment_name=digits")["experiment"]
        eid = experiment["experiment_id"]
        runs = get(base, "/api/2.0/mlflow/runs/search", {"experiment_ids": [eid], "max_results": 50})["runs"]
        by_name = {r["info"]["run_name"]: r["info"]["run_id"] for r in runs}
        run_id = by_name["digits_lenet5"]
        parent = by_name["digits_lenet5_optimizers"]  # the sweep's parent run (its trials: <sweep>-trial-<n>)
        models = get(base, "/api/2.0/mlflow/logged-models/search", {"experiment_ids": [eid]})["models"]
        model_id = next(m["info"]["model_id"] for m in models if m["info"]["source_run_id"] == run_id)
        pages = {
            "01_experiments": "#/experiments",
            "02_experiment": f"#/experiments/{eid}",  # a fresh browser: MLflow's GenAI mode
            "02b_experiment_model_training": f"#/experiments/{eid}?workflowType=machine_learning",
            "03_runs": f"#/experiments/{eid}/runs",
            "04_run_overview": f"#/experiments/{eid}/runs/{run_id}",
            "05_run_model_metrics": f"#/experiments/{eid}/runs/{run_id}/model-metrics",
            "06_run_system_metrics": f"#/experiments/{eid}/runs/{run_id}/system-metrics",
            "07_run_artifacts": f"#/experiments/{eid}/runs/{run_id}/artifacts",
            "08_logged_model": f"#/experiments/{eid}/models/{model_id}",
            "09_sweep_parent": f"#/experiments/{eid}/runs/{parent}",
            "10_registered_model": "#/models/digits-lenet5",
            "11_model_version": "#/models/digits-lenet5/versions/1",
        }
        for name, route in pages.items():
            screenshot(args.chromium, f"{base}/{route}", out / f"{name}.png")
    print(f"screenshots in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

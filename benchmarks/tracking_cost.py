"""What MLflow tracking costs a whole ``kerasnets run`` process: paired runs of one recipe with
tracking on and off (``--set tracking.enabled=false``), alternating so that drift on this shared
machine hits both alike, and the same with system metrics on and off.

    python benchmarks/tracking_cost.py [RECIPE] [--rounds 4] [--set k=v]...
        [--no-system-metrics | --default-only]

Prints the wall time of every process, then per configuration the median wall time and the
median of the per-round ratios (tracked / untracked). Each round runs, in turn (the order
rotates from round to round): untracked, tracked with system metrics off, tracked with system
metrics on. Every process writes to one temporary store (``MLFLOW_TRACKING_URI``), created
before the first round: creating and migrating a SQLite store costs seconds once, not per
run. Targets (issue 15): tracked / untracked <= 1.10 for ``recipes/digits_lenet5.yaml``,
<= 1.03 for a run of two minutes or more.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

CONFIGS = {
    "untracked": ["tracking.enabled=false"],
    "tracked": ["tracking.system_metrics=false"],
    "tracked+sysmetrics": ["tracking.system_metrics=true"],
}


def create_store(store: Path) -> None:
    import mlflow

    mlflow.MlflowClient(f"sqlite:///{store}/mlflow.db").search_experiments(max_results=1)


def one_run(recipe: str, overrides: list[str], store: Path) -> float:
    """Seconds of one ``python -m kerasnets run`` process (start to exit)."""
    command = [sys.executable, "-m", "kerasnets", "run", recipe]
    for text in overrides:
        command += ["--set", text]
    env = {
        **os.environ,
        "MLFLOW_TRACKING_URI": f"sqlite:///{store}/mlflow.db",
        "KERAS_BACKEND": "tensorflow",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "NO_ALBUMENTATIONS_UPDATE": "1",
        "PYTHONPATH": str(ROOT),  # this checkout's kerasnets, whatever the environment installed
    }
    start = time.perf_counter()
    done = subprocess.run(command, cwd=store, env=env, capture_output=True, text=True, check=False)
    seconds = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipe", nargs="?", default=str(ROOT / "recipes" / "digits_lenet5.yaml"))
    parser.add_argument("--rounds", type=int, default=4, help="pairs per configuration (default 4)")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="recipe override")
    parser.add_argument(
        "--no-system-metrics", action="store_true", help="skip the system-metrics configuration"
    )
    parser.add_argument(
        "--default-only",
        action="store_true",
        help="untracked against the default (tracked, system metrics on) only: long runs",
    )
    args = parser.parse_args()
    configs = {k: v for k, v in CONFIGS.items() if not (args.no_system_metrics and "sysmetrics" in k)}
    if args.default_only:
        configs = {k: v for k, v in CONFIGS.items() if k in ("untracked", "tracked+sysmetrics")}
    recipe = str(Path(args.recipe).resolve())
    times: dict[str, list[float]] = {name: [] for name in configs}
    names = list(configs)
    with tempfile.TemporaryDirectory(prefix="kerasnets-cost-") as tmp:
        store = Path(tmp)
        create_store(store)
        for round_ in range(args.rounds):
            order = names[round_ % len(names) :] + names[: round_ % len(names)]
            for name in order:
                seconds = one_run(recipe, [*args.set, *configs[name]], store)
                times[name].append(seconds)
                print(f"round {round_ + 1} {name:<20} {seconds:7.2f} s", flush=True)
    base = times["untracked"]
    print(f"\n{recipe} {' '.join(args.set)}: median of {args.rounds} (the machine is shared: noisy)")
    for name, values in times.items():
        ratios = [t / b for t, b in zip(values, base, strict=True)]
        print(
            f"  {name:<20} {statistics.median(values):7.2f} s   ratio to untracked "
            f"{statistics.median(ratios):.3f}  (per round: {', '.join(f'{r:.3f}' for r in ratios)})"
        )
    if "tracked+sysmetrics" in times and "tracked" in times:
        ratios = [s / t for s, t in zip(times["tracked+sysmetrics"], times["tracked"], strict=True)]
        print(
            f"  system metrics: tracked+sysmetrics / tracked {statistics.median(ratios):.3f} "
            f"(per round: {', '.join(f'{r:.3f}' for r in ratios)})"
        )


if __name__ == "__main__":
    main()

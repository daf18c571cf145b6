"""Per-trial overhead of a sweep (keras-tuner + MLflow parent/child runs) against the same fits
in a plain loop, in one process on the embedded digits data.

    python benchmarks/tune_overhead.py [--trials 6] [--epochs 2] [--rounds 2]

Three ways to train the same ``--trials`` recipes (LeNet-5, learning rates on a grid):

  plain   for each recipe: ``loop.run`` with tracking off (build, compile, fit, evaluate)
  tracked for each recipe: ``loop.run`` with tracking on (the child runs a sweep opens)
  sweep   ``kerasnets.tuning.tune`` over the same grid (keras-tuner, parent run, report)

and prints seconds per trial of each and the differences: tracked - plain is the tracking
cost, sweep - tracked the tuner's (oracle bookkeeping, trial files, the parent run, the
report with its plots). Rounds alternate the order; medians are printed.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    from kerasnets.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import logging

    import keras

    logging.getLogger("tensorflow").setLevel(logging.ERROR)  # retracing notes: a new model per trial
    import yaml

    from kerasnets.data.pipeline import load_splits
    from kerasnets.recipe import validate
    from kerasnets.train.loop import run
    from kerasnets.tuning import tune

    rates = [round(0.0005 * 1.6**i, 6) for i in range(args.trials)]
    base = {
        "data": {"dataset": "digits", "image_size": [32, 32], "batch_size": 32},
        "model": {"name": "lenet5", "activation": "relu", "pooling": "max"},
        "optimizer": {"name": "adam", "learning_rate": 0.001},
        "train": {"epochs": args.epochs, "seed": 0, "verbose": 0},
        "tracking": {"experiment": "overhead", "log_model": False},
    }
    work = Path(tempfile.mkdtemp(prefix="tune-overhead-"))
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{work}/mlruns/mlflow.db"
    (work / "base.yaml").write_text(yaml.safe_dump(base))
    sweep = {
        "recipe": "base.yaml",
        "objective": "val_accuracy",
        "tuner": "grid",
        "max_trials": args.trials,
        "space": {"optimizer.learning_rate": {"type": "choice", "values": rates}},
    }
    splits = load_splits(validate(base, "base").data)

    def loop(tracked: bool) -> float:
        start = time.perf_counter()
        for rate in rates:
            keras.backend.clear_session()
            data = {
                **base,
                "optimizer": {"name": "adam", "learning_rate": rate},
                "tracking": {**base["tracking"], "enabled": tracked},
            }
            run(validate(data, "base"), splits=splits, echo=lambda line: None)
        return (time.perf_counter() - start) / len(rates)

    def swept(round_number: int) -> float:
        path = work / f"sweep{round_number}.yaml"
        path.write_text(yaml.safe_dump(sweep))
        start = time.perf_counter()
        tune(path, echo=lambda line: None)  # loads the (embedded) data once, as a sweep does
        return (time.perf_counter() - start) / len(rates)

    loop(False)  # warm-up: TensorFlow's first graphs, the store's creation
    times: dict[str, list[float]] = {"plain": [], "tracked": [], "sweep": []}
    for r in range(args.rounds):
        order = ["plain", "tracked", "sweep"] if r % 2 == 0 else ["sweep", "tracked", "plain"]
        for kind in order:
            seconds = loop(kind == "tracked") if kind != "sweep" else swept(r)
            times[kind].append(seconds)
            print(f"round {r + 1} {kind:>7}: {seconds:.2f} s per trial", flush=True)
    plain, tracked, swept_ = (statistics.median(times[k]) for k in ("plain", "tracked", "sweep"))
    print(f"\nmedian seconds per trial ({args.trials} trials of {args.epochs} epochs, LeNet-5 on digits):")
    print(f"  plain loop (no tracking) {plain:.2f}")
    print(f"  loop.run, tracked        {tracked:.2f}  (+{tracked - plain:.2f} s: MLflow child run)")
    print(
        f"  kerasnets tune           {swept_:.2f}  "
        f"(+{swept_ - tracked:.2f} s: keras-tuner + parent run + report)"
    )
    print(
        f"  overhead of a sweep over the plain loop: {swept_ - plain:.2f} s per trial ({swept_ / plain:.2f}x)"
    )


if __name__ == "__main__":
    main()

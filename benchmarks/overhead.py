"""Training throughput of ``kerasnets run`` against plain ``model.fit`` on the identical model
and data, in one process, alternating the two so drift hits both alike.

    python benchmarks/overhead.py [--dataset mnist] [--epochs 4] [--rounds 3]

Prints images/s of each (median over steady epochs: the first epoch of every fit, which
traces the graph, is left out) and the ratio kerasnets / plain: the median of the per-round
ratios, since this shared 2-core machine drifts by +-10% between minutes. Target: >= 0.97.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dataset", default="mnist", help="mnist needs KERASNETS_DATA_DIR; digits is embedded"
    )
    parser.add_argument("--model", default="lenet5")
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()

    from kerasnets.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()
    import keras

    from kerasnets.data.pipeline import load_splits
    from kerasnets.models import build
    from kerasnets.recipe import validate
    from kerasnets.train.callbacks import EpochTimer
    from kerasnets.train.loop import run
    from kerasnets.train.runtime import resolve_runtime

    store = tempfile.mkdtemp(prefix="kerasnets-bench-")
    recipe = validate(
        {
            "data": {
                "dataset": args.dataset,
                "image_size": [32, 32],
                "resize": "pad",
                "batch_size": args.batch_size,
                "validation_split": 0.1,
            },
            "model": {"name": args.model},
            "optimizer": {"name": "adam", "learning_rate": 0.001},
            "train": {"epochs": args.epochs, "verbose": 0},
            "tracking": {"uri": f"sqlite:///{store}/mlflow.db", "experiment": "overhead", "log_model": False},
        },
        "benchmark",
    )
    splits = load_splits(recipe.data)
    runtime = resolve_runtime(recipe.train)
    n = len(splits.y_train)

    def plain() -> list[float]:
        keras.utils.set_random_seed(0)
        model = build(args.model, splits.input_shape, splits.num_classes)
        model.compile(
            optimizer=keras.optimizers.Adam(0.001),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
            jit_compile=runtime.jit_compile,
            steps_per_execution=runtime.steps_per_execution,
        )
        timer = EpochTimer()
        model.fit(
            splits.x_train,
            splits.y_train,
            batch_size=args.batch_size,
            epochs=args.epochs,
            validation_data=(splits.x_val, splits.y_val),
            callbacks=[timer],
            verbose=0,
        )
        return timer.seconds[1:]

    def ours() -> list[float]:
        return run(recipe, splits=splits, echo=lambda _: None).epoch_seconds[1:]

    times: dict[str, list[float]] = {"plain model.fit": [], "kerasnets run": []}
    ratios = []
    for round_ in range(args.rounds):
        first, second = (plain, ours) if round_ % 2 == 0 else (ours, plain)  # alternate the order too
        a, b = first(), second()
        plain_s, ours_s = (a, b) if first is plain else (b, a)
        times["plain model.fit"] += plain_s
        times["kerasnets run"] += ours_s
        ratios.append(statistics.median(plain_s) / statistics.median(ours_s))
    rates = {name: n / statistics.median(sec) for name, sec in times.items()}
    print(
        f"{args.model} on {args.dataset}: {n} training images, batch {args.batch_size}, "
        f"{runtime.device}, steps_per_execution {runtime.steps_per_execution}, "
        f"{args.rounds} rounds x {args.epochs - 1} steady epochs"
    )
    for name, rate in rates.items():
        print(f"  {name:16s} {rate:10,.0f} images/s   (epoch median {n / rate:.3f} s)")
    print(f"  per-round ratios: {', '.join(f'{r:.3f}' for r in ratios)}")
    print(f"  ratio kerasnets / plain (median of rounds): {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()

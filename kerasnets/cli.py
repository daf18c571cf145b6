"""The ``kerasnets`` command line. Heavy libraries are imported inside the commands only,
so ``kerasnets --help`` and ``kerasnets schema`` start fast."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("NO_ALBUMENTATIONS_UPDATE", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

EXIT_BAD_INPUT = 2
PIPED_WIDTH = 240  # columns of a table written to a pipe or file


def _console(stderr: bool = False):
    """A rich console; when the output is not a terminal (a pipe, a file, a test) and COLUMNS
    is not set, it is wide enough that no table cell is cut."""
    from rich.console import Console

    stream = sys.stderr if stderr else sys.stdout
    piped = not (hasattr(stream, "isatty") and stream.isatty()) and "COLUMNS" not in os.environ
    return Console(stderr=stderr, highlight=False, width=PIPED_WIDTH if piped else None)


def _load(path: str, overrides: list[str]):
    from kerasnets.recipe import load_recipe

    return load_recipe(path, overrides)


def _tensorflow() -> None:
    """Import TensorFlow (quietly) once the input is known to be good: commands check recipes
    and arguments first, without it."""
    from kerasnets.quiet import import_tensorflow_quietly

    import_tensorflow_quietly()


def _overrides(args: argparse.Namespace) -> list[str]:
    extra = list(args.set or [])
    if getattr(args, "epochs", None) is not None:
        extra.append(f"train.epochs={args.epochs}")
    return extra


# ----------------------------------------------------------------------------- commands


def cmd_run(args: argparse.Namespace) -> int:
    from kerasnets.errors import KerasnetsError

    if bool(args.recipe) == bool(args.resume):
        raise KerasnetsError("give a RECIPE to run, or --resume RUN_ID to continue a run (not both)")
    console = _console()
    if args.resume:
        if args.set or args.epochs is not None:
            raise KerasnetsError("--resume continues a run with its own recipe: --set/--epochs do not apply")
        _tensorflow()
        from kerasnets.train.loop import resume

        console.print(f"[bold]kerasnets run --resume[/] {args.resume}")
        result = resume(args.resume, data_dir=args.data_dir, echo=console.print)
        recipe = None
    else:
        recipe = _load(args.recipe, _overrides(args))
        from kerasnets.tracking_process import open_tracking

        tracking = open_tracking(recipe)  # MLflow's side starts while TensorFlow is imported
        _tensorflow()
        from kerasnets.train.loop import run

        console.print(f"[bold]kerasnets run[/] {args.recipe}")
        result = run(
            recipe, data_dir=args.data_dir, recipe_path=args.recipe, echo=console.print, tracking=tracking
        )
    from kerasnets.tracking import tracking_uri

    headline = {k: v for k, v in result.metrics.items() if k != "test_loss"} or result.metrics
    if headline:
        key, value = next(iter(headline.items()))
        console.print(f"[bold green]{key.replace('_', ' ')} {value:.4f}[/]")
    if result.run_id:
        uri = tracking_uri(recipe.tracking.uri if recipe else None)
        console.print(f"MLflow run [bold]{result.run_id}[/] (experiment id {result.experiment_id})")
        console.print(f"  store: {uri}\n  artifacts: {result.artifact_uri}", soft_wrap=True)
        console.print("  browse: kerasnets ui   (or: kerasnets runs)")
    return 0


def cmd_preview(args: argparse.Namespace) -> int:
    recipe = _load(args.recipe, list(args.set or []))
    _tensorflow()
    import matplotlib.pyplot as plt

    from kerasnets.data.inputs import make_augmenter, preview_batch
    from kerasnets.data.pipeline import load_splits
    from kerasnets.preview import preview_figure
    from kerasnets.rules import with_input_size
    from kerasnets.train.tasks import TASKS

    recipe = with_input_size(recipe)
    splits = load_splits(recipe.data, args.data_dir)
    task = TASKS.get(recipe.task.name)(recipe)
    images, targets = preview_batch(recipe, splits, task, args.count, make_augmenter(recipe, splits))
    mean, std = task.stats(splits)
    figure = preview_figure(images, targets, splits.class_names, mean, std, args.recipe)
    figure.savefig(args.out, dpi=120)
    plt.close(figure)
    _console().print(f"wrote {args.out}: {len(images)} training samples as the model sees them")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from kerasnets.errors import RecipeError

    console, failed = _console(), 0
    for path in args.recipes:
        try:
            _load(path, args.set or [])
            console.print(f"[green]ok[/] {path}")
        except RecipeError as exc:
            failed += 1
            _console(stderr=True).print(exc.render(), markup=False, soft_wrap=True)
    return EXIT_BAD_INPUT if failed else 0


def _count(text: str) -> int:
    """A whole number of at least 0 (argparse type)."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 0, got {text!r}")
    return value


def cmd_tune(args: argparse.Namespace) -> int:
    from kerasnets.tuning.sweep import load_sweep

    console, overrides = _console(), list(args.set or [])
    load_sweep(args.sweep, overrides)  # a bad sweep or base recipe fails here, before TensorFlow
    _tensorflow()
    from kerasnets.tuning.session import SweepStopped, run_worker, tune

    if args.worker:
        run_worker(
            args.sweep, overrides, max_trials=args.max_trials, data_dir=args.data_dir, echo=console.print
        )
        return 0
    try:
        result = tune(
            args.sweep,
            overrides,
            max_trials=args.max_trials,
            restart=args.restart,
            workers=args.workers,
            data_dir=args.data_dir,
            echo=console.print,
            register_as=args.register_as,
        )
    except SweepStopped as exc:
        _console(stderr=True).print(f"error: {exc}", markup=False, style="red", soft_wrap=True)
        return 1
    done = sum(row["status"] == "COMPLETED" for row in result.trials)
    console.print(
        f"[bold]{done} of {len(result.trials)} trials completed[/]; parent run {result.parent_run_id}"
    )
    if result.best:
        best = result.best
        console.print(f"[bold green]best: trial {best['number']}, objective {best['objective']:.4f}[/]")
        console.print(
            f"  best recipe: {result.best_recipe}  (kerasnets run {result.best_recipe})", soft_wrap=True
        )
    return 0


def cmd_schema(args: argparse.Namespace) -> int:
    import json

    from kerasnets.recipe import json_schema

    print(json.dumps(json_schema(), indent=2))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from rich.table import Table

    from kerasnets.catalog import meta, model_tasks, names, option_names
    from kerasnets.weights.imagenet_table import IMAGENET_WEIGHTS

    console = _console()
    wide = console.width >= 140  # the reference's source only where it fits
    table = Table()
    for column in ("model", "tasks", "params", "input", "imagenet"):
        table.add_column(column, no_wrap=True)
    table.add_column("options", overflow="fold")
    if wide:
        table.add_column("source", overflow="fold")
    for name in names():
        info = meta(name)
        params = f"{info['params']:,}" if info.get("params") else ""
        shape = "x".join(map(str, info.get("input_shape") or ()))
        weights = IMAGENET_WEIGHTS.get(name)
        imagenet = f"{weights.preprocessing}" + "".join(f", {k}" for k in weights.options) if weights else ""
        row = [name, ",".join(model_tasks(name)), params, shape, imagenet, ", ".join(option_names(name))]
        table.add_row(*row, *([info.get("source", "")] if wide else []))
    console.print(table)
    if not wide:
        console.print("where each reference count comes from: COLUMNS=200 kerasnets models")
    console.print(
        "imagenet: init.weights: imagenet works (its preprocess_input mode, and the options it needs)"
    )
    return 0


def cmd_summary(args: argparse.Namespace) -> int:
    _tensorflow()
    from kerasnets.errors import KerasnetsError
    from kerasnets.models import MODELS
    from kerasnets.models.summary import summarize, to_rich_table
    from kerasnets.recipe_files import parse_override
    from kerasnets.registry import UnknownNameError

    try:
        MODELS.get(args.name)
    except UnknownNameError as exc:
        raise KerasnetsError(f"model: {exc.message}") from None
    try:
        shape = tuple(int(v) for v in args.input_shape.split(",")) if args.input_shape else None
    except ValueError:
        raise KerasnetsError(f"--input-shape: expected H,W,C integers, got {args.input_shape!r}") from None
    options = {}
    for text in args.set or []:
        keys, value = parse_override(text)
        options[".".join(keys)] = value
    try:
        table = summarize(args.name, shape, args.num_classes, **options)
    except ValueError as exc:
        raise KerasnetsError(str(exc).splitlines()[0]) from None
    _console().print(to_rich_table(table))
    return 0


def cmd_explain(args: argparse.Namespace) -> int:
    from pathlib import Path

    from kerasnets.errors import KerasnetsError
    from kerasnets.explain.runner import explain_run

    methods = [m for text in args.method for m in text.split(",") if m]
    try:
        channels = [int(c) for c in args.channels.split(",")] if args.channels else None
    except ValueError:
        raise KerasnetsError(
            f"--channels: expected comma-separated integers, got {args.channels!r}"
        ) from None
    given = {
        "layer": args.layer,
        "class": args.klass,
        "images": args.images,
        "channels": channels,
        "patch": args.patch,
        "stride": args.stride,
        "steps": args.steps,
    }
    _tensorflow()
    console = _console()
    console.print(f"[bold]kerasnets explain[/] {args.run_id} --method {','.join(methods)}")
    out = Path(args.out) if args.out else None
    written, artifacts = explain_run(
        args.run_id, methods, given, out, args.data_dir, args.tracking_uri, echo=console.print
    )
    files = [path for paths in written.values() for path in paths]
    folder = Path(args.out) if args.out else Path("explain") / args.run_id
    console.print(f"wrote {len(files)} PNGs under {folder}/<method>/", soft_wrap=True)
    console.print(f"logged to run {args.run_id} as explain/<method>/: {artifacts}", soft_wrap=True)
    return 0


def cmd_ensemble(args: argparse.Namespace) -> int:
    from kerasnets.ensemble import check_request, ensemble, result_table

    check_request(args.run_ids, args.method)  # before TensorFlow
    _tensorflow()
    console = _console()
    console.print(f"[bold]kerasnets ensemble[/] {' '.join(args.run_ids)} --method {args.method}")
    result = ensemble(
        args.run_ids,
        args.method,
        uri=args.tracking_uri,
        data_dir=args.data_dir,
        experiment=args.experiment,
        echo=console.print,
    )
    console.print(result_table(result))
    console.print(f"MLflow run [bold]{result.run_id}[/] (experiment id {result.experiment_id})")
    console.print(f"  artifacts: {result.artifact_uri}", soft_wrap=True)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from pathlib import Path

    from rich.table import Table

    from kerasnets.compare import collect, plot
    from kerasnets.errors import KerasnetsError

    if args.curves:
        return _compare_curves(args)
    if args.error:
        raise KerasnetsError("--error applies to --curves only")
    points, skipped = collect(args.run_ids, args.experiment, args.x, args.y, args.tracking_uri)
    out = Path(args.out or f"compare-{args.experiment or 'runs'}.png")
    plot(points, args.x, args.y, out, args.xscale, args.experiment or "")
    console = _console()
    table = Table(title=f"{args.y} against {args.x}")
    for column in ("run id", "name", "model", args.x, args.y):
        table.add_column(column, no_wrap=True)
    for p in sorted(points, key=lambda p: p.x):
        table.add_row(p.run_id, p.label, p.model, f"{p.x:,.6g}", f"{p.y:.4f}")
    console.print(table)
    if skipped:
        console.print(f"skipped (no {args.x} or {args.y}): {', '.join(skipped)}", soft_wrap=True)
    console.print(f"wrote {out} ({len(points)} runs)", soft_wrap=True)
    return 0


def _compare_curves(args: argparse.Namespace) -> int:
    """``compare --curves METRIC``: learning curves of the runs, and their last values."""
    from pathlib import Path

    from rich.table import Table

    from kerasnets.compare import collect_curves, error_percent, plot_curves

    curves, skipped = collect_curves(args.run_ids, args.experiment, args.curves, args.tracking_uri)
    out = Path(args.out or f"curves-{args.experiment or 'runs'}.png")
    plot_curves(curves, args.curves, out, args.error, args.experiment or "")
    console = _console()
    unit = " error (%)" if args.error else ""
    table = Table(title=f"{args.curves}{unit}: last epoch")
    for column in ("run id", "name", "epochs", f"{args.curves}{unit}", f"val_{args.curves}{unit}"):
        table.add_column(column, no_wrap=True)
    rows: dict[str, dict[str, object]] = {}
    for curve in curves:
        row = rows.setdefault(curve.run_id, {"name": curve.label, "epochs": len(curve.steps)})
        last = error_percent(curve.values[-1]) if args.error else curve.values[-1]
        row[curve.metric] = f"{last:.2f}" if args.error else f"{last:.4f}"
    for run_id, row in rows.items():
        cells = (row.get(args.curves, "-"), row.get(f"val_{args.curves}", "-"))
        table.add_row(run_id, str(row["name"]), str(row["epochs"]), *map(str, cells))
    console.print(table)
    if skipped:
        console.print(f"skipped (no {args.curves} history): {', '.join(skipped)}", soft_wrap=True)
    console.print(f"wrote {out} ({len(rows)} runs)", soft_wrap=True)
    return 0


def cmd_runs(args: argparse.Namespace) -> int:
    from kerasnets.runs import runs_table

    _console().print(runs_table(args.limit, args.experiment, args.tracking_uri))
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    from kerasnets.tracking import STORE_DIR, tracking_uri

    uri = args.tracking_uri or tracking_uri()
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        args.host,
        "--port",
        str(args.port),
    ]
    if uri.startswith("sqlite:///"):
        command += ["--default-artifact-root", (STORE_DIR / "artifacts").resolve().as_uri()]
    console = _console()
    console.print(f"MLflow UI on http://{args.host}:{args.port} over {uri} (Ctrl-C to stop)")
    console.print(
        "  training runs view (MLflow 3 opens on GenAI otherwise): "
        f"http://{args.host}:{args.port}/#/experiments?workflowType=machine_learning"
    )
    return _serve(command)


def _serve(command: list[str]) -> int:
    """Run a server in its own process group and stop the whole group (its workers too) when
    this process is interrupted or terminated."""
    import signal
    import subprocess

    server = subprocess.Popen(command, start_new_session=True)

    def stop(signum, frame):
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        return server.wait()
    except KeyboardInterrupt:
        for sig, grace in ((signal.SIGTERM, 5), (signal.SIGKILL, 5)):
            try:
                os.killpg(server.pid, sig)
                return server.wait(timeout=grace) and 0
            except ProcessLookupError:
                return 0
            except subprocess.TimeoutExpired:
                continue
        return 0
    finally:
        signal.signal(signal.SIGTERM, previous)


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="kerasnets", description="Classic CNNs as Keras 3 recipes, tracked in MLflow."
    )
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=fn)
        return p

    p = add("run", cmd_run, "train and evaluate a recipe, tracked in MLflow")
    p.add_argument("recipe", nargs="?", help="recipe YAML file")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe key (repeatable)")
    p.add_argument("--data-dir", help="folder with local data set copies (like KERASNETS_DATA_DIR)")
    p.add_argument("--epochs", type=int, help="shortcut for --set train.epochs=N")
    p.add_argument("--resume", metavar="RUN_ID", help="continue an interrupted run from its last epoch")

    p = add("preview", cmd_preview, "write a PNG grid of augmented training samples, without training")
    p.add_argument("recipe", help="recipe YAML file")
    p.add_argument("--out", default="preview.png", help="PNG file to write (default preview.png)")
    p.add_argument("--count", type=int, default=32, help="number of samples (default 32)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe key (repeatable)")
    p.add_argument("--data-dir", help="folder with local data set copies (like KERASNETS_DATA_DIR)")

    p = add("validate", cmd_validate, "check recipe files without running them")
    p.add_argument("recipes", nargs="+", metavar="RECIPE")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="override a recipe key (repeatable)")

    p = add("tune", cmd_tune, "run a hyperparameter sweep (continues an interrupted one)")
    p.add_argument("sweep", help="sweep YAML file (tuning/*.yaml)")
    p.add_argument("--max-trials", type=int, help="override the sweep's max_trials")
    p.add_argument(
        "--set", action="append", metavar="KEY=VALUE", help="override a base recipe key (repeatable)"
    )
    p.add_argument("--restart", action="store_true", help="start afresh: new parent run, tuner state wiped")
    p.add_argument(
        "--workers",
        type=_count,
        default=1,
        help="parallel worker processes on this machine (0: serve the oracle only, for workers elsewhere)",
    )
    p.add_argument("--data-dir", help="folder with local data set copies (like KERASNETS_DATA_DIR)")
    p.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)  # started by --workers
    p.add_argument(
        "--register-as", metavar="NAME", help="register the best trial's model (overrides register_as)"
    )

    add("schema", cmd_schema, "print the recipe JSON Schema")
    add("models", cmd_models, "list the registered models")

    p = add("summary", cmd_summary, "per-layer table: output shape, parameters, activation memory, mult-adds")
    p.add_argument("name", help="registered model name (see `kerasnets models`)")
    p.add_argument("--input-shape", help="H,W,C (default: the model's reference input)")
    p.add_argument("--num-classes", type=int, help="default: the model's reference class count")
    p.add_argument("--set", action="append", metavar="OPTION=VALUE", help="a builder option (repeatable)")

    p = add("explain", cmd_explain, "look inside a trained run: filters, maps, saliency... (logged to it)")
    p.add_argument("run_id", metavar="RUN_ID", help="a finished run (see `kerasnets runs`)")
    p.add_argument(
        "--method",
        action="append",
        required=True,
        metavar="M",
        help="filters, feature-maps, occlusion, saliency, guided-backprop, grad-cam, guided-grad-cam, "
        "class-model, deepdream, max-patches, neighbours or all (repeatable, or comma-separated)",
    )
    p.add_argument("--layer", help="layer name (or nested path a/b); default chosen per method")
    p.add_argument("--class", dest="klass", metavar="C", help="class index or name (default: true class)")
    p.add_argument("--images", type=int, metavar="N", help="test images to explain (default per method)")
    p.add_argument(
        "--channels",
        "--channel",
        metavar="I,J,...",
        help="channel indices (filters, maps, patches; saliency/guided-backprop of --layer's channel)",
    )
    p.add_argument("--patch", type=int, help="occlusion: square side in pixels (default H/5)")
    p.add_argument("--stride", type=int, help="occlusion: step in pixels (default patch/3)")
    p.add_argument("--steps", type=int, help="class-model / deepdream: ascent steps")
    p.add_argument("--out", metavar="DIR", help="local folder for the PNGs (default explain/RUN_ID)")
    p.add_argument("--data-dir", help="folder with local data set copies (like KERASNETS_DATA_DIR)")
    p.add_argument(
        "--tracking-uri", help="store of the run (default: MLFLOW_TRACKING_URI or the local store)"
    )

    p = add("ensemble", cmd_ensemble, "combine finished classifier runs on their shared test split (logged)")
    p.add_argument("run_ids", nargs="+", metavar="RUN_ID", help="two or more finished classifier runs")
    p.add_argument(
        "--method",
        choices=("mean", "vote"),
        default="mean",
        help="mean: argmax of the averaged probabilities (default); vote: majority of the members",
    )
    p.add_argument("--data-dir", help="folder with local data set copies (like KERASNETS_DATA_DIR)")
    p.add_argument("--experiment", help="experiment of the ensemble run (default: the first member's)")
    p.add_argument(
        "--tracking-uri", help="store of the runs (default: MLFLOW_TRACKING_URI or the local store)"
    )

    p = add("compare", cmd_compare, "plot a metric against another over runs (test accuracy vs parameters)")
    p.add_argument("run_ids", nargs="*", metavar="RUN_ID", help="runs to plot (or --experiment)")
    p.add_argument("--experiment", help="plot every FINISHED run of this experiment")
    p.add_argument("--x", default="params", help="metric or param on the x axis (default params)")
    p.add_argument("--y", default="test_accuracy", help="metric or param on the y axis")
    p.add_argument("--xscale", choices=("log", "linear"), default="log", help="x axis scale (default log)")
    p.add_argument(
        "--curves", metavar="METRIC",
        help="plot each run's per-epoch METRIC and val_METRIC instead (e.g. accuracy, loss)",
    )  # fmt: skip
    p.add_argument("--error", action="store_true", help="with --curves: plot 100 (1 - value) %%, as error")
    p.add_argument(
        "--out", metavar="FILE",
        help="PNG to write (default compare-<experiment>.png, curves-<experiment>.png with --curves)",
    )  # fmt: skip
    p.add_argument("--tracking-uri", help="store to read (default: MLFLOW_TRACKING_URI or the local store)")

    p = add("runs", cmd_runs, "table of recent runs in the tracking store")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--experiment", help="only this experiment")
    p.add_argument("--tracking-uri", help="store to read (default: MLFLOW_TRACKING_URI or the local store)")

    p = add("ui", cmd_ui, "open the MLflow UI over the project store")
    p.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--tracking-uri", help="store to serve (default: MLFLOW_TRACKING_URI or the local store)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    from kerasnets.errors import KerasnetsError, RecipeError, TrainingDiverged

    try:
        return args.func(args)
    except RecipeError as exc:
        if args.debug:
            raise
        _console(stderr=True).print(exc.render(), markup=False, style="red", soft_wrap=True)
        return EXIT_BAD_INPUT
    except KerasnetsError as exc:
        if args.debug:
            raise
        _console(stderr=True).print(f"error: {exc}", markup=False, style="red", soft_wrap=True)
        return 1 if isinstance(exc, TrainingDiverged) else EXIT_BAD_INPUT
    except KeyboardInterrupt:
        if args.debug:
            raise
        _console(stderr=True).print("interrupted", style="red")
        return 130


if __name__ == "__main__":
    sys.exit(main())

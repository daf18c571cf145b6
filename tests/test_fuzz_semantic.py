"""Semantically wrong recipes (right types, impossible combinations) and the shipped recipes
with one key changed: every one is a recipe error naming the key (exit 2), never a traceback.

Cases are generated from the catalog and the task table, so a new model or task adds its own.
"""

from __future__ import annotations

import json
import typing
from pathlib import Path

import pytest
import yaml

from kerasnets import catalog
from kerasnets.cli import main
from kerasnets.recipe import load_recipe
from kerasnets.recipe_files import deep_merge
from kerasnets.rules import TASK_RULES
from kerasnets.train.components import LOSSES, SCHEDULES

ROOT = Path(__file__).resolve().parents[1]
RECIPES = sorted((ROOT / "recipes").glob("*.yaml"))

#: A valid recipe per task, to break one rule at a time.
TASK_BASE: dict[str, dict] = {
    "classify": {"model": {"name": "lenet5"}},
    "sequence": {"task": {"name": "sequence"}, "model": {"name": "lstm"}, "data": {"layout": "rows"}},
    "reconstruct": {"task": {"name": "reconstruct"}, "model": {"name": "dense_autoencoder"}},
    "denoise": {"task": {"name": "denoise"}, "model": {"name": "conv_autoencoder"}},
    "segment": {"task": {"name": "segment"}, "model": {"name": "segnet"}, "data": {"dataset": "shapes"}},
    "generate": {"task": {"name": "generate"}, "model": {"name": "dcgan"}, "data": {"dataset": "mnist"}},
    "seq2seq": {
        "task": {"name": "seq2seq"},
        "model": {"name": "lstm_seq2seq"},
        "data": {"dataset": "digit_strings", "layout": "rows", "normalize": "scale"},
    },
}
SYNTHETIC = {"dataset": "synthetic", "options": {"num_samples": 64, "num_classes": 3, "shape": [8, 8, 3]}}


def _case(task: str, change: dict, key: str, label: str):
    return pytest.param(deep_merge(TASK_BASE[task], change), key, id=f"{task}-{label}")


def _too_small() -> list:
    cases = []
    for name in catalog.names():
        need = catalog.min_input(name, {})
        if need and len(need) == 2 and need[0] > 1 and "classify" in catalog.model_tasks(name):
            data = {**SYNTHETIC, "image_size": [need[0] - 1, need[1] - 1]}
            cases.append(_case("classify", {"model": {"name": name}, "data": data}, "data.image_size", name))
    return cases


def _mismatched_models() -> list:
    cases = []
    for task in TASK_RULES:
        others = [n for n in catalog.names() if task not in catalog.model_tasks(n)]
        for name in others[:: max(1, len(others) // 6)]:
            cases.append(_case(task, {"model": {"name": name}}, "model.name", f"model-{name}"))
    return cases


def _bad_choices() -> list:
    """Every closed-choice (Literal) option of every model, given a value outside its choices."""
    from kerasnets.models import MODELS
    from kerasnets.models.base import COMMON_ARGS
    from kerasnets.options import options_schema

    cases = []
    for name in catalog.names():
        task = catalog.model_tasks(name)[0]
        for option, info in options_schema(MODELS.get(name), COMMON_ARGS).model_fields.items():
            literals = [
                a
                for a in (info.annotation, *typing.get_args(info.annotation))
                if typing.get_origin(a) is typing.Literal
            ]
            if literals:
                change = {"model": {"name": name, option: "no-such-choice"}}
                cases.append(_case(task, change, f"model.{option}", f"{name}-{option}"))
    return cases


def _task_rule_breaks() -> list:
    cases = []
    for task, rules in TASK_RULES.items():
        for layout in ("image", "rows", "pixels"):
            if layout not in rules.layouts:
                cases.append(_case(task, {"data": {"layout": layout}}, "data.layout", f"layout-{layout}"))
        for schedule in SCHEDULES.names():
            if rules.schedules is not None and schedule not in rules.schedules:
                cases.append(
                    _case(task, {"schedule": {"name": schedule}}, "schedule.name", f"schedule-{schedule}")
                )
        if not rules.warmup:
            cases.append(_case(task, {"schedule": {"warmup_epochs": 2}}, "schedule.warmup_epochs", "warmup"))
        features = {
            "augment": ({"augment": [{"HorizontalFlip": {"p": 0.5}}]}, rules.augment),
            "augment_batch": ({"augment_batch": [{"mixup": {"alpha": 0.2}}]}, rules.augment_batch),
            "eval.tta": ({"eval": {"tta": "hflip"}}, rules.tta),
            "explain": ({"explain": ["saliency"]}, rules.explain),
        }
        for key, (change, accepted) in features.items():
            if not accepted:
                cases.append(_case(task, change, key, key))
        for loss in LOSSES.names():
            if loss not in rules.losses:
                cases.append(_case(task, {"train": {"loss": loss}}, "train.loss", f"loss-{loss}"))
        foreign = sorted({m for r in TASK_RULES.values() for m in r.metrics} - set(rules.metrics))
        for metric in foreign[:3]:
            stopping = {"regularization": {"early_stopping": {"monitor": f"val_{metric}"}}}
            cases.append(_case(task, stopping, "regularization.early_stopping.monitor", f"monitor-{metric}"))
    return cases


OTHER_CASES = [
    _case("classify", {"optimizer": {"name": "gd"}}, "data.batch_size", "gd-minibatch"),
    _case("classify", {"init": {"kernel": "glorot_normal", "leaky_slope": 0.1}}, "init.leaky_slope", "slope"),
    _case("generate", {"regularization": {"dropout": 0.3}}, "regularization.dropout", "dcgan-dropout"),
    _case(
        "classify",
        {"data": {"validation_split": 0.0}, "schedule": {"name": "plateau"}},
        "schedule.monitor",
        "noval",
    ),
    _case("classify", {"model": {"name": "mlp", "activation": "maxout"}}, "model.activation", "mlp-maxout"),
    _case("classify", {"data": {"image_size": [16, 16]}}, "data.image_size", "lenet-16"),
    _case(
        "reconstruct",
        {"schedule": {"name": "plateau", "monitor": "val_accuracy"}},
        "schedule.monitor",
        "plateau-accuracy",
    ),
]
CASES = [*_too_small(), *_mismatched_models(), *_bad_choices(), *_task_rule_breaks(), *OTHER_CASES]


def test_there_are_at_least_a_hundred_cases():
    assert len(CASES) >= 100, len(CASES)


@pytest.mark.parametrize("task", list(TASK_BASE))
def test_the_base_recipes_are_valid(task, tmp_path, capsys):
    path = tmp_path / "base.yaml"
    path.write_text(yaml.safe_dump(TASK_BASE[task]))
    assert main(["validate", str(path)]) == 0, capsys.readouterr().err


def _validate(data: dict, folder: Path, capsys) -> tuple[int, str]:
    path = folder / "case.yaml"
    path.write_text(yaml.safe_dump(data))
    code = main(["validate", str(path)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize(("data", "key"), CASES)
def test_a_semantically_wrong_recipe_is_a_recipe_error_at_its_key(data, key, tmp_path, capsys):
    code, err = _validate(data, tmp_path, capsys)
    assert code == 2 and "Traceback" not in err, err
    lines = err.splitlines()
    assert lines[0].startswith(str(tmp_path / "case.yaml")) and "problem" in lines[0]
    assert any(line.strip().startswith(f"{key}:") for line in lines[1:]), err


def _mutations(path: Path) -> list[tuple[str, object]]:
    recipe = load_recipe(path)
    task, name = recipe.task.name, recipe.model.name
    wrong_model = next(n for n in catalog.names() if task not in catalog.model_tasks(n))
    changes: list[tuple[str, object]] = [("model.name", wrong_model), ("data.image_size", [4, 4])]
    changes += [("task.name", t) for t in TASK_RULES if t != task]
    changes += [
        ("data.layout", layout) for layout in ("image", "rows", "pixels") if layout != recipe.data.layout
    ]
    changes += [("schedule.name", s) for s in SCHEDULES.names() if s != recipe.schedule.name]
    changes += [("train.loss", loss) for loss in LOSSES.names()]
    changes += [("optimizer.name", "gd"), ("eval.tta", "ten_crop"), ("regularization.dropout", 0.5)]
    changes += [("init.leaky_slope", 0.2), ("data.validation_split", 0.0)]
    return [(key, value) for key, value in changes if (key, value) != ("model.name", name)]


@pytest.mark.parametrize("path", RECIPES, ids=[p.stem for p in RECIPES])
def test_shipped_recipes_with_one_key_changed_never_raise_a_traceback(path, tmp_path, capsys):
    must_fail = 0
    for key, value in _mutations(path):
        text = json.dumps(value) if isinstance(value, list) else str(value)
        code = main(["validate", str(path), "--set", f"{key}={text}"])
        err = capsys.readouterr().err
        assert code in (0, 2) and "Traceback" not in err, (key, value, err)
        if key == "model.name":
            assert code == 2 and "  model." in err, err  # the mismatch, or options the new model lacks
            must_fail += 1
    assert must_fail == 1

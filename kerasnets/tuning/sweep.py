"""Sweep files: a base recipe, an objective, a tuner and a search space on dotted recipe keys.

``load_sweep(path, overrides)`` reads ``tuning/<name>.yaml``, validates it with a pydantic
schema (unknown keys are errors), resolves the base recipe (relative to the sweep file) with
the sweep's ``set`` and the command line's ``--set`` overrides, and checks that the space's
values make valid recipes. Every problem is collected into one ``RecipeError``.

A trial's recipe is the base recipe with the sampled values written in (``trial_data``):
a mapping value merges into the recipe like a fragment, anything else replaces.
"""

from __future__ import annotations

import difflib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator

from kerasnets.errors import Problem, RecipeError
from kerasnets.pydantic_errors import problems_from_validation_error, submodel
from kerasnets.recipe import OptionProblems, Recipe, validate
from kerasnets.recipe_files import apply_overrides, deep_merge, read_yaml, resolve_extends

Count = Annotated[int, Field(ge=1, le=1_000_000)]
Scalar = bool | int | float | str


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)


# ----------------------------------------------------------------------------- space entries


class _Entry(_Strict):
    when: dict[str, Any] | None = Field(
        None, description="only tuned when these other tuned keys have these values (a value or a list)"
    )


class FloatSpace(_Entry):
    type: Literal["float"]
    min: float
    max: float
    log: bool = Field(False, description="sample log-uniformly (min must be > 0)")
    step: Annotated[float, Field(gt=0)] | None = None
    default: float | None = None

    @model_validator(mode="after")
    def _range(self) -> FloatSpace:
        _check_range(self.min, self.max, self.log, self.default)
        return self


class IntSpace(_Entry):
    type: Literal["int"]
    min: int
    max: int
    log: bool = False
    step: Annotated[int, Field(ge=1)] | None = None
    default: int | None = None

    @model_validator(mode="after")
    def _range(self) -> IntSpace:
        _check_range(self.min, self.max, self.log, self.default)
        return self


class ChoiceSpace(_Entry):
    type: Literal["choice"]
    values: Annotated[list[Any], Field(min_length=1)] | Annotated[dict[str, Any], Field(min_length=1)] = (
        Field(
            description="a list of values, or a mapping label -> value (lists and mappings allowed as values)"
        )
    )
    default: Any = Field(None, description="a value (or label) from values; the first when null")

    @model_validator(mode="after")
    def _default_is_a_choice(self) -> ChoiceSpace:
        if self.default is not None and str(self.default) not in [label for label, _ in choice_items(self)]:
            raise ValueError(f"default {self.default!r} is not one of the values")
        return self


class BooleanSpace(_Entry):
    type: Literal["boolean"]
    default: bool = False


def _check_range(low: float, high: float, log: bool, default: float | None) -> None:
    if low >= high:
        raise ValueError(f"min ({low}) must be less than max ({high})")
    if log and low <= 0:
        raise ValueError(f"log sampling needs min > 0, got min {low}")
    if default is not None and not low <= default <= high:
        raise ValueError(f"default {default} is outside [{low}, {high}]")


#: the ``type`` of a space entry -> its schema
SPACE_TYPES: dict[str, type[_Entry]] = {
    "float": FloatSpace,
    "int": IntSpace,
    "choice": ChoiceSpace,
    "boolean": BooleanSpace,
}
SpaceEntry = FloatSpace | IntSpace | ChoiceSpace | BooleanSpace


def _scalar_kind(value: Any) -> type | None:
    return type(value) if isinstance(value, Scalar) else None


def choice_items(entry: ChoiceSpace) -> list[tuple[Any, Any]]:
    """``(label, value)`` pairs. Labels are what the tuner samples and MLflow shows: the values
    themselves when they are scalars of one type, else text (the mapping's keys, or JSON)."""
    if isinstance(entry.values, dict):
        return [(str(k), v) for k, v in entry.values.items()]
    kinds = {_scalar_kind(v) for v in entry.values}
    if len(kinds) == 1 and None not in kinds and bool not in kinds:  # keras-tuner turns bools into ints
        return [(v, v) for v in entry.values]
    return [(v if isinstance(v, str) else json.dumps(v, separators=(",", ":")), v) for v in entry.values]


def when_items(entry: _Entry) -> list[tuple[str, list[Any]]]:
    """An entry's ``when`` as ``(parent key, accepted values)`` pairs, a single value as a list."""
    return [(key, value if isinstance(value, list) else [value]) for key, value in (entry.when or {}).items()]


# ----------------------------------------------------------------------------- the sweep file


def _objective(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


def _tuner(value: Any) -> Any:
    return {"name": value} if isinstance(value, str) else value


class Objective(_Strict):
    name: str = Field(
        description="a per-epoch metric (best epoch counts: val_accuracy, val_loss...) "
        "or a final one (test_accuracy)"
    )
    direction: Literal["max", "min"] | None = Field(
        None, description="null: the metric's own direction (max for accuracy, IoU, PSNR; min for losses)"
    )

    @model_validator(mode="after")
    def _known_direction(self) -> Objective:
        if self.direction is None:
            from kerasnets.rules import UnknownMetricError, metric_mode

            try:
                metric_mode(self.name)
            except UnknownMetricError as exc:
                raise ValueError(f"{exc}; set objective.direction to max or min") from None
        return self

    @property
    def mode(self) -> str:
        from kerasnets.rules import metric_mode

        return self.direction or metric_mode(self.name)


class TunerSection(_Strict):
    name: Literal["random", "grid", "bayesian", "hyperband"] = "random"
    seed: Annotated[int, Field(ge=1)] = Field(
        1, description="the tuner's random seed (keras-tuner draws one for 0)"
    )
    max_epochs: Count | None = Field(None, description="hyperband: epochs of the longest trials")
    factor: Annotated[int, Field(ge=2, le=100)] | None = Field(
        None, description="hyperband: reduction factor"
    )
    iterations: Count | None = Field(None, description="hyperband: number of hyperband iterations")
    num_initial_points: Count | None = Field(None, description="bayesian: random trials before the model")

    @model_validator(mode="after")
    def _options_apply(self) -> TunerSection:
        owners = {
            "max_epochs": "hyperband",
            "factor": "hyperband",
            "iterations": "hyperband",
            "num_initial_points": "bayesian",
        }
        problems = [
            (k, f"not an option of tuner {self.name!r}", None)
            for k, owner in owners.items()
            if getattr(self, k) is not None and owner != self.name
        ]
        if self.name == "hyperband" and self.max_epochs is None:
            problems.append(("max_epochs", "required by tuner 'hyperband'", None))
        if problems:
            raise OptionProblems(problems)
        return self


class SweepFile(_Strict):
    """The YAML schema of ``tuning/*.yaml``; ``space`` entries are checked per ``type``."""

    description: str = ""
    name: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._-]+$")] | None = Field(
        None, description="state folder and parent run name; the file's stem when null"
    )
    recipe: str = Field(description="the base recipe, relative to the sweep file")
    set: dict[str, Any] = Field(
        default_factory=dict, description="fixed dotted-key overrides of the base recipe"
    )
    objective: Annotated[Objective, BeforeValidator(_objective)]
    tuner: Annotated[TunerSection, BeforeValidator(_tuner)] = Field(default_factory=TunerSection)
    max_trials: Count = 10
    executions_per_trial: Annotated[int, Field(ge=1, le=100)] = 1
    max_consecutive_failures: Annotated[int, Field(ge=1, le=1000)] = Field(
        3, description="stop the sweep after this many failed trials in a row"
    )
    space: Annotated[dict[str, dict[str, Any]], Field(min_length=1)]
    register_as: Annotated[str, Field(min_length=1, max_length=250)] | None = Field(
        None, description="register the best trial's model as a new version of this registered model"
    )


@dataclass
class Sweep:
    """A validated sweep: its file, settings, typed space and the base recipe mapping."""

    path: Path
    file: SweepFile
    space: dict[str, SpaceEntry]
    base: dict[str, Any] = field(repr=False)
    recipe_path: Path = field(default=Path())

    @property
    def name(self) -> str:
        return self.file.name or self.path.stem

    def labels(self, key: str) -> list[Any]:
        entry = self.space[key]
        if isinstance(entry, ChoiceSpace):
            return [label for label, _ in choice_items(entry)]
        return [False, True] if isinstance(entry, BooleanSpace) else []

    def value_of(self, key: str, label: Any) -> Any:
        """The recipe value for a sampled label (labels differ from values only for choices)."""
        entry = self.space[key]
        if isinstance(entry, ChoiceSpace):
            return dict((str(k), v) for k, v in choice_items(entry))[str(label)]
        return label

    def trial_data(self, values: dict[str, Any]) -> dict[str, Any]:
        """The base recipe mapping with the sampled ``values`` (labels, by key) written in."""
        data = self.base
        for key in self.space:
            if key in values:
                data = deep_merge(data, _nested(key, self.value_of(key, values[key])))
        return data

    def trial_recipe(self, values: dict[str, Any]) -> Recipe:
        return validate(self.trial_data(values), f"{self.path} (trial values {values})")

    def fingerprint(self) -> str:
        """Identifies what the sweep searches (not ``max_trials``): resumed state must match."""
        settings = self.file.model_dump(mode="json", exclude={"max_trials", "description", "register_as"})
        text = json.dumps({"settings": settings, "base": self.base}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def _nested(key: str, value: Any) -> dict[str, Any]:
    tree: Any = value
    for part in reversed(key.split(".")):
        tree = {part: tree}
    return tree


# ----------------------------------------------------------------------------- recipe keys


def recipe_keys(model: type[BaseModel] = Recipe, prefix: str = "") -> dict[str, type[BaseModel] | None]:
    """Every dotted key of the recipe schema -> its sub-schema (None for a leaf)."""
    keys: dict[str, type[BaseModel] | None] = {}
    for name, info in model.model_fields.items():
        sub = submodel(info.annotation)
        keys[prefix + name] = sub
        if sub is not None:
            keys.update(recipe_keys(sub, f"{prefix}{name}."))
    return keys


def _open_key(key: str, keys: dict[str, type[BaseModel] | None]) -> bool:
    """Keys below a free-form mapping: model builder options, data.options, tracking.tags."""
    parts = key.split(".")
    for i in range(1, len(parts)):
        head = ".".join(parts[:i])
        if head == "model" or (head in keys and keys[head] is None and head.endswith(("options", "tags"))):
            return True
    return False


def check_key(key: str) -> str | None:
    """A message when ``key`` is not a dotted recipe key, else None."""
    keys = recipe_keys()
    if key in keys or _open_key(key, keys):
        return None
    close = difflib.get_close_matches(key, list(keys), n=1, cutoff=0.6)
    hint = f" Did you mean {close[0]!r}?" if close else f" Sections: {', '.join(Recipe.model_fields)}"
    return f"unknown recipe key {key!r}.{hint}"


# ----------------------------------------------------------------------------- loading


def load_sweep(path: str | Path, overrides: list[str] | None = None) -> Sweep:
    """Read and validate a sweep file and its base recipe; raise one ``RecipeError``."""
    path = Path(path)
    data = read_yaml(path)
    problems: list[Problem] = []
    file = None
    try:
        file = SweepFile.model_validate(data)
    except ValidationError as exc:
        problems.extend(problems_from_validation_error(exc, SweepFile))
    raw_space = data.get("space")
    space = _parse_space(raw_space, problems) if isinstance(raw_space, dict) else {}
    for key in (data.get("set") or {}) if isinstance(data.get("set"), dict) else {}:
        message = check_key(key)
        if message:
            problems.append(Problem(f"set.{key}", message))
    recipe_path = Path(os.path.normpath(path.parent / str(data.get("recipe", ""))))
    if "recipe" in data and not recipe_path.is_file():
        problems.append(Problem("recipe", f"base recipe not found: {recipe_path}"))
    fixed_set = data.get("set") if isinstance(data.get("set"), dict) else {}
    if not recipe_path.is_file() or any(p.key.startswith("set") for p in problems):
        raise RecipeError(str(path), _sorted(problems, data))

    base = resolve_extends(recipe_path)
    fixed = [f"{k}={json.dumps(v)}" for k, v in fixed_set.items()]
    base, override_problems = apply_overrides(base, fixed + list(overrides or []))
    validate(base, str(recipe_path), override_problems)  # the base recipe's own problems, under its name
    sweep = Sweep(path, file, space, base, recipe_path)  # file is None when the schema failed: probes only
    problems += _check_values(sweep, {p.key.split(".", 1)[1] for p in problems if p.key.startswith("space.")})
    if not Recipe.model_validate(base).tracking.enabled:
        problems.append(
            Problem(
                "recipe", "the base recipe has tracking.enabled false: a sweep records its trials in MLflow"
            )
        )
    problems += register_problems(sweep, file.register_as if file else None)
    if problems:
        raise RecipeError(str(path), _sorted(problems, data))
    return sweep


def register_problems(sweep: Sweep, register_as: str | None) -> list[Problem]:
    """A sweep registers its best trial (``register_as``), never every trial; the best trial's
    model must have been logged."""
    tracking = Recipe.model_validate(sweep.base).tracking
    problems = []
    if tracking.register_as:
        message = "would register every trial: give the sweep's register_as (registers the best trial)"
        problems.append(Problem("recipe", f"the base recipe has tracking.register_as {message}"))
    if register_as and not tracking.log_model:
        problems.append(
            Problem(
                "register_as",
                "the trials log no model (tracking.log_model false in the base recipe or set): "
                "set tracking.log_model true to register the best trial",
            )
        )
    return problems


def _sorted(problems: list[Problem], data: dict[str, Any]) -> list[Problem]:
    """In the file's order: top-level keys as written, space entries as written."""
    order = {key: i for i, key in enumerate(data)}
    space = (
        {key: i for i, key in enumerate(data.get("space") or {})}
        if isinstance(data.get("space"), dict)
        else {}
    )

    def rank(problem: Problem) -> tuple[int, int]:
        head = problem.key.split(".")[0].split("[")[0]
        if head == "space":
            rest = problem.key[len("space.") :]
            return order.get("space", 99), next((i for k, i in space.items() if rest.startswith(k)), 99)
        return order.get(head, 99), 0

    return sorted(problems, key=rank)


def _parse_space(raw: dict[str, Any], problems: list[Problem]) -> dict[str, SpaceEntry]:
    space: dict[str, SpaceEntry] = {}
    for key, spec in raw.items():
        where = f"space.{key}"
        message = check_key(str(key))
        if message:
            problems.append(Problem(where, message))
            continue
        if not isinstance(spec, dict):
            problems.append(
                Problem(where, "expected a mapping with a type (float, int, choice, boolean)", spec, True)
            )
            continue
        kind = spec.get("type")
        if kind not in SPACE_TYPES:
            close = difflib.get_close_matches(str(kind), list(SPACE_TYPES), n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            what = "missing 'type'" if kind is None else f"unknown type {kind!r}"
            problems.append(
                Problem(f"{where}.type", f"{what}: expected one of {', '.join(SPACE_TYPES)}.{hint}")
            )
            continue
        schema = SPACE_TYPES[kind]
        try:
            space[key] = schema.model_validate(spec)
        except ValidationError as exc:
            for p in problems_from_validation_error(exc, schema):
                message = p.message.replace(" at top level.", ".")  # the entry is not the top level
                problems.append(
                    Problem(f"{where}.{p.key}" if p.key else where, message, p.received, p.show_received)
                )
    for i, (key, entry) in enumerate(space.items()):
        earlier = list(space)[:i]
        for parent, wanted in when_items(entry):
            if parent not in earlier:
                problems.append(
                    Problem(
                        f"space.{key}.when",
                        f"{parent!r} must be a tuned key listed before "
                        f"{key!r} (tuned before it: {', '.join(earlier) or 'none'})",
                    )
                )
                continue
            labels = _labels(space[parent])
            if labels is None:
                problems.append(
                    Problem(
                        f"space.{key}.when",
                        f"{parent!r} is a {space[parent].type}: conditions need a choice or boolean",
                    )
                )
                continue
            for value in wanted:
                if str(value) not in [str(label) for label in labels]:
                    problems.append(
                        Problem(
                            f"space.{key}.when.{parent}",
                            f"{value!r} is not one of its values: {', '.join(map(str, labels))}",
                        )
                    )
    return space


def _labels(entry: SpaceEntry) -> list[Any] | None:
    if isinstance(entry, ChoiceSpace):
        return [label for label, _ in choice_items(entry)]
    return [False, True] if isinstance(entry, BooleanSpace) else None


# ----------------------------------------------------------------------------- value checks


def default_label(entry: SpaceEntry) -> Any:
    if isinstance(entry, ChoiceSpace):
        items = choice_items(entry)
        if entry.default is None:
            return items[0][0]
        return next(label for label, _ in items if str(label) == str(entry.default))
    if isinstance(entry, BooleanSpace):
        return entry.default
    return entry.default if entry.default is not None else entry.min


def _probes(sweep: Sweep, key: str) -> list[tuple[str, Any]]:
    """Values worth checking: every choice, both ends of a range."""
    entry = sweep.space[key]
    if isinstance(entry, ChoiceSpace) and not isinstance(entry.values, dict):
        return [(f"value {value!r}", label) for label, value in choice_items(entry)]
    labels = _labels(entry)
    if labels is not None:
        return [(f"value {label!r}", label) for label in labels]
    return [(f"min {entry.min!r}", entry.min), (f"max {entry.max!r}", entry.max)]


def active_values(sweep: Sweep, chosen: dict[str, Any]) -> dict[str, Any]:
    """``chosen`` plus the defaults of the conditional keys it switches on (the others keep the
    base recipe's values), keeping only keys whose conditions hold."""
    values: dict[str, Any] = {}
    for key, entry in sweep.space.items():
        if key not in chosen and not entry.when:
            continue
        if all(str(values.get(parent, object())) in map(str, wanted) for parent, wanted in when_items(entry)):
            values[key] = chosen.get(key, default_label(entry))
    return values


def _check_values(sweep: Sweep, skip: set[str]) -> list[Problem]:
    """Validate the recipe each probe value makes, with the probed key's conditions met
    (entries with problems of their own are skipped)."""
    problems: list[Problem] = []
    for key, entry in sweep.space.items():
        if any(key == s or key.startswith(s + ".") for s in skip):
            continue
        if any(
            parent not in sweep.space or not tuner_labels(sweep, parent, wanted)
            for parent, wanted in when_items(entry)
        ):
            continue
        for what, label in _probes(sweep, key):
            chosen = {parent: _first_match(sweep, parent, wanted) for parent, wanted in when_items(entry)}
            chosen[key] = label
            try:
                validate(sweep.trial_data(active_values(sweep, chosen)), "")
            except RecipeError as exc:
                first = exc.problems[0]
                problems.append(Problem(f"space.{key}", f"{what} makes the recipe invalid: {first.render()}"))
                break
    return problems


def tuner_labels(sweep: Sweep, parent: str, wanted: list[Any]) -> list[Any]:
    """``when`` values as the parent's labels (YAML may say 32 where the label is '32')."""
    return [label for label in sweep.labels(parent) if str(label) in map(str, wanted)]


def _first_match(sweep: Sweep, parent: str, wanted: list[Any]) -> Any:
    return tuner_labels(sweep, parent, wanted)[0]

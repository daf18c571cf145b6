"""Recipe files as YAML trees: read with ``yaml.safe_load``, ``extends`` fragments merged,
``--set`` overrides applied, and flattened to dotted keys (MLflow params). No schema here:
``kerasnets.recipe`` validates what these functions produce."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml

from kerasnets.errors import Problem, RecipeError


def flatten(tree: Any, prefix: str = "") -> dict[str, str]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": "1"}``; lists become JSON text."""
    if isinstance(tree, dict) and tree:
        out: dict[str, str] = {}
        for key, value in tree.items():
            out.update(flatten(value, f"{prefix}{key}."))
        return out
    text = json.dumps(tree) if isinstance(tree, list | dict) else str(tree)
    return {prefix.rstrip("."): text}


def deep_merge(base: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Merge ``update`` into a copy of ``base``; mappings merge, everything else replaces."""
    merged = copy.deepcopy(base)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def read_yaml(path: Path) -> dict[str, Any]:
    """Read one YAML mapping with ``yaml.safe_load``; problems become a ``RecipeError``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise RecipeError(str(path), [Problem("", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RecipeError(
            str(path), [Problem("", f"cannot read the file ({exc.__class__.__name__})")]
        ) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise RecipeError(str(path), [Problem("", f"invalid YAML{where}: {what}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise RecipeError(str(path), [Problem("", "expected a mapping of sections", data, True)])
    return data


def resolve_extends(path: Path, _chain: tuple[Path, ...] = ()) -> dict[str, Any]:
    """The file's mapping merged over the fragments it ``extends`` (paths relative to it)."""
    path = path.resolve() if path.is_absolute() else path
    if path.resolve() in [p.resolve() for p in _chain]:
        cycle = " -> ".join(str(p) for p in (*_chain, path))
        raise RecipeError(str(path), [Problem("extends", f"circular extends: {cycle}")])
    data = read_yaml(path)
    extends = data.pop("extends", [])
    if isinstance(extends, str):
        extends = [extends]
    if not isinstance(extends, list) or not all(isinstance(e, str) for e in extends):
        raise RecipeError(
            str(path), [Problem("extends", "expected a file path or a list of them", extends, True)]
        )
    merged: dict[str, Any] = {}
    for fragment in extends:
        fragment_path = path.parent / fragment
        if not fragment_path.is_file():
            raise RecipeError(str(path), [Problem("extends", f"fragment file not found: {fragment_path}")])
        merged = deep_merge(merged, resolve_extends(fragment_path, (*_chain, path)))
    return deep_merge(merged, data)


def parse_override(text: str) -> tuple[list[str], Any]:
    """``"optimizer.learning_rate=0.05"`` -> ``(["optimizer", "learning_rate"], 0.05)``."""
    key, sep, raw = text.partition("=")
    keys = key.strip().split(".")
    if not sep or not all(k.strip() for k in keys):
        raise ValueError(f"expected KEY=VALUE with a dotted key, got {text!r}")
    try:
        value = yaml.safe_load(raw) if raw.strip() else ""
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):  # YAML 1.1 reads "1e-3" as text
        try:
            value = float(value)
        except ValueError:
            pass
    return [k.strip() for k in keys], value


def apply_overrides(data: dict[str, Any], overrides: list[str]) -> tuple[dict[str, Any], list[Problem]]:
    """Apply ``--set`` overrides; malformed ones are returned as problems."""
    data = copy.deepcopy(data)
    problems: list[Problem] = []
    for text in overrides:
        try:
            keys, value = parse_override(text)
        except ValueError as exc:
            problems.append(Problem("--set", str(exc)))
            continue
        node = data
        for key in keys[:-1]:
            if not isinstance(node.get(key), dict):
                node[key] = {}
            node = node[key]
        node[keys[-1]] = value
    return data, problems

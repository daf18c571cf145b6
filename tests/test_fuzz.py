"""Fuzzed malformed recipes: each one exits 2 with a message naming the file and the key, no
traceback, no MLflow run created and nothing executed."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kerasnets.cli import main
from kerasnets.recipe import Recipe

SECTIONS = [name for name in Recipe.model_fields if name != "description"]
TEXT = st.text(min_size=1, max_size=30)
JUNK = st.one_of(
    st.lists(st.integers(), min_size=1, max_size=3),
    st.dictionaries(TEXT, st.integers(), min_size=1, max_size=2),
)

# (dotted key, strategy of invalid values for it)
BAD_VALUES = [
    (
        "train.epochs",
        st.one_of(
            st.integers(max_value=0),
            st.integers(min_value=1_000_001),
            TEXT.filter(lambda s: not s.strip().lstrip("+-").isdigit()),
            JUNK,
        ),
    ),
    ("optimizer.learning_rate", st.one_of(st.floats(max_value=0), st.just("fast"), JUNK)),
    (
        "data.validation_split",
        st.one_of(st.floats(min_value=1.0, allow_infinity=False), st.floats(max_value=-1e-9)),
    ),
    (
        "data.batch_size",
        st.one_of(st.integers(max_value=0), st.integers(min_value=10_000_001), st.just("half")),
    ),
    ("regularization.dropout", st.floats(min_value=1.0, max_value=1e308)),
    ("regularization.kernel.l2", st.one_of(st.floats(max_value=-1e-12), st.just("lots"))),
    (
        "model.name",
        st.one_of(
            st.just(""),
            st.text(min_size=1, max_size=50).filter(lambda s: s.strip() not in ("lenet5", "mlp")),
            st.just("x" * 100_000),
        ),
    ),
    ("optimizer.name", st.one_of(st.just(""), st.sampled_from(["adamx", "sgdd", "Adam", "momentum"]))),
    ("data.dataset", st.one_of(st.just(""), st.sampled_from(["mnsit", "cifar", "imagenet", "ＭＮＩＳＴ"]))),
    ("schedule.name", st.sampled_from(["cosin", "linear", "", "plateaux"])),
    ("train.loss", st.sampled_from(["hinge", "", "crossentropy"])),
    ("data.image_size", st.one_of(st.just([32]), st.just([0, 32]), st.just([99999, 99999]), st.just("big"))),
    ("optimizer.momentum", st.one_of(st.floats(min_value=1.0, allow_infinity=False), st.just("high"))),
    ("tracking.experiment", st.one_of(st.just(""), st.just("e" * 1000))),
]


def _set(tree: dict, dotted: str, value) -> dict:
    node = tree
    *parents, last = dotted.split(".")
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value
    return tree


def _misspell(name: str, i: int) -> str:
    i %= len(name)
    return name[:i] + ("x" if name[i] != "x" else "y") + name[i + 1 :]


unknown_key = st.builds(
    lambda key: yaml.safe_dump({key: 1}, allow_unicode=True),
    st.text(min_size=1, max_size=20).filter(lambda k: k not in Recipe.model_fields and k != "extends"),
)
misspelled_key = st.builds(
    lambda section, i: yaml.safe_dump({_misspell(section, i): {}}),
    st.sampled_from(SECTIONS),
    st.integers(0, 20),
)
misspelled_nested = st.builds(
    lambda section, key, i: yaml.safe_dump({section: {_misspell(key, i): 1}}),
    st.sampled_from(["train", "optimizer", "data", "schedule", "tracking"]),
    st.sampled_from(["epochs", "learning_rate", "batch_size", "name", "experiment"]),
    st.integers(0, 20),
)
bad_value = st.one_of(
    *[
        st.builds(lambda v, k=key: yaml.safe_dump(_set({}, k, v), allow_unicode=True), values)
        for key, values in BAD_VALUES
    ]
)
wrong_section_type = st.builds(
    lambda section, junk: yaml.safe_dump({section: junk}),
    st.sampled_from([s for s in SECTIONS if s not in ("augment", "augment_batch")]),
    st.one_of(st.integers(), TEXT, st.lists(st.integers(), min_size=1)),
)
broken_yaml = st.sampled_from(
    [
        "data: {dataset: digits",
        "model: [",
        "a: b: c",
        "train:\n\t- epochs",
        "{{}}",
        "key: 'unterminated",
        "- [1, 2\n- 3",
        "? [a\n",
    ]
)
python_tags = st.sampled_from(
    [
        "model: !!python/object/apply:os.system ['touch /tmp/kerasnets-pwned']",
        "!!python/name:os.system",
        "train: !!python/object/new:type ['x', [], {}]",
        "data: !!python/module:os",
        "optimizer: !!binary aGVsbG8=",
    ]
)
not_a_mapping = st.one_of(
    st.lists(st.integers(), min_size=1), st.integers(), TEXT.filter(lambda s: ":" not in s)
).map(lambda v: yaml.safe_dump(v, allow_unicode=True))
random_unicode = st.text(min_size=1, max_size=200).filter(lambda s: not _valid_yaml_mapping(s))


def _valid_yaml_mapping(text: str) -> bool:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    return data is None or (isinstance(data, dict) and not data)


MALFORMED = st.one_of(
    unknown_key,
    misspelled_key,
    misspelled_nested,
    bad_value,
    wrong_section_type,
    broken_yaml,
    python_tags,
    not_a_mapping,
    random_unicode,
)


@pytest.fixture
def nothing_runs(monkeypatch, tmp_path):
    """Any training attempt fails the test; the store points at a folder that must stay empty."""
    from kerasnets.train import loop

    def forbidden(*args, **kwargs):
        raise AssertionError("a malformed recipe reached training")

    monkeypatch.setattr(loop, "run", forbidden)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path}/store/mlflow.db")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=MALFORMED)
def test_malformed_recipes_exit_2_naming_file_and_key(text, nothing_runs, capsys):
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        code = main(["run", str(path)])
        captured = capsys.readouterr()
    assert code == 2, (text, captured)
    err = captured.err
    first, *rest = err.splitlines()
    assert first.startswith(f"{path}: ") and "problem" in first, err
    assert rest and all(":" in line for line in rest), err
    assert "Traceback" not in err
    assert not (nothing_runs / "store").exists() and not (nothing_runs / "mlruns").exists()
    assert not Path("/tmp/kerasnets-pwned").exists()

"""``benchmarks/gpu_check.py``: its table, and the whole check in ``--quick`` mode on whatever
device the tests run on (a CPU here: no GPU is needed)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_check.py"


def _load_gpu_check():
    name = "kerasnets_gpu_check"
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses look their module up while the class is built
        spec.loader.exec_module(module)
    return sys.modules[name]


check = _load_gpu_check()
LABELS = [arch.label for arch in check.ARCHITECTURES]


def table_rows(text: str) -> dict[str, list[str]]:
    """Architecture label -> the cells after it, for the lines of ``text`` that start with one."""
    rows = {}
    for line in text.splitlines():
        for label in LABELS:
            if line.startswith(label + " "):
                rows[label] = re.split(r"\s{2,}", line[len(label) :].strip())
    return rows


def is_rate(cell: str) -> bool:
    return re.fullmatch(r"\d[\d,]*(\.\d+)?", cell) is not None and float(cell.replace(",", "")) > 0


def test_every_architecture_is_a_row_with_its_rates_and_notes():
    rows = [
        check.Row("LeNet-5", (32, 32, 1), 256, {(1, "synthetic"): 123456.7, (1, "in-memory"): 98.76}),
        check.Row("VGG-16", (224, 224, 3), None, note="skipped (--quick)"),
        check.Row("ResNet-50", (224, 224, 3), 128, {(2, "folder"): "failed: ResourceExhaustedError"}),
    ]
    text = check.format_table(rows, (1, 2))
    header, rule, *lines, unit = text.splitlines()
    assert header.split("  ")[0] == "architecture" and "folder (2 GPUs)" in header
    assert "synthetic (1 GPU)" in header and set(rule) == {"-"} and unit == "(training images/s)"
    assert len({len(header), len(rule), *map(len, lines)}) == 1  # aligned
    cells = table_rows(text)
    assert cells["LeNet-5"][:5] == ["32x32x1", "256", "123,457", "98.8", "-"]
    assert cells["VGG-16"] == ["224x224x3", "-"] + ["skipped (--quick)"] * 6
    assert cells["ResNet-50"][-1] == "failed: ResourceExhaustedError"
    assert "synthetic (CPU)" in check.format_table(rows, (1,), "CPU")


def test_the_device_line_says_which_columns_there_are():
    assert check.device_line(0) == "no GPU: CPU figures"
    assert check.device_line(1) == "1 GPU: no 2-GPU column"
    assert "MirroredStrategy" in check.device_line(2)


def test_quick_check_prints_a_row_per_architecture_with_images_per_second():
    """The whole script, tiny sizes (30-45 s on a busy 2-core CPU)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KERASNETS_OFFLINE": "1"}
    command = [sys.executable, str(SCRIPT), "--quick"]
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "no GPU: CPU figures" in out or "GPU" in out.splitlines()[0]
    assert "resolve_runtime defaults on" in out and "mixed precision" in out and "XLA" in out
    rows = table_rows(out)
    assert set(rows) == set(LABELS)
    for label in ("LeNet-5", "ResNet-20"):
        rates = rows[label][2:]
        assert rates and all(is_rate(cell) for cell in rates), (label, rows[label])
    for label in ("ResNet-50", "VGG-16"):
        assert all(cell == "skipped (--quick)" for cell in rows[label][2:]), rows[label]
    assert re.search(r"fashion_mnist_resnet20\.yaml .*(test accuracy \d\.\d{4}|not trained)", out), out

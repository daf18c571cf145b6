"""Generated sequence data sets with a class at every output step (task ``seq2seq``).

Each keeps the pipeline's image layout: a sequence of ``T`` steps of ``F`` features is stored
as a one-channel uint8 "image" ``(N, T, F, 1)`` that ``data.layout: rows`` reads as ``(T, F)``;
one-hot tokens are 0 or 255 (``data.normalize: scale`` gives 0/1). Targets are int32 class
indices per output step, ``(N, T_out)``. Every set is registered with ``targets="steps"`` and a
``steps`` function, options -> ``(T_in, F, T_out)``, that validation reads without building data.

- ``digit_strings``: many-to-many. ``operation: reverse`` maps a string of ``length`` digits to
  the same digits reversed; ``add`` maps ``"a+b"`` (two ``length``-digit numbers, leading zeros,
  11 tokens) to their sum in ``length + 1`` digits (``"123+456"`` -> ``"0579"``).
- ``counting``: one-to-many. One input vector (a one-hot start digit and a one-hot step) maps
  to ``length`` digits counting from the start by the step, modulo 10 (``3, 2`` -> ``3 5 7 9 1``).
- ``ecg_like``: a synthetic electrocardiogram (sums of Gaussian P, Q, R, S and T waves on a
  wandering baseline, a heart rate and rhythm that vary, premature ventricular beats without
  a P wave) labelled at every sample: baseline, P wave, QRS complex or T wave.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from kerasnets.data.base import DATASETS, RawData
from kerasnets.errors import DataError

DIGITS = [str(d) for d in range(10)]
PLUS = 10  # the '+' token of digit_strings' add inputs
ECG_CLASSES = ["baseline", "p_wave", "qrs", "t_wave"]


def one_hot_steps(tokens: np.ndarray, vocabulary: int) -> np.ndarray:
    """Tokens ``(N, T)`` -> one-hot uint8 "images" ``(N, T, vocabulary, 1)`` of 0 and 255."""
    return (np.eye(vocabulary, dtype=np.uint8)[tokens] * 255)[..., None]


def _digits(numbers: np.ndarray, width: int) -> np.ndarray:
    """Integers ``(N,)`` -> their decimal digits ``(N, width)``, most significant first."""
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    return (numbers[:, None] // powers % 10).astype(np.int32)


def _check(name: str, problems: dict[str, bool], given: dict[str, Any]) -> None:
    bad = [rule for rule, broken in problems.items() if broken]
    if bad:
        shown = ", ".join(f"{k}={v}" for k, v in given.items())
        raise DataError(f"data set {name!r} needs {', '.join(bad)}, got {shown}")


# ----------------------------------------------------------------------------- digit strings


def digit_string_steps(options: dict[str, Any]) -> tuple[int, int, int]:
    """``(T_in, F, T_out)`` of ``digit_strings`` for resolved ``options``."""
    length = int(options["length"])
    if options["operation"] == "add":
        return 2 * length + 1, 11, length + 1
    return length, 10, length


def distinct(rng: np.random.Generator, count: int, population: int) -> np.ndarray:
    """``count`` integers below ``population``, all different while there are enough (so no
    example of the test split repeats one of the training split), else drawn with replacement."""
    return rng.choice(population, size=count, replace=count > population).astype(np.int64)


def make_digit_strings(
    num_samples: int, length: int, operation: str, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(input tokens ``(N, T_in)``, input "images" ``(N, T_in, F, 1)``, targets ``(N, T_out)``);
    the inputs are all different while ``num_samples`` allows."""
    rng = np.random.default_rng(seed)
    if operation == "reverse":
        tokens = _digits(distinct(rng, num_samples, 10**length), length)
        return tokens, one_hot_steps(tokens, 10), tokens[:, ::-1].copy()
    a, b = np.divmod(distinct(rng, num_samples, 10 ** (2 * length)), 10**length)
    plus = np.full((num_samples, 1), PLUS, np.int32)
    tokens = np.concatenate([_digits(a, length), plus, _digits(b, length)], axis=1)
    return tokens, one_hot_steps(tokens, 11), _digits(a + b, length + 1)


@DATASETS.register("digit_strings", classes=10, shape=None, targets="steps", steps=digit_string_steps)
def digit_strings(
    search: list[Path],
    image_size: tuple[int, int] | None = None,
    num_samples: int = 4000,
    length: int = 5,
    operation: Literal["reverse", "add"] = "reverse",
    seed: int = 0,
) -> RawData:
    """Generated digit strings (no files), one-hot tokens in, a digit per output step out:
    ``reverse`` gives the ``length`` digits back to front, ``add`` the sum of two ``length``-digit
    numbers written ``a+b`` (``length + 1`` digits, leading zeros). Inputs are all different
    while there are enough (``10**length`` strings, ``10**(2*length)`` sums), so test inputs are
    never seen in training. The same ``seed`` gives the same data; the test split comes from
    ``data.test_split``."""
    _check(
        "digit_strings",
        {"num_samples >= 2": num_samples < 2, "length from 1 to 9": not 1 <= length <= 9},
        {"num_samples": num_samples, "length": length},
    )
    _, inputs, targets = make_digit_strings(num_samples, length, operation, seed)
    return RawData(
        inputs, targets, list(DIGITS), source=f"generated (seed {seed}), {operation} {length} digits"
    )


# ----------------------------------------------------------------------------- counting


def counting_steps(options: dict[str, Any]) -> tuple[int, int, int]:
    """``(T_in, F, T_out)`` of ``counting``: one step of 20 features in."""
    return 1, 20, int(options["length"])


def make_counting(num_samples: int, length: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(starts ``(N,)``, steps ``(N,)``, targets ``(N, length)``): ``(start + t * step) % 10``."""
    rng = np.random.default_rng(seed)
    start, step = (rng.integers(0, 10, size=num_samples) for _ in range(2))
    targets = (start[:, None] + np.arange(length)[None] * step[:, None]) % 10
    return start, step, targets.astype(np.int32)


@DATASETS.register("counting", classes=10, shape=None, targets="steps", steps=counting_steps)
def counting(
    search: list[Path],
    image_size: tuple[int, int] | None = None,
    num_samples: int = 2000,
    length: int = 8,
    seed: int = 0,
) -> RawData:
    """Generated one-to-many data (no files): one input vector, a one-hot start digit followed
    by a one-hot step (20 features, one time step), and ``length`` output digits counting from
    the start by the step modulo 10. There are 100 different inputs, so the test split holds
    inputs seen in training: it shows a decoder unrolling a sequence, not generalisation."""
    _check(
        "counting",
        {"num_samples >= 2": num_samples < 2, "length from 1 to 100": not 1 <= length <= 100},
        {"num_samples": num_samples, "length": length},
    )
    start, step, targets = make_counting(num_samples, length, seed)
    vector = np.concatenate([np.eye(10, dtype=np.uint8)[start], np.eye(10, dtype=np.uint8)[step]], axis=1)
    inputs = (vector * 255)[:, None, :, None]  # (N, 1, 20, 1)
    return RawData(inputs, targets, list(DIGITS), source=f"generated (seed {seed}), count {length} steps")


# ----------------------------------------------------------------------------- ECG-like signals

#: Wave -> (label, offset from the R peak in s, amplitude in mV, width sigma in s) of a normal
#: beat; a premature ventricular beat has no P wave, one wide QRS and an inverted T wave.
NORMAL_BEAT = {"p": (1, -0.16, 0.15, 0.022), "q": (2, -0.03, -0.12, 0.010), "r": (2, 0.0, 1.0, 0.011),
               "s": (2, 0.03, -0.25, 0.010), "t": (3, 0.28, 0.32, 0.045)}  # fmt: skip
ECTOPIC_BEAT = {"r": (2, 0.0, 1.1, 0.030), "t": (3, 0.32, -0.35, 0.055)}
#: A sample belongs to a wave within this many sigmas of its centre (2.5: 4% of its peak).
WAVE_EXTENT = 2.5
ECG_SCALE = 64.0  # uint8 levels per mV (0 mV at 128): an 8-bit converter's ~16 uV steps, +-2 mV


def ecg_steps(options: dict[str, Any]) -> tuple[int, int, int]:
    """``(T_in, F, T_out)`` of ``ecg_like``: one lead, a label per sample."""
    return int(options["length"]), 1, int(options["length"])


def _beat_times(rng: np.random.Generator, duration: float, ectopic: float) -> list[tuple[float, bool]]:
    """R-peak times (s) and whether each beat is ectopic, from 60-110 bpm with 4% jitter;
    an ectopic beat comes 35% early and is followed by a compensatory pause."""
    rr = 60.0 / rng.uniform(60, 110)
    t, beats = rng.uniform(-rr, 0), []
    while t < duration + 0.5:
        early = bool(beats) and rng.random() < ectopic
        t += rr * rng.normal(1.0, 0.04) * (0.65 if early else 1.0)
        beats.append((t, early))
        if early:
            t += 0.35 * rr  # the compensatory pause
    return beats


def make_ecg(
    num_samples: int, length: int, rate: float, noise: float, ectopic: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Signals ``(N, length)`` in mV and labels ``(N, length)`` (see ``ecg_like``)."""
    rng = np.random.default_rng(seed)
    time = np.arange(length) / rate
    signals = np.zeros((num_samples, length))
    labels = np.zeros((num_samples, length), np.int32)
    for n in range(num_samples):
        wander = 0.1 * np.sin(2 * np.pi * rng.uniform(0.1, 0.4) * time + rng.uniform(0, 2 * np.pi))
        signal = wander + rng.normal(0.0, noise, length)
        gain = rng.uniform(0.7, 1.3)
        for peak, early in _beat_times(rng, length / rate, ectopic):
            for label, offset, amplitude, sigma in (ECTOPIC_BEAT if early else NORMAL_BEAT).values():
                centre = peak + offset
                signal += gain * amplitude * np.exp(-0.5 * ((time - centre) / sigma) ** 2)
                labels[n][np.abs(time - centre) <= WAVE_EXTENT * sigma] = label
        signals[n] = signal
    return signals, labels


@DATASETS.register("ecg_like", classes=4, shape=None, targets="steps", steps=ecg_steps)
def ecg_like(
    search: list[Path],
    image_size: tuple[int, int] | None = None,
    num_samples: int = 1000,
    length: int = 256,
    rate: float = 100.0,
    noise: float = 0.03,
    ectopic: float = 0.1,
    seed: int = 0,
) -> RawData:
    """Generated one-lead ECG-like signals (no files), ``length`` samples at ``rate`` Hz, each
    sample labelled baseline (0), P wave (1), QRS complex (2) or T wave (3): the per-sample
    delineation of ECG segmentation networks. Beats are sums of Gaussians (P, Q, R, S, T) at
    60-110 bpm with beat-to-beat jitter and a random gain, on a slow baseline wander, with
    gaussian noise of ``noise`` mV; a share ``ectopic`` of beats are premature ventricular
    beats (early, no P wave, a wide QRS, an inverted T wave). Stored as 8-bit samples
    (64 levels per mV, 0 mV at 128). The same ``seed`` gives the same data."""
    _check(
        "ecg_like",
        {
            "num_samples >= 2": num_samples < 2,
            "length from 16 to 100000": not 16 <= length <= 100_000,
            "rate from 50 to 1000 Hz": not 50 <= rate <= 1000,
            "noise from 0 to 0.5 mV": not 0 <= noise <= 0.5,
            "ectopic from 0 to 0.5": not 0 <= ectopic <= 0.5,
        },
        {"num_samples": num_samples, "length": length, "rate": rate, "noise": noise, "ectopic": ectopic},
    )
    signals, labels = make_ecg(num_samples, length, rate, noise, ectopic, seed)
    samples = np.clip(np.rint(128 + ECG_SCALE * signals), 0, 255).astype(np.uint8)
    return RawData(samples[:, :, None, None], labels, list(ECG_CLASSES), source=f"generated (seed {seed})")

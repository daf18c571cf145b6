"""``--workers N``: keras-tuner's own distributed mode on this machine.

The oracle (keras-tuner's "chief") runs in a thread of this process and serves trials over
gRPC on 127.0.0.1; N worker processes (``kerasnets tune SWEEP --worker``) each ask it for a
trial, train it with ``loop.run`` and report back. With GPUs, worker i sees GPU i mod #GPUs
only (``CUDA_VISIBLE_DEVICES``). The workers write to the same tracking store as a single
process would: SQLite in WAL mode with retried writes (see README, "Sweeps").

Workers started elsewhere (other hosts, ``KERASTUNER_ORACLE_IP``/``PORT`` set) join the same
oracle; the chief waits until every trial has ended, theirs included, before the report.
``--workers 0`` runs the chief alone: the oracle only, for workers on other hosts.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

CHIEF_ENV = ("KERASTUNER_TUNER_ID", "KERASTUNER_ORACLE_IP", "KERASTUNER_ORACLE_PORT")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gpu_ids() -> list[str]:
    """The GPUs workers may use: CUDA_VISIBLE_DEVICES if set, else those nvidia-smi lists."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return [g for g in visible.split(",") if g.strip() and g.strip() != "-1"]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(out.stdout.splitlines()) if line.startswith("GPU ")]


def worker_command(
    sweep_path: Path, overrides: list[str], max_trials: int | None, data_dir: str | None
) -> list[str]:
    command = [sys.executable, "-m", "kerasnets", "tune", str(sweep_path), "--worker"]
    for text in overrides:
        command += ["--set", text]
    if max_trials:
        command += ["--max-trials", str(max_trials)]
    if data_dir:
        command += ["--data-dir", str(data_dir)]
    return command


def run_with_workers(
    sweep,
    records,
    folder: Path,
    workers: int,
    overrides: list[str],
    *,
    max_trials: int | None = None,
    data_dir: str | None = None,
    echo: Callable[[str], None] = print,
):
    """Serve the oracle here, run ``workers`` local worker processes (0: none), then wait until
    every trial has ended, those of workers on other hosts included; returns the oracle (with
    every trial) for the report."""
    from kerasnets.tuning.tuner import make_tuner

    bind = os.environ.get("KERASNETS_ORACLE_BIND", "127.0.0.1")  # 0.0.0.0 for workers on other hosts
    port = os.environ.get("KERASNETS_ORACLE_PORT") or str(free_port())
    saved = {k: os.environ.get(k) for k in CHIEF_ENV}
    os.environ.update(
        {"KERASTUNER_TUNER_ID": "chief", "KERASTUNER_ORACLE_IP": bind, "KERASTUNER_ORACLE_PORT": port}
    )
    try:  # keras-tuner reads these variables at search time too
        chief = make_tuner(sweep, records, folder, max_trials=max_trials, data_dir=data_dir, echo=echo)
        server = threading.Thread(target=chief.search, kwargs={"verbose": 0}, daemon=True, name="oracle")
        server.start()  # serves until every worker has stopped; the thread dies with the process
        _run_workers(sweep, workers, port, overrides, max_trials, data_dir, echo)
        wait_for_trials(chief.oracle, server, echo)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return chief.oracle


def wait_for_trials(oracle, server: threading.Thread, echo: Callable[[str], None], poll: float = 0.5) -> None:
    """Join the oracle: return once the search is over and no worker has a trial in flight
    (a worker that died mid-trial holds it: Ctrl-C, then the same command continues)."""
    shown, last = None, 0.0
    while not oracle.all_trials_ended():
        if not server.is_alive() and not oracle.all_trials_ended():
            from kerasnets.errors import KerasnetsError

            raise KerasnetsError("the oracle server stopped before the search ended")
        running = oracle.running_on()
        if running and (running != shown or time.monotonic() - last > 60):
            echo(f"  waiting for trials in flight: {', '.join(running)}")
            shown, last = running, time.monotonic()
        time.sleep(poll)


def _run_workers(
    sweep,
    workers: int,
    port: str,
    overrides: list[str],
    max_trials: int | None,
    data_dir: str | None,
    echo: Callable[[str], None],
) -> None:
    gpus = gpu_ids()
    echo(
        f"  oracle on {os.environ['KERASTUNER_ORACLE_IP']}:{port}; {workers} local workers"
        + (f" on GPUs {', '.join(gpus)}" if gpus else "")
        + ("; waiting for workers started elsewhere" if workers == 0 else "")
    )
    command = worker_command(sweep.path, overrides, max_trials, data_dir)
    processes = []
    for i in range(workers):
        env = {
            **os.environ,
            "KERASTUNER_TUNER_ID": f"tuner{i}",
            "KERASTUNER_ORACLE_IP": "127.0.0.1",
            "KERASTUNER_ORACLE_PORT": port,
        }
        if gpus:
            env["CUDA_VISIBLE_DEVICES"] = gpus[i % len(gpus)]
        processes.append(subprocess.Popen(command, env=env))
    try:
        codes = [p.wait() for p in processes]
    except KeyboardInterrupt:
        for p in processes:
            p.terminate()  # SIGTERM: each worker ends its running trial's run KILLED
        for p in processes:
            p.wait()
        raise
    failed = [f"tuner{i} (exit {c})" for i, c in enumerate(codes) if c != 0]
    if failed:
        from kerasnets.errors import KerasnetsError

        raise KerasnetsError(f"workers failed: {', '.join(failed)}; run the same command to continue")

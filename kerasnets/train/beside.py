"""Work that prepares logging without holding up training, done in one worker thread while
``fit`` runs.

``fit`` spends most of its time in TensorFlow's runtime with the GIL released, so short Python
work in another thread (the model summary's per-layer table, the data sets' content digests,
whose hashing releases the GIL) can use a core that training leaves idle; the logging itself
is the tracking process's (``kerasnets.tracking_process``). Each job's trouble is a warning,
never a failed run (logging must never kill training).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

log = logging.getLogger("kerasnets")


class Beside:
    """One worker thread; ``submit`` jobs, ``wait`` for them before the run ends. A context
    manager: on an error the jobs not yet started are dropped and the thread is not waited for."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kerasnets-beside")
        self._jobs: list[tuple[str, Future]] = []

    def submit(self, what: str, fn: Callable[..., Any], *args: Any) -> None:
        self._jobs.append((what, self._pool.submit(fn, *args)))

    def wait(self) -> None:
        """Block until every submitted job is done; a failed job is a warning."""
        jobs, self._jobs = self._jobs, []
        for what, job in jobs:
            try:
                job.result()
            except Exception as exc:  # noqa: BLE001 - logging must never kill training
                log.warning("MLflow: could not %s: %s", what, exc)

    def close(self) -> None:
        """``wait``, then end the thread."""
        self.wait()
        self._pool.shutdown()

    def __enter__(self) -> Beside:
        return self

    def __exit__(self, exc_type, exc, tb) -> bool:
        if exc_type is None:
            self.close()
        else:
            self._pool.shutdown(wait=False, cancel_futures=True)
        return False

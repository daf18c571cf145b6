"""Hide TensorFlow's native start-up chatter (absl/oneDNN/CUDA-probe lines written straight to
file descriptor 2, which TF 2.21 no longer filters by ``TF_CPP_MIN_LOG_LEVEL``)."""

from __future__ import annotations

import contextlib
import os
import sys
import tempfile
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced() -> Iterator[None]:
    """Send fd 2 to a temporary file within the block; replay it if the block raises."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (embedded, captured): nothing to do
        yield
        return
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        except BaseException:
            os.dup2(saved, 2)
            sink.seek(0)
            os.write(2, sink.read())
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


def import_tensorflow_quietly() -> None:
    """Import TensorFlow (and probe devices) with its native start-up lines hidden."""
    if os.environ.get("KERASNETS_TF_LOGS"):
        return
    with native_stderr_silenced():
        import tensorflow as tf

        tf.config.list_physical_devices("GPU")

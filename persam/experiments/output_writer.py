"""Write a run's outputs (mask PNGs, overlay JPEGs) on a background thread, so that encoding the next image
overlaps writing the last one's files.

    with OutputWriter() as writer:
        writer.submit(write_mask, path, mask)   # returns at once (blocks only while the queue is full)
    # leaving the block waits for every submitted write and re-raises the first error

Work items run in submission order on one thread; the queue is bounded (``max_pending``), so a slow disk
holds the producer back instead of piling up images in memory. After the first error the items still
queued are skipped (the run is failing), and that error is re-raised, with its original traceback, by the
next ``submit``, ``flush`` or ``close``.

PNG and JPEG encoding (OpenCV, Pillow) release the GIL, so on a 2-core machine the writes run beside the
encoder instead of after it.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

_STOP = object()


class OutputWriter:
    """One background thread running submitted ``fn(*args, **kwargs)`` calls in order."""

    def __init__(self, max_pending: int = 8) -> None:
        if max_pending < 1:
            raise ValueError(f"max_pending must be at least 1, got {max_pending}")
        self._queue: queue.Queue = queue.Queue(maxsize=max_pending)
        self._error: BaseException | None = None
        self._failed = False
        self._closed = False
        self._thread = threading.Thread(target=self._work, name="persam-output-writer", daemon=True)
        self._thread.start()

    def _work(self) -> None:
        while True:
            item = self._queue.get()
            try:
                if item is _STOP:
                    return
                fn, args, kwargs = item
                if not self._failed:  # after the first error, drain without writing more
                    fn(*args, **kwargs)
            except BaseException as error:  # noqa: BLE001 - handed to the producer, not swallowed
                self._failed, self._error = True, error
            finally:
                self._queue.task_done()

    def _raise_pending(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def submit(self, fn: Callable, *args, **kwargs) -> None:
        """Queue ``fn(*args, **kwargs)``; raises the first error of an earlier item, if one failed."""
        if self._closed:
            raise RuntimeError("OutputWriter.submit after close")
        self._raise_pending()
        self._queue.put((fn, args, kwargs))

    def flush(self) -> None:
        """Wait until every submitted item has run; re-raise the first error."""
        self._queue.join()
        self._raise_pending()

    def close(self) -> None:
        """Wait for every submitted item, stop the thread and re-raise the first error (idempotent)."""
        if not self._closed:
            self._closed = True
            self._queue.put(_STOP)
            self._thread.join()
        self._raise_pending()

    def __enter__(self) -> OutputWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
            return
        try:  # the block's own error wins; still wait for the thread
            self.close()
        except BaseException:  # noqa: BLE001
            pass

"""The one way a long-lived background thread is written here: a daemon thread with a stop event."""

from __future__ import annotations

import threading
from typing import Self


class BackgroundThread:
    """Runs `_run` on a daemon thread between `start()` and `stop()` (or for a `with` block).

    `_run` loops until `self._stop` is set; it waits on the event rather than sleeping, so `stop()` is
    prompt. `stop()` joins for at most `join_timeout` seconds (a daemon thread never holds up the
    process's exit) and may be called whether or not the thread was started, and more than once.
    A thread runs once: make a new object to run again.
    """

    join_timeout: float = 10.0

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.ident is not None:  # started (joining a thread never started raises)
            self._thread.join(timeout=self.join_timeout)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        raise NotImplementedError

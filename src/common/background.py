"""A background thread that lives for the length of a `with` block."""

from __future__ import annotations

import threading
from typing import Self


class BackgroundThread:
    """Runs `_run` on a daemon thread from `__enter__` to `__exit__`. `_run` loops until
    `self._stop` is set (wait on it rather than sleep, so the exit is prompt)."""

    join_timeout: float = 10.0

    def __init__(self, name: str) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=self.join_timeout)

    def _run(self) -> None:
        raise NotImplementedError

"""Structured JSON logs: one object per line, each carrying the request id of the request it belongs to.

Records go through a buffer to one writer thread: a request pays for appending a record, not for
JSON formatting and a write to stderr (tens of microseconds, more than the scoring itself costs
when the process wakes up cold). The writer drains the buffer a few times a second instead of being
woken per record: no lock or thread wake-up on the request path.
"""

from __future__ import annotations

import atexit
import json
import logging
import logging.handlers
import queue
import sys
import time
from collections import deque
from contextvars import ContextVar
from typing import Any

_request_id: ContextVar[str] = ContextVar("fraudlake_request_id", default="")
# LogRecord attributes that are not "extra" fields worth emitting.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {
    "message",
    "asctime",
    "taskName",
    "color_message",
}


def current_request_id() -> str:
    """The id of the request being handled ('' outside a request)."""
    return _request_id.get()


def set_request_id(request_id: str) -> None:
    _request_id.set(request_id)


class JsonFormatter(logging.Formatter):
    """`{"ts", "level", "logger", "message", "request_id", ...extra}` on one line."""

    def format(self, record: logging.LogRecord) -> str:
        body: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        request_id = getattr(record, "request_id", None) or current_request_id()
        if request_id:
            body["request_id"] = request_id
        body.update({k: v for k, v in vars(record).items() if k not in _STANDARD and k != "request_id"})
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str)


class _RecordBuffer:
    """A bounded FIFO from request threads to the writer thread that never wakes the writer: `put_nowait`
    is a deque append (atomic under the GIL: no lock, no futex wake), and the writer's `get` polls
    every `poll_seconds` while the buffer is empty. The stop sentinel is always let through."""

    def __init__(self, maxsize: int, poll_seconds: float = 0.05) -> None:
        self._records: deque[logging.LogRecord | None] = deque()
        self.maxsize, self.poll_seconds = maxsize, poll_seconds

    def put_nowait(self, record: logging.LogRecord | None) -> None:
        if record is not None and len(self._records) >= self.maxsize:
            raise queue.Full
        self._records.append(record)

    def get(self, block: bool = True) -> logging.LogRecord | None:
        while True:
            try:
                return self._records.popleft()
            except IndexError:
                if not block:
                    raise queue.Empty from None
                time.sleep(self.poll_seconds)

    def get_nowait(self) -> logging.LogRecord | None:
        return self.get(block=False)


class _RequestQueueHandler(logging.handlers.QueueHandler):
    """Enqueues records for the writer thread, with what only the calling thread knows resolved now:
    the request id (a context variable) and the message (its arguments may change later).
    Formatting is left to the writer (the stdlib's `prepare` would format here, on the request path).

    The buffer is bounded: when the writer cannot keep up (stderr blocked by a stalled log pipe), new
    records are dropped and counted rather than held in memory without limit or stalling requests;
    the next record that fits is preceded by a warning with the count."""

    def __init__(self, records: _RecordBuffer) -> None:
        super().__init__(records)
        self.dropped = 0

    def enqueue(self, record: logging.LogRecord) -> None:
        try:
            if self.dropped:
                self.queue.put_nowait(self._dropped_notice())
                self.dropped = 0
            self.queue.put_nowait(record)
        except queue.Full:
            self.dropped += 1

    def _dropped_notice(self) -> logging.LogRecord:
        return logging.LogRecord(
            __name__, logging.WARNING, __file__, 0,
            f"{self.dropped} log records dropped: the log writer fell behind", None, None,
        )  # fmt: skip

    def prepare(self, record: logging.LogRecord) -> logging.LogRecord:
        if not getattr(record, "request_id", None):
            record.request_id = current_request_id()
        record.msg, record.args = record.getMessage(), None
        return record


_listener: logging.handlers.QueueListener | None = None


def _stop_writer() -> None:
    """Write what is queued and end the writer thread."""
    global _listener
    if _listener is not None:
        _listener.stop()
        _listener = None


def configure_logging(level: str = "INFO", queue_size: int = 100_000) -> None:
    """Route the API's, uvicorn's and the libraries' logs through one JSON writer thread to stderr
    (at most `queue_size` records waiting)."""
    global _listener
    _stop_writer()  # reconfigured: the previous writer flushes what it holds first
    records = _RecordBuffer(queue_size)
    writer = logging.StreamHandler(sys.stderr)
    writer.setFormatter(JsonFormatter())
    _listener = logging.handlers.QueueListener(records, writer)
    _listener.start()
    atexit.unregister(_stop_writer)
    atexit.register(_stop_writer)  # the last lines are written before the process ends
    # The JSON lines carry no caller, thread or process fields, so records need not collect them
    # (the logging HOWTO's "Optimization"): finding the caller alone walks the stack on every call.
    logging._srcfile = None
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    root = logging.getLogger()
    root.handlers[:] = [_RequestQueueHandler(records)]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    # The middleware writes one access line per request with the request id; uvicorn's would repeat it.
    logging.getLogger("uvicorn.access").disabled = True

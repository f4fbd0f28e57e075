"""How task code tells Airflow that a failure is permanent.

Retries help with a broker restart or a busy ClickHouse, never with bad data or too little of it:
those fail the task at once with their message, so a run is not held for the retry delay only to
fail the same way again.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def fail_without_retry(*permanent: type[BaseException]) -> Iterator[None]:
    """Re-raise any of the `permanent` exception types as AirflowFailException (no retries);
    every other exception keeps the task's retry policy. A context manager or a decorator."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        yield
    except permanent as exc:
        raise AirflowFailException(str(exc)) from exc

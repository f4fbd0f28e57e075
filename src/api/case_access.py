"""How the cases routes reach the pipeline's ClickHouse: one short-lived client per call, in a worker
thread (clickhouse-connect blocks), failures of ClickHouse as 503 `cases_unavailable`.

A dependency (`fraudlake.api.deps.Cases`) so tests can put a store of their own in its place.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import ClassVar, TypeVar

from fraudlake.api.errors import ApiError
from fraudlake.cases.store import CaseStore

T = TypeVar("T")


class CasesUnavailableError(ApiError):
    status_code, code = 503, "cases_unavailable"
    description = "No ClickHouse DSN configured, or ClickHouse did not answer: no cases to read."
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "30"}


class CaseAccess:
    """Runs a function of a `CaseStore` over the configured database."""

    def __init__(self, dsn: str, database: str):
        self.dsn, self.database = dsn, database

    async def run(self, work: Callable[[CaseStore], T]) -> T:
        return await asyncio.to_thread(self._run, work)

    def _run(self, work: Callable[[CaseStore], T]) -> T:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        from fraudlake.clickhouse.client import InvalidDsnError, connect

        try:
            client = connect(self.dsn)
        except (ClickHouseError, InvalidDsnError, OSError) as exc:
            raise CasesUnavailableError(f"cannot reach ClickHouse: {_first_line(exc)}") from None
        try:
            return work(CaseStore(client, self.database))
        except (ClickHouseError, OSError) as exc:
            raise CasesUnavailableError(f"ClickHouse failed the cases query: {_first_line(exc)}") from None
        finally:
            client.close()


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__

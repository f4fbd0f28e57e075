"""ClickHouse for the local stack: the real engine in-process through chDB (no server process).

Only one process may own a chDB data directory; the stack therefore records the DSN and leaves
opening it to the one process that needs it (the demo driver or the test session).
"""

from __future__ import annotations

import importlib.util

from rich.console import Console

from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.service import Service, ServiceRecord, StackContext


class ClickHouseService(Service):
    name = "clickhouse"
    summary = "ClickHouse engine via chDB (in-process; one owner per data directory)"

    def install(self, console: Console) -> None:
        if importlib.util.find_spec("chdb") is None:
            raise StackError("the chdb package is missing: install the project with `uv sync --extra dev`")

    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        path = ctx.data_dir(self.name)
        return ServiceRecord(self.name, endpoints={"dsn": f"chdb://{path}"})

    def healthy(self, record: ServiceRecord) -> bool:
        return True

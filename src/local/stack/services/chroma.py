"""ChromaDB for the local stack: the chromadb package's own server (`chroma run`), one store for all.

The API, Airflow tasks and tests reach it with ``chromadb.HttpClient`` instead of each opening an
embedded PersistentClient, so they see the same collections and never fight over the SQLite file.

Embeddings: ChromaDB's default embedding function downloads an ONNX model on first use, which
fails offline (and would silently pick a model we did not choose). Callers always pass explicit
embeddings, or an explicit embedding function (Bedrock Titan in production, the packaged MiniLM
offline); never rely on the collection default.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import httpx
from rich.console import Console

from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.process import free_port, wait_until
from fraudlake.local.stack.service import Service, ServiceRecord, StackContext

_START_TIMEOUT = 60.0


class ChromaService(Service):
    name = "chroma"
    summary = "ChromaDB server (`chroma run` from the chromadb package), persistent in the stack folder"

    def install(self, console: Console) -> None:
        if importlib.util.find_spec("chromadb") is None:
            raise StackError("the chromadb package is missing: run `uv sync --extra dev`")

    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        port = ctx.requested_ports.get(self.name) or free_port()
        url = f"http://127.0.0.1:{port}"
        log = ctx.log(self.name)
        argv = [
            _chroma_cli(),
            "run",
            "--path",
            str(ctx.data_dir(self.name)),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
        ]
        pid = ctx.spawn(self.name, argv, log, env={"ANONYMIZED_TELEMETRY": "False"})
        record = ServiceRecord(self.name, pids=[pid], endpoints={"url": url}, log=str(log))
        try:
            wait_until(self.name, lambda: _heartbeat(url), pid, log, _START_TIMEOUT, "for /api/v2/heartbeat")
        except BaseException:  # a failed start or Ctrl-C: nothing of it stays behind
            self.stop(record)
            raise
        return record

    def healthy(self, record: ServiceRecord) -> bool:
        try:
            return record.alive() and _heartbeat(record.endpoints["url"])
        except httpx.HTTPError:
            return False


def _chroma_cli() -> str:
    # The `chroma` entry point sits beside the interpreter that has chromadb installed.
    return str(Path(sys.executable).parent / "chroma")


def _heartbeat(url: str) -> bool:
    response = httpx.get(f"{url}/api/v2/heartbeat", timeout=5.0)
    return response.status_code == 200 and "nanosecond heartbeat" in response.json()

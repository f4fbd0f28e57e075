"""The local harness's commands, added to `fraudlake` through the ``fraudlake.cli`` entry point.

Besides `stack`, `demo`, `lake` and `clickhouse`, this plugin points the product's own commands at
a running local stack: when the stack's state file lists Kafka or MinIO, their endpoints become
the defaults of the settings the product reads (``FRAUDLAKE_KAFKA_BOOTSTRAP``, ``FRAUDLAKE_S3_*``),
exactly as a Kubernetes Deployment would pass them. Variables already set win.
"""

from __future__ import annotations

import os

import typer

from fraudlake.local.chdb_http.cli import clickhouse_app
from fraudlake.local.demo.cli import demo
from fraudlake.local.roundtrip.cli import lake_app
from fraudlake.local.stack.cli import stack_app
from fraudlake.local.stack.paths import default_stack_dir
from fraudlake.local.stack.service import StackContext


def register(app: typer.Typer) -> None:
    """Add the local commands and the local stack's endpoints as environment defaults."""
    app.add_typer(stack_app, name="stack")
    app.add_typer(lake_app, name="lake")
    app.add_typer(clickhouse_app, name="clickhouse")
    app.command("demo")(demo)
    for name, value in stack_environment().items():
        os.environ.setdefault(name, value)


def stack_environment() -> dict[str, str]:
    """The product settings a running default local stack answers: Kafka's bootstrap, MinIO's S3."""
    services = StackContext(default_stack_dir()).load_state()
    env = {}
    if kafka := services.get("kafka"):
        env["FRAUDLAKE_KAFKA_BOOTSTRAP"] = kafka.endpoints["bootstrap"]
    if minio := services.get("minio"):
        env["FRAUDLAKE_S3_ENDPOINT"] = minio.endpoints["url"]
        env["FRAUDLAKE_S3_ACCESS_KEY"] = minio.credentials["access_key"]
        env["FRAUDLAKE_S3_SECRET_KEY"] = minio.credentials["secret_key"]
    return env

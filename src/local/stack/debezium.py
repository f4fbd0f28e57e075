"""Debezium's PostgreSQL source connector as a plugin of the local Kafka Connect worker.

The connector and its runtime dependencies come from Maven Central (tools/debezium/pom.xml) into
~/.cache/fraudlake/debezium-postgres-<version>-<digest>/libs, a plugin folder the worker loads through
plugin.path beside the S3 Parquet sink, each in its own class loader. Debezium's jars carry ServiceLoader
manifests, so the worker's plugin.discovery=service_load finds the connector without a scan.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from fraudlake.local.stack.mavenlibs import MavenLibs, ensure_copied
from fraudlake.local.stack.paths import REPO_ROOT

DEBEZIUM_VERSION = "3.6.1.Final"  # in step with <debezium.version> in tools/debezium/pom.xml
DEBEZIUM_POM = REPO_ROOT / "tools" / "debezium" / "pom.xml"
POSTGRES_CONNECTOR_CLASS = "io.debezium.connector.postgresql.PostgresConnector"


def debezium_postgres_plugin() -> MavenLibs:
    return MavenLibs(
        name="debezium-postgres",
        version=DEBEZIUM_VERSION,
        pom=DEBEZIUM_POM,
        fetches=f"io.debezium:debezium-connector-postgres {DEBEZIUM_VERSION} (tools/debezium)",
    )


def plugin_libs(console: Console | None = None) -> Path:
    """The plugin's libs folder, copied from Maven Central on first use."""
    return ensure_copied(debezium_postgres_plugin(), console)

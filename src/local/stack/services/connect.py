"""Kafka Connect for the local stack: one distributed worker with Fraudlake's S3 Parquet sink plugin.

A distributed worker (not standalone) keeps connector configs, offsets and status in Kafka topics,
so a killed worker resumes where it stopped, as Strimzi's KafkaConnect does in Kubernetes. The
runtime is Kafka's own jars (tools/kafka/pom.xml); the sink connector (connectors/s3-parquet-sink, built
with Maven from Maven Central artifacts) and its dependencies are a separate plugin folder loaded through
plugin.path in its own class loader. Aiven's S3 sink, which the design first named, is not on Maven
Central; ours reads the same config keys (connectors/s3-parquet-sink/README.md).
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console

from fraudlake.lake.connector import S3_SINK_CLASS
from fraudlake.local.stack import debezium, jmx
from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.mavenlibs import MavenLibs, ensure_copied, java_command
from fraudlake.local.stack.paths import REPO_ROOT
from fraudlake.local.stack.process import ensure_port_free, free_port, stop_process_group, wait_until
from fraudlake.local.stack.service import ScrapeJob, Service, ServiceRecord, StackContext
from fraudlake.local.stack.services.kafka import (
    QUIET_LOGGERS,
    jmx_scrape_jobs,
    kafka_libs_dir,
    render_log4j2_properties,
    reusable_port,
)

S3_PARQUET_SINK_POM = REPO_ROOT / "connectors" / "s3-parquet-sink" / "pom.xml"

WORKER_HEAP = "1g"  # each open Parquet file is buffered in memory until it is stored
WORKER_GROUP_ID = "fraudlake-connect"
# The connectors a pipeline may ask for: the lake sink and the bank database's change data capture.
REQUIRED_PLUGINS = (S3_SINK_CLASS, debezium.POSTGRES_CONNECTOR_CLASS)
CONNECT_QUIET_LOGGERS = (*QUIET_LOGGERS, "org.apache.kafka.connect.runtime.isolation", "org.reflections")


def pom_version(pom: Path) -> str:
    """The project's own <version> in `pom` (the single place the connector's version is written)."""
    namespace = {"m": "http://maven.apache.org/POM/4.0.0"}
    element = ET.parse(pom).getroot().find("m:version", namespace)  # noqa: S314 - our own pom
    version = (element.text or "").strip() if element is not None else ""
    if not version:
        raise StackError(f"{pom} has no <version>")
    return version


def s3_parquet_sink_plugin() -> MavenLibs:
    """The sink connector's plugin folder: built from connectors/s3-parquet-sink on first use.

    Its jar carries a ServiceLoader manifest, so the worker finds it with plugin.discovery=service_load.
    """
    return MavenLibs(
        name="s3-parquet-sink",
        version=pom_version(S3_PARQUET_SINK_POM),
        pom=S3_PARQUET_SINK_POM,
        fetches="Parquet, hadoop-common and AWS SDK v2 jars for connectors/s3-parquet-sink/pom.xml",
        package_output="target/plugin",
    )


def render_worker_properties(
    bootstrap: str, rest_port: int, plugin_path: Path | Sequence[Path], group_id: str = WORKER_GROUP_ID
) -> str:
    """connect-distributed.properties of a single worker on loopback.

    JSON with embedded schemas on both converters: the S3 sink needs a schema to write Parquet.
    Internal topics have one replica (one broker); offsets are flushed every 5 s so that a killed
    worker replays little and tests see objects soon. `plugin_path`: one folder or several (each holds
    plugin folders).
    """
    homes = [plugin_path] if isinstance(plugin_path, Path) else list(plugin_path)
    settings = {
        "bootstrap.servers": bootstrap,
        "group.id": group_id,
        "key.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "key.converter.schemas.enable": "true",
        "value.converter.schemas.enable": "true",
        "config.storage.topic": f"{group_id}-configs",
        "offset.storage.topic": f"{group_id}-offsets",
        "status.storage.topic": f"{group_id}-status",
        "config.storage.replication.factor": 1,
        "offset.storage.replication.factor": 1,
        "status.storage.replication.factor": 1,
        "offset.storage.partitions": 5,
        "status.storage.partitions": 1,
        "offset.flush.interval.ms": 5000,
        "listeners": f"http://127.0.0.1:{rest_port}",
        "rest.advertised.host.name": "127.0.0.1",
        "rest.advertised.port": rest_port,
        "plugin.path": ",".join(str(home) for home in homes),
        # Every plugin has ServiceLoader manifests (Kafka's own, the sink's, Debezium's): no slow scan.
        "plugin.discovery": "service_load",
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


# --- the worker's REST API -------------------------------------------------------------------


def connector_plugins(rest: str) -> list[str]:
    """Classes of the connector plugins the worker has loaded."""
    return [plugin["class"] for plugin in _request("GET", f"{rest}/connector-plugins")]


def put_connector(rest: str, name: str, config: dict[str, str]) -> dict[str, Any]:
    """Create or update connector `name` (idempotent: PUT /connectors/<name>/config)."""
    return dict(_request("PUT", f"{rest}/connectors/{name}/config", config))


def validate_connector(rest: str, config: dict[str, str]) -> dict[str, list[str]]:
    """The errors the worker and the plugin find in `config`, by key ({} when it is valid).

    PUT /connector-plugins/<class>/config/validate: the same checks as creating the connector, without
    creating it.
    """
    plugin = config["connector.class"].rsplit(".", 1)[-1]
    answer = _request("PUT", f"{rest}/connector-plugins/{plugin}/config/validate", config)
    values = (entry["value"] for entry in answer["configs"])
    return {value["name"]: value["errors"] for value in values if value["errors"]}


def connector_status(rest: str, name: str) -> dict[str, Any]:
    return dict(_request("GET", f"{rest}/connectors/{name}/status"))


def delete_connector(rest: str, name: str) -> None:
    _request("DELETE", f"{rest}/connectors/{name}")


def _request(method: str, url: str, body: object = None) -> Any:
    data = json.dumps(body).encode() if body is not None else None
    headers = {"Content-Type": "application/json"}
    req = urllib.request.Request(url, data=data, method=method, headers=headers)  # noqa: S310 - local worker
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:  # noqa: S310 - the local worker
            payload = resp.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise StackError(f"Kafka Connect {method} {url} answered {exc.code}: {detail}") from exc
    return json.loads(payload) if payload else None


class KafkaConnectService(Service):
    name = "connect"
    summary = "Kafka Connect worker (distributed mode): S3 Parquet sink and Debezium PostgreSQL source"
    depends_on = ("kafka",)

    def install(self, console: Console) -> None:
        kafka_libs_dir(console)
        ensure_copied(s3_parquet_sink_plugin(), console)
        debezium.plugin_libs(console)
        jmx.agent_jar(console)

    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        libs = kafka_libs_dir(ctx.console)
        # plugin.path lists folders whose sub-folders are plugins: the plugin's home holds libs/.
        plugin_homes = [
            ensure_copied(s3_parquet_sink_plugin(), ctx.console).parent,
            debezium.plugin_libs(ctx.console).parent,
        ]
        data_dir = ctx.data_dir(self.name)
        rest_port = _rest_port(ctx, self.name, data_dir)
        config = data_dir / "connect-distributed.properties"
        config.write_text(
            render_worker_properties(deps["kafka"].endpoints["bootstrap"], rest_port, plugin_homes)
        )
        log4j = data_dir / "log4j2.properties"
        log4j.write_text(render_log4j2_properties(CONNECT_QUIET_LOGGERS))
        log = ctx.log(self.name)
        metrics_port = free_port()
        argv = java_command(
            libs,
            "org.apache.kafka.connect.cli.ConnectDistributed",
            [str(config)],
            heap=WORKER_HEAP,
            log4j_config=log4j,
            java_agent=jmx.agent_option(metrics_port, data_dir, ctx.console),
        )
        pid = ctx.spawn(self.name, argv, log)
        rest = f"http://127.0.0.1:{rest_port}"
        try:
            wait_until(
                self.name, lambda: _plugins_loaded(rest), pid, log, timeout=180,
                what=f"for {' and '.join(REQUIRED_PLUGINS)} in GET /connector-plugins",
            )  # fmt: skip
        except BaseException:
            stop_process_group(pid)
            raise
        endpoints = {"rest": rest, "group_id": WORKER_GROUP_ID, "metrics": f"127.0.0.1:{metrics_port}"}
        return ServiceRecord(self.name, pids=[pid], endpoints=endpoints, log=str(log))

    def scrape_jobs(self, record: ServiceRecord) -> list[ScrapeJob]:
        return jmx_scrape_jobs(self.name, record)

    def healthy(self, record: ServiceRecord) -> bool:
        try:
            return record.alive() and _plugins_loaded(record.endpoints["rest"])
        except Exception:
            return False


def _plugins_loaded(rest: str) -> bool:
    return set(REQUIRED_PLUGINS) <= set(connector_plugins(rest))


def _rest_port(ctx: StackContext, name: str, data_dir: Path) -> int:
    """Pinned port, else the last run's (so recorded URLs stay valid), else a free one."""
    saved_file = data_dir / "rest-port"
    pinned = ctx.requested_ports.get(name)
    if pinned:
        ensure_port_free(pinned, name)
    saved = int(saved_file.read_text()) if saved_file.exists() else None
    port = pinned or reusable_port(saved) or free_port()
    saved_file.write_text(str(port))
    return port

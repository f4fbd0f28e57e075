"""Kafka Connect for the local stack: one distributed worker with the Aiven S3 sink plugin.

A distributed worker (not standalone) keeps connector configs, offsets and status in Kafka topics,
so a killed worker resumes where it stopped, as Strimzi's KafkaConnect does in Kubernetes. The
runtime is Kafka's own jars (tools/kafka/pom.xml); the Aiven connector and its dependencies are a
separate plugin folder (tools/connect/aiven-s3/pom.xml) loaded through plugin.path in its own
class loader.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from rich.console import Console

from fraudlake.stack.errors import StackError
from fraudlake.stack.mavenlibs import MavenLibs, ensure_copied, java_command
from fraudlake.stack.paths import REPO_ROOT
from fraudlake.stack.process import (
    ensure_port_free,
    free_port,
    run_checked,
    spawn,
    stop_process_group,
    wait_until,
)
from fraudlake.stack.service import Service, ServiceRecord, StackContext
from fraudlake.stack.services.kafka import (
    QUIET_LOGGERS,
    kafka_libs_dir,
    render_log4j2_properties,
    reusable_port,
)

AIVEN_S3_VERSION = "2.15.0"  # keep in step with <aiven.version> in tools/connect/aiven-s3/pom.xml
AIVEN_S3_POM = REPO_ROOT / "tools" / "connect" / "aiven-s3" / "pom.xml"
AIVEN_S3_SINK_CLASS = "io.aiven.kafka.connect.s3.AivenKafkaConnectS3SinkConnector"

WORKER_HEAP = "1g"  # the Parquet writer buffers a file's records in memory until it is flushed
WORKER_GROUP_ID = "fraudlake-connect"
CONNECT_QUIET_LOGGERS = (*QUIET_LOGGERS, "org.apache.kafka.connect.runtime.isolation", "org.reflections")


def aiven_s3_plugin() -> MavenLibs:
    return MavenLibs(
        name="aiven-s3-connector",
        version=AIVEN_S3_VERSION,
        pom=AIVEN_S3_POM,
        fetches=f"io.aiven:s3-connector-for-apache-kafka:{AIVEN_S3_VERSION} (tools/connect/aiven-s3/pom.xml)",
        post_copy=sync_service_manifests,
    )


def sync_service_manifests(plugin_libs: Path, log: Path) -> None:
    """Give a plugin folder ServiceLoader manifests (Kafka's connect-plugin-path tool, KIP-898).

    With manifests the worker runs with plugin.discovery=service_load and starts in seconds; the
    default reflective scan of every jar on the classpath and plugin.path takes about a minute here.
    """
    argv = java_command(
        kafka_libs_dir(),
        "org.apache.kafka.tools.ConnectPluginPath",
        ["sync-manifests", "--plugin-location", str(plugin_libs)],
    )
    run_checked(argv, log, what=f"adding ServiceLoader manifests to the plugin in {plugin_libs}")


def render_worker_properties(
    bootstrap: str, rest_port: int, plugin_path: Path, group_id: str = WORKER_GROUP_ID
) -> str:
    """connect-distributed.properties of a single worker on loopback.

    JSON with embedded schemas on both converters: the S3 sink needs a schema to write Parquet.
    Internal topics have one replica (one broker); offsets are flushed every 5 s so that a killed
    worker replays little and tests see objects soon.
    """
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
        "plugin.path": str(plugin_path),
        # Every plugin has ServiceLoader manifests (Kafka's own; ours via sync_service_manifests).
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
    summary = f"Kafka Connect worker (distributed mode) with the Aiven S3 sink {AIVEN_S3_VERSION}"
    depends_on = ("kafka",)

    def install(self, console: Console) -> None:
        kafka_libs_dir(console)
        ensure_copied(aiven_s3_plugin(), console)

    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        libs = kafka_libs_dir(ctx.console)
        # plugin.path lists folders whose sub-folders are plugins: the plugin's home holds libs/.
        plugin_home = ensure_copied(aiven_s3_plugin(), ctx.console).parent
        data_dir = ctx.data_dir(self.name)
        rest_port = _rest_port(ctx, self.name, data_dir)
        config = data_dir / "connect-distributed.properties"
        config.write_text(
            render_worker_properties(deps["kafka"].endpoints["bootstrap"], rest_port, plugin_home)
        )
        log4j = data_dir / "log4j2.properties"
        log4j.write_text(render_log4j2_properties(CONNECT_QUIET_LOGGERS))
        log = ctx.log(self.name)
        argv = java_command(
            libs,
            "org.apache.kafka.connect.cli.ConnectDistributed",
            [str(config)],
            heap=WORKER_HEAP,
            log4j_config=log4j,
        )
        pid = spawn(self.name, argv, log)
        rest = f"http://127.0.0.1:{rest_port}"
        try:
            wait_until(
                self.name, lambda: AIVEN_S3_SINK_CLASS in connector_plugins(rest), pid, log, timeout=180,
                what=f"for {AIVEN_S3_SINK_CLASS} in GET /connector-plugins",
            )  # fmt: skip
        except BaseException:
            stop_process_group(pid)
            raise
        return ServiceRecord(
            self.name, pids=[pid], endpoints={"rest": rest, "group_id": WORKER_GROUP_ID}, log=str(log)
        )

    def healthy(self, record: ServiceRecord) -> bool:
        try:
            return record.alive() and AIVEN_S3_SINK_CLASS in connector_plugins(record.endpoints["rest"])
        except Exception:
            return False


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

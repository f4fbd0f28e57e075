"""Apache Kafka for the local stack: one KRaft node (broker + controller) from Maven Central jars.

The jars are the runtime dependencies of tools/kafka/pom.xml (broker, Connect runtime, tools), run
as `java -cp 'libs/*' kafka.Kafka server.properties`. Storage is formatted once per data folder
with `StorageTool format --standalone`; the cluster id and the ports live beside the data, so a
restarted broker keeps its topics, offsets and address.
"""

from __future__ import annotations

import base64
import json
import os
import socket
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from fraudlake.local.stack import jmx
from fraudlake.local.stack.mavenlibs import MavenLibs, ensure_copied, java_command
from fraudlake.local.stack.paths import REPO_ROOT
from fraudlake.local.stack.process import (
    ensure_port_free,
    free_port,
    port_open,
    run_checked,
    stop_process_group,
    wait_until,
)
from fraudlake.local.stack.service import ScrapeJob, Service, ServiceRecord, StackContext

KAFKA_VERSION = "4.3.1"  # keep in step with <kafka.version> in tools/kafka/pom.xml
KAFKA_POM = REPO_ROOT / "tools" / "kafka" / "pom.xml"
BROKER_HEAP = "512m"

# Loggers that are chatty at INFO without telling a local user anything (AbstractConfig dumps
# every client's and server's full config: thousands of lines per start).
QUIET_LOGGERS = (
    "org.apache.kafka.common.config.AbstractConfig",
    "kafka.request.logger",
    "state.change.logger",
    "org.apache.kafka.clients",
    "kafka.log.LogCleaner",
)


def kafka_libs() -> MavenLibs:
    return MavenLibs(
        name="kafka",
        version=KAFKA_VERSION,
        pom=KAFKA_POM,
        fetches=f"org.apache.kafka:kafka_2.13 and kafka-tools {KAFKA_VERSION} (tools/kafka/pom.xml)",
    )


def kafka_libs_dir(console: Console | None = None) -> Path:
    """Folder of Kafka's jars (broker, Connect, tools), copied from Maven Central on first use."""
    return ensure_copied(kafka_libs(), console)


def kafka_java_command(main_class: str, args: Sequence[str] = (), heap: str = "256m") -> list[str]:
    """argv running a Kafka main class on Kafka's classpath (jars fetched on first use).

    E.g. the producer benchmark's reference: `kafka_java_command("org.apache.kafka.tools.ProducerPerformance",
    ["--topic", t, "--num-records", n, "--record-size", 200, "--throughput", -1, "--producer-props", ...])`.
    """
    return java_command(kafka_libs_dir(), main_class, args, heap=heap)


def render_server_properties(log_dir: Path, broker_port: int, controller_port: int, node_id: int = 1) -> str:
    """server.properties of a single combined broker+controller on loopback.

    Replication factors are 1 (one node) and topics are created explicitly, as in production,
    so a typo in a topic name fails instead of silently creating a new topic.
    """
    settings = {
        "process.roles": "broker,controller",
        "node.id": node_id,
        "controller.listener.names": "CONTROLLER",
        "listeners": f"PLAINTEXT://127.0.0.1:{broker_port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{broker_port}",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "log.dirs": str(log_dir),
        "num.partitions": 1,
        "default.replication.factor": 1,
        "min.insync.replicas": 1,
        "offsets.topic.replication.factor": 1,
        "offsets.topic.num.partitions": 1,
        "transaction.state.log.replication.factor": 1,
        "transaction.state.log.min.isr": 1,
        "share.coordinator.state.topic.replication.factor": 1,
        "share.coordinator.state.topic.min.isr": 1,
        # Consumers in tests and the demo join one at a time; do not wait 3 s for more members.
        "group.initial.rebalance.delay.ms": 0,
        "auto.create.topics.enable": "false",
        "log.retention.hours": 168,
        "log.segment.bytes": 64 * 1024 * 1024,
    }
    return "".join(f"{key}={value}\n" for key, value in settings.items())


def render_log4j2_properties(quiet_loggers: Sequence[str] = QUIET_LOGGERS) -> str:
    """log4j2 config sending everything at INFO to stdout (the service log); `quiet_loggers` at WARN."""
    lines = [
        "status = warn",
        "appender.stdout.type = Console",
        "appender.stdout.name = STDOUT",
        "appender.stdout.layout.type = PatternLayout",
        "appender.stdout.layout.pattern = [%d] %p %m (%c)%n",
        "rootLogger.level = INFO",
        "rootLogger.appenderRef.stdout.ref = STDOUT",
    ]
    for index, logger in enumerate(quiet_loggers):
        lines += [f"logger.quiet{index}.name = {logger}", f"logger.quiet{index}.level = WARN"]
    return "\n".join(lines) + "\n"


def new_cluster_id() -> str:
    """A Kafka cluster id: 16 random bytes, URL-safe base64 without padding (Kafka's Uuid format)."""
    while True:
        cluster_id = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
        if not cluster_id.startswith("-"):  # Kafka never issues these: they read as CLI flags
            return cluster_id


def stored_value(path: Path, make: Callable[[], str]) -> str:
    """The value kept in `path`, created with `make()` the first time."""
    if not path.exists():
        path.write_text(make() + "\n")
    return path.read_text().strip()


class KafkaService(Service):
    name = "kafka"
    summary = f"Apache Kafka {KAFKA_VERSION}, single KRaft node (jars from Maven Central)"

    def install(self, console: Console) -> None:
        kafka_libs_dir(console)
        jmx.agent_jar(console)

    def start(self, ctx: StackContext, deps: dict[str, ServiceRecord]) -> ServiceRecord:
        libs = kafka_libs_dir(ctx.console)
        data_dir = ctx.data_dir(self.name)
        broker_port, controller_port = _ports(ctx, self.name, data_dir)
        config = data_dir / "server.properties"
        config.write_text(render_server_properties(data_dir / "kraft-logs", broker_port, controller_port))
        log4j = data_dir / "log4j2.properties"
        log4j.write_text(render_log4j2_properties())
        log = ctx.log(self.name)
        cluster_id = stored_value(data_dir / "cluster.id", new_cluster_id)
        _format_storage_once(libs, config, log4j, data_dir / "kraft-logs", cluster_id, log)

        metrics_port = free_port()
        agent = jmx.agent_option(metrics_port, data_dir, ctx.console)
        argv = java_command(
            libs, "kafka.Kafka", [str(config)], heap=BROKER_HEAP, log4j_config=log4j, java_agent=agent
        )
        pid = ctx.spawn(self.name, argv, log)
        bootstrap = f"127.0.0.1:{broker_port}"
        try:
            wait_until(
                self.name,
                lambda: _metadata_ready(bootstrap),
                pid,
                log,
                timeout=90,
                what="for cluster metadata (AdminClient)",
            )
        except BaseException:
            stop_process_group(pid)
            raise
        return ServiceRecord(
            self.name,
            pids=[pid],
            endpoints={
                "bootstrap": bootstrap,
                "controller": f"127.0.0.1:{controller_port}",
                "cluster_id": cluster_id,
                "metrics": f"127.0.0.1:{metrics_port}",
            },
            log=str(log),
        )

    def scrape_jobs(self, record: ServiceRecord) -> list[ScrapeJob]:
        return jmx_scrape_jobs(self.name, record)

    def healthy(self, record: ServiceRecord) -> bool:
        try:
            return record.alive() and _metadata_ready(record.endpoints["bootstrap"])
        except Exception:
            return False


def jmx_scrape_jobs(name: str, record: ServiceRecord) -> list[ScrapeJob]:
    """The JMX exporter agent's /metrics of a stack JVM (none for a record from before the agent)."""
    address = record.endpoints.get("metrics")
    return [ScrapeJob(name, (address,), interval="10s")] if address else []  # a JMX walk costs ~0.1 s


def _ports(ctx: StackContext, name: str, data_dir: Path) -> tuple[int, int]:
    """Broker and controller ports: pinned, else the last run's (clients keep working), else free ones."""
    saved_file = data_dir / "ports.json"
    saved = json.loads(saved_file.read_text()) if saved_file.exists() else {}
    pinned = ctx.requested_ports.get(name)
    if pinned:
        ensure_port_free(pinned, name)
    broker = pinned or reusable_port(saved.get("broker")) or free_port()
    controller = reusable_port(saved.get("controller")) or free_port()
    saved_file.write_text(json.dumps({"broker": broker, "controller": controller}))
    return broker, controller


def reusable_port(port: int | None) -> int | None:
    """`port` if nothing listens on it any more, else None (for restarts that keep their address).

    Binds with SO_REUSEADDR, as the JVM's server sockets do: connections of the previous process
    left in TIME_WAIT do not keep the port from being listened on again.
    """
    if not port:
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None
    return port


def _format_storage_once(
    libs: Path, config: Path, log4j: Path, log_dir: Path, cluster_id: str, log: Path
) -> None:
    """Format the KRaft log dir as a one-voter quorum, unless an earlier start already did."""
    if (log_dir / "meta.properties").exists():
        return
    argv = java_command(
        libs,
        "kafka.tools.StorageTool",
        ["format", "--standalone", "--cluster-id", cluster_id, "--config", str(config)],
        log4j_config=log4j,
    )
    run_checked(argv, log, what="formatting Kafka's KRaft storage")


def _metadata_ready(bootstrap: str) -> bool:
    """Whether the broker answers a metadata request with itself registered (unfenced)."""
    from confluent_kafka.admin import AdminClient  # lazy: `fraudlake --help` should not load librdkafka

    host, _, port = bootstrap.rpartition(":")
    if not port_open(int(port), host):  # librdkafka would log every refused connection to stderr
        return False
    admin = AdminClient({"bootstrap.servers": bootstrap, "socket.timeout.ms": 2000, "log_level": 0})
    metadata = admin.list_topics(timeout=2)
    return len(metadata.brokers) > 0

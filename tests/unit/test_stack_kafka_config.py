"""Kafka broker and Connect worker configs, cluster ids and the Maven-jar cache keys (no JVM)."""

from __future__ import annotations

import base64
import socket
from pathlib import Path

import pytest
import yaml

from fraudlake.local.stack import jmx
from fraudlake.local.stack.mavenlibs import MavenLibs, java_command
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.local.stack.services.connect import render_worker_properties
from fraudlake.local.stack.services.kafka import (
    jmx_scrape_jobs,
    new_cluster_id,
    render_log4j2_properties,
    render_server_properties,
    reusable_port,
    stored_value,
)

pytestmark = pytest.mark.unit


def parse_properties(text: str) -> dict[str, str]:
    lines = (line for line in text.splitlines() if line and not line.startswith("#"))
    return dict(line.split("=", 1) for line in lines)


def test_server_is_one_kraft_node_on_loopback(tmp_path: Path) -> None:
    props = parse_properties(render_server_properties(tmp_path / "logs", 19092, 19093))
    assert props["process.roles"] == "broker,controller"
    assert props["node.id"] == "1"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert props["controller.quorum.bootstrap.servers"] == "127.0.0.1:19093"
    assert props["controller.listener.names"] == "CONTROLLER"
    assert props["log.dirs"] == str(tmp_path / "logs")


def test_server_internal_topics_fit_a_single_broker(tmp_path: Path) -> None:
    props = parse_properties(render_server_properties(tmp_path, 1, 2))
    for key in (
        "offsets.topic.replication.factor",
        "transaction.state.log.replication.factor",
        "transaction.state.log.min.isr",
        "min.insync.replicas",
        "default.replication.factor",
    ):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "false"


def test_cluster_id_is_kafkas_uuid_format() -> None:
    ids = {new_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cluster_id in ids:
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_stored_value_is_made_once(tmp_path: Path) -> None:
    calls = []

    def make() -> str:
        calls.append(1)
        return "abc"

    assert stored_value(tmp_path / "id", make) == "abc"
    assert stored_value(tmp_path / "id", make) == "abc"
    assert len(calls) == 1


def test_log4j2_config_logs_to_stdout_and_quiets_the_named_loggers() -> None:
    text = render_log4j2_properties(("kafka.request.logger",))
    assert "appender.stdout.type = Console" in text
    assert "rootLogger.appenderRef.stdout.ref = STDOUT" in text
    assert "logger.quiet0.name = kafka.request.logger" in text
    assert "logger.quiet0.level = WARN" in text


def test_worker_is_distributed_with_schemaful_json_and_the_plugin_path(tmp_path: Path) -> None:
    props = parse_properties(render_worker_properties("127.0.0.1:9092", 8083, tmp_path / "plugins", "g1"))
    assert props["bootstrap.servers"] == "127.0.0.1:9092"
    assert props["group.id"] == "g1"
    for side in ("key", "value"):
        assert props[f"{side}.converter"] == "org.apache.kafka.connect.json.JsonConverter"
        assert props[f"{side}.converter.schemas.enable"] == "true"
    assert props["config.storage.topic"] == "g1-configs"
    assert props["offset.storage.topic"] == "g1-offsets"
    assert props["status.storage.topic"] == "g1-status"
    for store in ("config", "offset", "status"):
        assert props[f"{store}.storage.replication.factor"] == "1"
    assert props["listeners"] == "http://127.0.0.1:8083"
    assert props["plugin.path"] == str(tmp_path / "plugins")
    assert props["plugin.discovery"] == "service_load"
    assert int(props["offset.flush.interval.ms"]) <= 10_000


def test_java_command_runs_a_main_class_on_the_libs_classpath(tmp_path: Path) -> None:
    argv = java_command(
        tmp_path, "kafka.Kafka", ["server.properties"], heap="512m", log4j_config=tmp_path / "l"
    )
    assert argv[0] == "java"
    assert "-Xmx512m" in argv
    assert f"-Dlog4j2.configurationFile={tmp_path / 'l'}" in argv
    assert argv[-4:] == ["-cp", f"{tmp_path}/*", "kafka.Kafka", "server.properties"]


def test_a_java_agent_goes_before_the_classpath(tmp_path: Path) -> None:
    agent = "-javaagent:/cache/jmx.jar=127.0.0.1:9404:/run/jmx.yaml"
    argv = java_command(tmp_path, "kafka.Kafka", ["server.properties"], java_agent=agent)
    assert argv.index(agent) < argv.index("-cp")
    assert agent not in java_command(tmp_path, "kafka.Kafka")


def test_the_stack_jvms_are_scraped_where_their_agent_serves(tmp_path: Path) -> None:
    record = ServiceRecord("kafka", pids=[1], endpoints={"bootstrap": "b", "metrics": "127.0.0.1:9404"})
    (job,) = jmx_scrape_jobs("kafka", record)
    assert (job.job, job.targets, job.metrics_path) == ("kafka", ("127.0.0.1:9404",), "/metrics")
    # A record written before the agent existed (a stack still running from then) has nothing to scrape.
    assert jmx_scrape_jobs("kafka", ServiceRecord("kafka", pids=[1], endpoints={"bootstrap": "b"})) == []
    config = yaml.safe_load(jmx.AGENT_CONFIG)
    assert "kafka.connect:*" in config["includeObjectNames"]
    assert config["lowercaseOutputName"] is True


def test_maven_cache_key_follows_the_pom(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDLAKE_CACHE", str(tmp_path / "cache"))
    pom = tmp_path / "pom.xml"
    pom.write_text("<project>a</project>")
    libs = MavenLibs(name="kafka", version="4.3.1", pom=pom, fetches="x")
    first = libs.home
    assert first.parent == tmp_path / "cache"
    assert first.name.startswith("kafka-4.3.1-")
    assert not libs.installed()
    pom.write_text("<project>b</project>")
    assert libs.home != first


def test_a_previous_port_is_reused_only_when_nothing_listens_on_it() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        busy = listener.getsockname()[1]
        assert reusable_port(busy) is None
    assert reusable_port(busy) == busy
    assert reusable_port(None) is None

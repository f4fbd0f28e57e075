"""The Prometheus JMX exporter as a Java agent for the stack's JVMs (Kafka broker, Connect worker).

In a cluster Strimzi runs this exporter inside the broker and Connect pods (metricsConfig in the
fraudlake-kafka chart); locally the same agent, from Maven Central, serves each JVM's MBeans on a
loopback port that the stack's Prometheus scrapes.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from fraudlake.local.stack.mavenlibs import MavenLibs, ensure_copied
from fraudlake.local.stack.paths import REPO_ROOT

JMX_EXPORTER_VERSION = "1.0.1"
JMX_EXPORTER_POM = REPO_ROOT / "tools" / "jmx-exporter" / "pom.xml"

# The MBeans a local look needs (the broker alone has ~10,000 series, 1 MB per scrape, otherwise): topic
# throughput, leaders and partitions, the controller, every Connect metric (workers, connectors, tasks,
# errors) and the heap; names lower-cased, e.g. kafka_server_brokertopicmetrics_count{name=...}. The
# chart's metricsConfig keeps Strimzi's curated rules.
AGENT_CONFIG = """\
lowercaseOutputName: true
lowercaseOutputLabelNames: true
includeObjectNames:
  - "kafka.server:type=BrokerTopicMetrics,*"
  - "kafka.server:type=ReplicaManager,*"
  - "kafka.controller:type=KafkaController,*"
  - "kafka.connect:*"
  - "java.lang:type=Memory"
rules:
  - pattern: ".*"
"""


def jmx_exporter_libs() -> MavenLibs:
    return MavenLibs(
        name="jmx-exporter",
        version=JMX_EXPORTER_VERSION,
        pom=JMX_EXPORTER_POM,
        fetches=f"io.prometheus.jmx:jmx_prometheus_javaagent {JMX_EXPORTER_VERSION} (tools/jmx-exporter)",
    )


def agent_jar(console: Console | None = None) -> Path:
    """The agent jar, copied from Maven Central on first use."""
    libs = ensure_copied(jmx_exporter_libs(), console)
    (jar,) = libs.glob("jmx_prometheus_javaagent-*.jar")
    return jar


def agent_option(port: int, config_dir: Path, console: Console | None = None) -> str:
    """`-javaagent:` serving the JVM's metrics on 127.0.0.1:`port` (its config written into `config_dir`)."""
    config = config_dir / "jmx-exporter.yaml"
    config.write_text(AGENT_CONFIG)
    return f"-javaagent:{agent_jar(console)}=127.0.0.1:{port}:{config}"

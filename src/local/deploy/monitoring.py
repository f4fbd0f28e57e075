"""What the platform exports to Prometheus, and which metric names a PromQL expression reads.

The charts' alerts and dashboards may only read series something exports: our processes' registries
(operator, API, stream scorer, console), the lake loader's StatsD names as the Airflow StatsD exporter maps
them, and the two exporters the kafka chart deploys (Strimzi's Kafka Exporter and the Connect workers' JMX
exporter, whose names come from the chart's own rules). A typo in a query then fails a test instead of
drawing an empty panel or an alert that never fires.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from pathlib import Path

import yaml
from prometheus_client import CollectorRegistry

from fraudlake.local.deploy.layout import HELM_DIR

DASHBOARD_FILES_GLOB = "fraudlake-*/dashboards/*.json"
# The kafka chart's JMX exporter rules (Connect workers, brokers): ConfigMaps with a metrics-config.yml.
JMX_RULES_GLOB = "fraudlake-kafka/templates/*-ConfigMap-fraudlake-kafka.yaml"
# Strimzi's Kafka Exporter (github.com/danielqsj/kafka_exporter, run by Strimzi for Kafka spec.kafkaExporter):
# the names of its README's metrics table that the charts use or may use.
KAFKA_EXPORTER_METRICS = frozenset(
    {
        "kafka_brokers",
        "kafka_topic_partitions",
        "kafka_topic_partition_current_offset",
        "kafka_topic_partition_oldest_offset",
        "kafka_consumergroup_current_offset",
        "kafka_consumergroup_current_offset_sum",
        "kafka_consumergroup_lag",
        "kafka_consumergroup_lag_sum",
        "kafka_consumergroup_members",
    }
)
_SAMPLE_SUFFIXES = {
    "counter": ("_total",),
    "histogram": ("_bucket", "_count", "_sum"),
    "summary": ("_count", "_sum", ""),
    "info": ("_info",),
    "gauge": ("",),
    "unknown": ("",),
}


def registry_metric_names(registry: CollectorRegistry) -> set[str]:
    """The sample names a registry exposes (a counter `x` is read as `x_total`, a histogram as
    `x_bucket` / `x_count` / `x_sum`), also for labelled metrics that have no sample yet."""
    return {
        f"{family.name}{suffix}" for family in registry.collect() for suffix in _SAMPLE_SUFFIXES[family.type]
    }


def code_metric_names() -> set[str]:
    """Every metric name our own code exports: the operator, the API, the stream scorer, the console and
    the lake loader (its StatsD names after the exporter's mappings)."""
    from fraudlake.api.metrics import ApiMetrics
    from fraudlake.lake.metrics import STATSD_MAPPINGS
    from fraudlake.operator import metrics as operator_metrics
    from fraudlake.stream.metrics import ScorerMetrics
    from fraudlake.ui.metrics import ApiCallMetrics

    registries = (
        operator_metrics.REGISTRY,
        ApiMetrics().registry,
        ScorerMetrics().registry,
        ApiCallMetrics().registry,
    )
    names = {name for registry in registries for name in registry_metric_names(registry)}
    return names | {name for _, name, _ in STATSD_MAPPINGS}


def jmx_name_patterns() -> list[re.Pattern[str]]:
    """The names the kafka chart's JMX exporters (Connect workers, brokers) produce, as patterns: each
    rule's `name` with its `$n` groups standing for any lowercase name part (the rules set
    lowercaseOutputName)."""
    patterns = []
    for template in sorted(HELM_DIR.glob(JMX_RULES_GLOB)):
        text = template.read_text()
        if "metrics-config.yml: |" not in text:
            continue
        block = text.split("metrics-config.yml: |", 1)[1].split("{{-", 1)[0]
        for rule in yaml.safe_load(textwrap.dedent(block))["rules"]:
            name = re.escape(rule["name"].lower())
            patterns.append(re.compile(re.sub(r"\\\$\d+", "[a-z0-9_]+", name) + "$"))
    return patterns


def is_exported(name: str, code: set[str], connect: list[re.Pattern[str]]) -> bool:
    return name in code or name in KAFKA_EXPORTER_METRICS or any(p.match(name) for p in connect)


# --- reading PromQL ---------------------------------------------------------------------------------

_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
_MATCHERS = re.compile(r"\{[^{}]*\}")
_RANGES = re.compile(r"\[[^\[\]]*\]")
_GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
_VARIABLES = re.compile(r"\$\{?\w+\}?")
_IDENTIFIER = re.compile(r"(?<![\w.:])([a-zA-Z_:][a-zA-Z0-9_:]*)\b(?!\s*\()")
_KEYWORDS = frozenset({"by", "without", "on", "ignoring", "group_left", "group_right", "bool"})
_OPERATORS = frozenset({"and", "or", "unless", "offset", "inf", "nan", "atan2"})


def promql_metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects (functions, label names and values, grouping
    labels, ranges and Grafana variables left out)."""
    text = _STRINGS.sub('""', expr)
    text = _MATCHERS.sub("", text)
    text = _RANGES.sub("", text)
    text = _GROUPING.sub("", text)
    text = _VARIABLES.sub("", text)
    return {
        name
        for name in _IDENTIFIER.findall(text)
        if name.lower() not in _KEYWORDS and name.lower() not in _OPERATORS
    }


def unknown_metrics(exprs: Iterable[str]) -> dict[str, set[str]]:
    """Each expression that reads a name nothing exports, with those names."""
    code, connect = code_metric_names(), jmx_name_patterns()
    found = {}
    for expr in exprs:
        unknown = {name for name in promql_metric_names(expr) if not is_exported(name, code, connect)}
        if unknown:
            found[expr] = unknown
    return found


def dashboard_files() -> list[Path]:
    return sorted(HELM_DIR.glob(DASHBOARD_FILES_GLOB))

"""The charts' monitoring objects as rendered by helm: monitors that select the pods and ports that serve
/metrics, alerts that carry runbooks and read only exported metrics, dashboards shipped byte for byte, and
the Airflow StatsD ServiceMonitor accepted by the API server against the Prometheus Operator's CRDs.

(Every ci/monitoring-values.yaml rendering is also linted, label-checked and dry-run server-side by
test_deploy.py, which covers every ci values file.)
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from fraudlake.local.deploy import helm
from fraudlake.local.deploy.layout import NAMESPACE, UPSTREAM_VALUES_DIR, chart_dir
from fraudlake.local.deploy.monitoring import unknown_metrics
from fraudlake.local.stack.gotools import kubectl_binary
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.operator.builders import Pipeline, scorer_deployment
from fraudlake.operator.settings import OperatorSettings
from fraudlake.pipeline import naming
from fraudlake.pipeline.spec import FraudPipelineSpec

pytestmark = pytest.mark.integration

MONITORED = ("fraudlake-operator", "fraudlake-api", "fraudlake-kafka", "fraudlake-ui")
AIRFLOW_MONITOR = UPSTREAM_VALUES_DIR / "airflow-statsd-servicemonitor.yaml"
EXAMPLE_PIPELINE = Path(__file__).resolve().parents[2] / "operator" / "examples" / "pipeline-eks.yaml"


def monitoring_values(chart: str) -> Path:
    return chart_dir(chart) / "ci" / "monitoring-values.yaml"


@pytest.fixture(scope="module")
def objects() -> dict[str, list[dict[str, Any]]]:
    return {chart: helm.manifests(helm.render(chart, monitoring_values(chart))) for chart in MONITORED}


def of_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def pod_template(objects: list[dict[str, Any]]) -> dict[str, Any]:
    (deployment,) = of_kind(objects, "Deployment")
    return deployment["spec"]["template"]


def container_ports(template: dict[str, Any]) -> dict[str, int]:
    return {p["name"]: p["containerPort"] for c in template["spec"]["containers"] for p in c.get("ports", [])}


def container_env(template: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e.get("value") for c in template["spec"]["containers"] for e in c.get("env", [])}


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    return selector["matchLabels"].items() <= labels.items()


@pytest.mark.parametrize("chart", MONITORED)
def test_every_alert_has_a_severity_and_a_runbook_and_reads_exported_metrics(
    objects: dict[str, list[dict[str, Any]]], chart: str
) -> None:
    rules = [
        r
        for rule in of_kind(objects[chart], "PrometheusRule")
        for g in rule["spec"]["groups"]
        for r in g["rules"]
    ]
    if chart == "fraudlake-ui":
        assert rules == []
        return
    assert rules
    for rule in rules:
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]
        annotations = rule["annotations"]
        assert {"summary", "description", "runbook"} <= set(annotations), rule["alert"]
        # A runbook is steps an on-call engineer can follow, not a restatement of the summary.
        assert len(re.findall(r"\b\d\. ", annotations["runbook"])) >= 2, rule["alert"]
    assert unknown_metrics(r["expr"] for r in rules) == {}


def test_the_issue_s_alerts_exist(objects: dict[str, list[dict[str, Any]]]) -> None:
    alerts = {
        r["alert"]
        for chart in MONITORED
        for rule in of_kind(objects[chart], "PrometheusRule")
        for g in rule["spec"]["groups"]
        for r in g["rules"]
    }
    assert {
        "FraudlakeApiModelNotLoaded",
        "FraudlakeScorerLagging",
        "FraudlakeScorerDeadLetters",
        "FraudlakeLakeSinkDeadLetters",
        "FraudlakeLakeSinkTaskFailed",
        "FraudlakeApiScoreLatencyOverBudget",
        "FraudlakeScorerLatencyOverBudget",
        "FraudlakePipelineNotReady",
    } <= alerts


def test_the_operator_pod_monitor_scrapes_the_operator_s_metrics_port(
    objects: dict[str, list[dict[str, Any]]],
) -> None:
    operator = objects["fraudlake-operator"]
    template = pod_template(operator)
    monitor = next(
        m for m in of_kind(operator, "PodMonitor") if not m["metadata"]["name"].endswith("-scorers")
    )
    assert selects(monitor["spec"]["selector"], template["metadata"]["labels"])
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    ports = container_ports(template)
    assert endpoint["port"] == "metrics"
    # The process binds what the environment says, on the port the pod declares.
    assert container_env(template)["FRAUDLAKE_OPERATOR_METRICS_PORT"] == str(ports["metrics"])
    (policy,) = of_kind(operator, "NetworkPolicy")
    assert "metrics" in {p["port"] for rule in policy["spec"]["ingress"] for p in rule["ports"]}


def test_the_scorer_pod_monitor_selects_the_pods_the_operator_builds(
    objects: dict[str, list[dict[str, Any]]],
) -> None:
    monitor = next(
        m
        for m in of_kind(objects["fraudlake-operator"], "PodMonitor")
        if m["metadata"]["name"].endswith("-scorers")
    )
    document = yaml.safe_load(EXAMPLE_PIPELINE.read_text())
    pipeline = Pipeline(
        "fraud", document["metadata"]["name"], 1, FraudPipelineSpec.parse(document["spec"]), "uid"
    )
    deployment = scorer_deployment(pipeline, OperatorSettings())
    pod = deployment["spec"]["template"]
    assert selects(monitor["spec"]["selector"], pod["metadata"]["labels"])
    assert monitor["spec"]["namespaceSelector"] == {
        "matchNames": yaml.safe_load(monitoring_values("fraudlake-operator").read_text())["watchNamespaces"]
    }
    (endpoint,) = monitor["spec"]["podMetricsEndpoints"]
    assert endpoint["port"] in container_ports(pod)
    # The pipeline label the alerts group by comes from the pod's pipeline label.
    (relabel,) = endpoint["relabelings"]
    source = relabel["sourceLabels"][0].removeprefix("__meta_kubernetes_pod_label_")
    assert source == re.sub(r"[^a-zA-Z0-9_]", "_", naming.PIPELINE_LABEL)
    assert relabel["targetLabel"] == "pipeline"
    assert pod["metadata"]["labels"][naming.PIPELINE_LABEL] == pipeline.name


def test_without_watch_namespaces_the_scorers_are_found_in_any_namespace(tmp_path: Path) -> None:
    values = tmp_path / "cluster-wide-values.yaml"
    values.write_text(yaml.safe_dump({"monitoring": {"enabled": True}}))
    monitors = of_kind(helm.manifests(helm.render("fraudlake-operator", values)), "PodMonitor")
    scorers = next(m for m in monitors if m["metadata"]["name"].endswith("-scorers"))
    assert scorers["spec"]["namespaceSelector"] == {"any": True}


def test_the_ui_pod_monitor_scrapes_the_console_s_metrics_port(
    objects: dict[str, list[dict[str, Any]]],
) -> None:
    ui = objects["fraudlake-ui"]
    template = pod_template(ui)
    (monitor,) = of_kind(ui, "PodMonitor")
    assert selects(monitor["spec"]["selector"], template["metadata"]["labels"])
    ports = container_ports(template)
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    assert container_env(template)["FRAUDLAKE_UI_METRICS_PORT"] == str(ports["metrics"])
    (policy,) = of_kind(ui, "NetworkPolicy")
    metrics_rule = next(
        r for r in policy["spec"]["ingress"] if {"port": "metrics", "protocol": "TCP"} in r["ports"]
    )
    assert metrics_rule["from"], "the metrics port is open to Prometheus only"


def test_the_kafka_exporter_is_deployed_and_scraped(objects: dict[str, list[dict[str, Any]]]) -> None:
    kafka = objects["fraudlake-kafka"]
    (cluster,) = of_kind(kafka, "Kafka")
    exporter = cluster["spec"]["kafkaExporter"]
    monitor = next(
        m for m in of_kind(kafka, "PodMonitor") if m["metadata"]["name"].endswith("-kafka-exporter")
    )
    # The labels Strimzi gives the Kafka Exporter pod of a cluster, and its metrics port.
    strimzi_pod_labels = {
        "strimzi.io/cluster": cluster["metadata"]["name"],
        "strimzi.io/kind": "Kafka",
        "strimzi.io/name": f"{cluster['metadata']['name']}-kafka-exporter",
    }
    assert selects(monitor["spec"]["selector"], strimzi_pod_labels)
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "tcp-prometheus"
    # It reports the pipeline's topics and the groups of its lake sink and its scorer.
    sink_group = "connect-" + naming.connector_name("fraud", "demo")
    assert re.fullmatch(exporter["topicRegex"], naming.topic_name("fraud", "demo", "transactions"))
    assert re.fullmatch(exporter["groupRegex"], sink_group)
    assert re.fullmatch(exporter["groupRegex"], "fraudlake-scorer.fraud.demo")
    lagging = next(
        r
        for rule in of_kind(kafka, "PrometheusRule")
        for g in rule["spec"]["groups"]
        for r in g["rules"]
        if r["alert"] == "FraudlakeLakeSinkLagging"
    )
    (selector,) = re.findall(r'consumergroup=~"([^"]+)"', lagging["expr"])
    assert re.fullmatch(selector.replace("\\\\", "\\"), sink_group)


@pytest.mark.parametrize("chart", ["fraudlake-operator", "fraudlake-api", "fraudlake-kafka"])
def test_dashboards_ship_as_sidecar_config_maps_byte_for_byte(
    objects: dict[str, list[dict[str, Any]]], chart: str
) -> None:
    maps = [
        m for m in of_kind(objects[chart], "ConfigMap") if m["metadata"]["labels"].get("grafana_dashboard")
    ]
    files = sorted((chart_dir(chart) / "dashboards").glob("*.json"))
    assert len(maps) == len(files) >= 1
    shipped = {key: value for m in maps for key, value in m["data"].items()}
    for path in files:
        assert json.loads(shipped[path.name]) == json.loads(path.read_text())
    for config_map in maps:
        assert config_map["metadata"]["labels"]["grafana_dashboard"] == "1"
        assert config_map["metadata"]["annotations"] == {"grafana_folder": "Fraudlake"}


def test_defaults_render_no_monitoring_objects() -> None:
    """Monitors need the Prometheus Operator's CRDs: off unless asked for."""
    for chart in MONITORED:
        kinds = {o["kind"] for o in helm.manifests(helm.render(chart))}
        assert not kinds & {"PodMonitor", "ServiceMonitor", "PrometheusRule"}, chart


def test_airflow_statsd_monitor_selects_the_chart_s_exporter_service() -> None:
    monitor = yaml.safe_load(AIRFLOW_MONITOR.read_text())
    values = yaml.safe_load((UPSTREAM_VALUES_DIR / "airflow.yaml").read_text())
    assert values["statsd"]["enabled"] is True
    # Labels and port name of the Airflow chart's <release>-statsd Service (its statsd-service.yaml template),
    # release "airflow" as the values file is installed.
    service_labels = {"tier": "airflow", "component": "statsd", "release": "airflow"}
    assert monitor["spec"]["selector"]["matchLabels"] == service_labels
    assert monitor["spec"]["endpoints"][0]["port"] == "statsd-scrape"
    assert monitor["metadata"]["namespace"] == NAMESPACE


def test_server_side_dry_run_accepts_the_airflow_statsd_monitor(kube: ServiceRecord) -> None:
    kubectl = [str(kubectl_binary()), f"--kubeconfig={kube.endpoints['kubeconfig']}"]
    namespace = subprocess.run(
        [*kubectl, "create", "namespace", NAMESPACE, "--dry-run=client", "-o", "yaml"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    subprocess.run(
        [*kubectl, "apply", "-f", "-"],
        input=namespace.stdout,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    result = subprocess.run(
        [*kubectl, "apply", "--dry-run=server", "--validate=strict", "-f", str(AIRFLOW_MONITOR)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "servicemonitor.monitoring.coreos.com/airflow-statsd created (server dry run)" in result.stdout


def test_the_brokers_metrics_config_and_monitor(objects: dict[str, list[dict[str, Any]]]) -> None:
    kafka = objects["fraudlake-kafka"]
    (cluster,) = of_kind(kafka, "Kafka")
    name = cluster["metadata"]["name"]
    ref = cluster["spec"]["kafka"]["metricsConfig"]["valueFrom"]["configMapKeyRef"]
    config_map = next(m for m in of_kind(kafka, "ConfigMap") if m["metadata"]["name"] == ref["name"])
    rules = yaml.safe_load(config_map["data"][ref["key"]])["rules"]
    assert any(r["name"] == "kafka_server_replicamanager_$1" for r in rules)
    monitor = next(m for m in of_kind(kafka, "PodMonitor") if m["metadata"]["name"] == f"{name}-kafka")
    # The labels Strimzi gives every node of the cluster (its bootstrap Service selects brokers by them too).
    node_labels = {
        "strimzi.io/cluster": name,
        "strimzi.io/kind": "Kafka",
        "strimzi.io/name": f"{name}-kafka",
        "strimzi.io/broker-role": "true",
    }
    assert selects(monitor["spec"]["selector"], node_labels)
    exporter_labels = {"strimzi.io/kind": "Kafka", "strimzi.io/name": f"{name}-kafka-exporter"}
    assert not selects(monitor["spec"]["selector"], exporter_labels), "the exporter has its own monitor"

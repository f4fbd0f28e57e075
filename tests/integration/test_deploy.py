"""The production footprint, validated with the real tools: helm lint/template, a server-side dry run of
every rendered manifest against the local kube-apiserver, checkov, the HCL parser/formatter behind
`terraform fmt`, and a rehearsal of each Python image's build stage."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml

from fraudlake.local.deploy import checkov, hcl, helm, helmfile
from fraudlake.local.deploy.airflow_image import AirflowImageError, check_airflow_image
from fraudlake.local.deploy.layout import (
    CHART_CRD,
    CHARTS,
    DOCKERFILES,
    KAFKA_NODE_POOL_CRD,
    NAMESPACE,
    OPERATOR_CRD,
    TERRAFORM_DIR,
    UPSTREAM_VALUES_DIR,
    dockerfile,
    terraform_files,
    values_files,
)
from fraudlake.local.deploy.rehearsal import Rehearsal, RehearsalError
from fraudlake.local.stack.gotools import kubectl_binary
from fraudlake.local.stack.paths import REPO_ROOT
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.operator.builders import Pipeline, scorer_deployment, scorer_service_account
from fraudlake.operator.settings import OperatorSettings
from fraudlake.pipeline import naming, scorer_env
from fraudlake.pipeline.spec import FraudPipelineSpec

pytestmark = pytest.mark.integration

CHART_VALUES = [(chart, values) for chart in CHARTS for values in values_files(chart)]
STANDARD_LABELS = (
    "app.kubernetes.io/name",
    "app.kubernetes.io/instance",
    "app.kubernetes.io/version",
    "app.kubernetes.io/managed-by",
    "app.kubernetes.io/part-of",
    "helm.sh/chart",
)
CLUSTER_SCOPED = {"ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "Namespace"}
# The namespace docs/deploy.md puts the example pipeline in (the API example reads pipelines there only).
PIPELINE_NAMESPACE = "fraud"
# Namespaces the renderings use: the releases' own, the extra one the namespaced-operator example watches,
# and the pipelines' one (the API example's Role).
NAMESPACES = (NAMESPACE, "fraudlake-data", PIPELINE_NAMESPACE)
# The other namespaces helm/helmfile.yaml installs our releases into (Kafka's and ClickHouse's).
RELEASE_NAMESPACES = ("kafka", "clickhouse")
EKS_PIPELINE = REPO_ROOT / "operator" / "examples" / "pipeline-eks.yaml"


def case_id(value: object) -> str:
    return value.name if isinstance(value, Path) else "defaults" if value is None else str(value)


@pytest.fixture(scope="module")
def rendered() -> dict[tuple[str, Path | None], str]:
    """Every chart rendered with its default and example values (helm template)."""
    return {(chart, values): helm.render(chart, values) for chart, values in CHART_VALUES}


# --- helm -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("chart", "values"), CHART_VALUES, ids=case_id)
def test_helm_lint_strict(chart: str, values: Path | None) -> None:
    report = helm.lint(chart, values)
    assert "0 chart(s) failed" in report


def test_helm_lint_fails_on_values_the_schema_rejects(tmp_path: Path) -> None:
    bad = tmp_path / "bad-values.yaml"
    bad.write_text(yaml.safe_dump({"image": {"tag": "latest"}}))
    with pytest.raises(helm.HelmError, match="tag"):
        helm.lint("fraudlake-api", bad)


@pytest.mark.parametrize(("chart", "values"), CHART_VALUES, ids=case_id)
def test_rendered_objects_carry_standard_labels_and_namespace(
    rendered: dict[tuple[str, Path | None], str], chart: str, values: Path | None
) -> None:
    objects = helm.manifests(rendered[chart, values])
    assert objects, f"{chart} rendered nothing"
    for obj in objects:
        what = f"{obj['kind']}/{obj['metadata']['name']}"
        labels = obj["metadata"].get("labels", {})
        missing = [label for label in STANDARD_LABELS if label not in labels]
        assert not missing, f"{what} lacks {missing}"
        assert labels["app.kubernetes.io/part-of"] == "fraudlake"
        if obj["kind"] not in CLUSTER_SCOPED:
            assert obj["metadata"].get("namespace") in NAMESPACES, f"{what} has no explicit namespace"


def _rules(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [rule for obj in objects if obj["kind"] == kind for rule in obj["rules"]]


def test_operator_rbac_is_least_privilege(rendered: dict[tuple[str, Path | None], str]) -> None:
    for values in values_files("fraudlake-operator"):
        objects = helm.manifests(rendered["fraudlake-operator", values])
        rules = _rules(objects, "ClusterRole") + _rules(objects, "Role")
        assert rules
        for rule in rules:
            assert "*" not in rule["verbs"] + rule["resources"] + rule["apiGroups"], rule
            assert not {"escalate", "bind", "impersonate"} & set(rule["verbs"]), rule
            if "secrets" in rule["resources"]:
                assert rule["verbs"] == ["get"], "Secrets: get only, never list/watch"
            assert "kopf.dev" not in rule["apiGroups"], "standalone Kopf needs no peering objects"
        granted = {(g, r) for rule in rules for g in rule["apiGroups"] for r in rule["resources"]}
        assert {
            ("fraudlake.io", "fraudpipelines"),
            ("fraudlake.io", "fraudpipelines/status"),
            ("fraudlake.io", "fraudpipelines/finalizers"),
            ("kafka.strimzi.io", "kafkatopics"),
            ("kafka.strimzi.io", "kafkaconnectors"),
            ("", "secrets"),
            ("", "events"),
        } <= granted
        deployment = next(o for o in objects if o["kind"] == "Deployment")
        assert deployment["spec"]["replicas"] == 1
        assert deployment["spec"]["strategy"]["type"] == "Recreate"
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True


def test_namespaced_operator_gets_roles_not_cluster_roles(
    rendered: dict[tuple[str, Path | None], str],
) -> None:
    example = values_files("fraudlake-operator")[1]
    objects = helm.manifests(rendered["fraudlake-operator", example])
    roles = [o for o in objects if o["kind"] == "Role"]
    assert {r["metadata"]["namespace"] for r in roles} == set(
        yaml.safe_load(example.read_text())["watchNamespaces"]
    )
    cluster_rules = _rules(objects, "ClusterRole")
    assert all(rule["resources"] == ["customresourcedefinitions"] for rule in cluster_rules), cluster_rules


def _operator_settings_from(
    objects: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> OperatorSettings:
    """The OperatorSettings the rendered operator container's environment makes."""
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    env = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    for name in list(os.environ):
        if name.startswith("FRAUDLAKE_OPERATOR_"):
            monkeypatch.delenv(name)
    for entry in env:
        if entry["name"].startswith("FRAUDLAKE_OPERATOR_"):
            monkeypatch.setenv(entry["name"], entry["value"])
    return OperatorSettings()


def _chart_values(chart: str, values: Path | None) -> dict[str, Any]:
    merged = yaml.safe_load((REPO_ROOT / "helm" / chart / "values.yaml").read_text())
    override = yaml.safe_load(values.read_text()) if values else {}
    for key, value in (override or {}).items():
        merged[key] = {**merged[key], **value} if isinstance(value, dict) else value
    return merged


@pytest.mark.parametrize("values", values_files("fraudlake-operator"), ids=case_id)
def test_operator_passes_the_scorer_values_to_the_deployments_it_builds(
    rendered: dict[tuple[str, Path | None], str], values: Path | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The chart's `scorer` values reach, through the operator's environment, the scorer Deployment the
    operator builds for a pipeline."""
    scorer = _chart_values("fraudlake-operator", values)["scorer"]
    settings = _operator_settings_from(helm.manifests(rendered["fraudlake-operator", values]), monkeypatch)
    spec = yaml.safe_load((REPO_ROOT / "operator" / "examples" / "pipeline.yaml").read_text())["spec"]
    spec["scoring"] = {"replicas": 1}
    deployment = scorer_deployment(Pipeline("fraud", "demo", 1, FraudPipelineSpec.parse(spec)), settings)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    image = scorer["image"]
    app_version = yaml.safe_load((REPO_ROOT / "helm" / "fraudlake-operator" / "Chart.yaml").read_text())[
        "appVersion"
    ]
    assert container["image"] == (
        f"{image['repository']}@{image['digest']}"
        if image["digest"]
        else f"{image['repository']}:{image['tag'] or app_version}"
    )
    assert container["imagePullPolicy"] == image["pullPolicy"]
    assert container["resources"] == scorer["resources"]
    assert container["ports"][0]["containerPort"] == scorer["metricsPort"]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["FRAUDLAKE_MODEL_URI"] == scorer["modelUri"]
    assert env["FRAUDLAKE_SCORER_METRICS_PORT"] == str(scorer["metricsPort"])
    account = scorer_service_account(Pipeline("fraud", "demo", 1, FraudPipelineSpec.parse(spec)), settings)
    assert account["metadata"].get("annotations", {}) == scorer["serviceAccountAnnotations"]


def test_every_scorer_setting_of_the_operator_is_a_chart_value(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    values = tmp_path / "scorer-values.yaml"
    values.write_text(
        yaml.safe_dump(
            {
                "scorer": {
                    "s3Endpoint": "http://minio.minio.svc:9000",
                    "envSecret": "fraudlake-scorer-s3",
                    "otlpEndpoint": "http://otel-collector.observability:4318",
                }
            }
        )
    )
    objects = helm.manifests(helm.render("fraudlake-operator", values))
    deployment = next(o for o in objects if o["kind"] == "Deployment")
    names = {e["name"] for e in deployment["spec"]["template"]["spec"]["containers"][0]["env"]}
    fields = {
        f"FRAUDLAKE_OPERATOR_{name.upper()}"
        for name in OperatorSettings.model_fields
        if name.startswith("scorer_")
    }
    assert fields <= names, fields - names
    settings = _operator_settings_from(objects, monkeypatch)
    assert (settings.scorer_s3_endpoint, settings.scorer_env_secret, settings.scorer_otlp_endpoint) == (
        "http://minio.minio.svc:9000",
        "fraudlake-scorer-s3",
        "http://otel-collector.observability:4318",
    )


PIPELINES_READ = [
    {"apiGroups": ["fraudlake.io"], "resources": ["fraudpipelines"], "verbs": ["get", "list", "watch"]}
]
RBAC_KINDS = ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding")


def _api_container(objects: list[dict[str, Any]]) -> tuple[dict[str, Any], dict[str, str]]:
    """The API Deployment's pod spec and its container's literal env values."""
    pod = next(o for o in objects if o["kind"] == "Deployment")["spec"]["template"]["spec"]
    env = {e["name"]: e["value"] for e in pod["containers"][0].get("env") or [] if "value" in e}
    return pod, env


def test_api_reads_pipelines_cluster_wide_by_default(rendered: dict[tuple[str, Path | None], str]) -> None:
    objects = helm.manifests(rendered["fraudlake-api", None])
    assert _rules(objects, "ClusterRole") == PIPELINES_READ
    assert not [o for o in objects if o["kind"] in ("Role", "RoleBinding")]
    binding = next(o for o in objects if o["kind"] == "ClusterRoleBinding")
    account = next(o for o in objects if o["kind"] == "ServiceAccount")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": account["metadata"]["name"], "namespace": NAMESPACE}
    ]
    pod, env = _api_container(objects)
    assert pod["serviceAccountName"] == account["metadata"]["name"]
    assert pod["automountServiceAccountToken"] is True, "in-cluster config reads the mounted token"
    assert env["FRAUDLAKE_KUBECONFIG"] == "in-cluster"
    assert "FRAUDLAKE_PIPELINES_NAMESPACE" not in env


def test_api_with_a_pipelines_namespace_gets_a_role_there_only(
    rendered: dict[tuple[str, Path | None], str],
) -> None:
    example = values_files("fraudlake-api")[1]
    namespace = yaml.safe_load(example.read_text())["pipelines"]["namespace"]
    objects = helm.manifests(rendered["fraudlake-api", example])
    assert not [o for o in objects if o["kind"] in ("ClusterRole", "ClusterRoleBinding")]
    assert _rules(objects, "Role") == PIPELINES_READ
    assert {o["metadata"]["namespace"] for o in objects if o["kind"] in ("Role", "RoleBinding")} == {
        namespace
    }
    _, env = _api_container(objects)
    assert env["FRAUDLAKE_PIPELINES_NAMESPACE"] == namespace


def test_api_without_pipelines_has_no_rbac_and_no_token(tmp_path: Path) -> None:
    values = tmp_path / "no-pipelines-values.yaml"
    values.write_text(yaml.safe_dump({"pipelines": {"enabled": False, "namespace": PIPELINE_NAMESPACE}}))
    objects = helm.manifests(helm.render("fraudlake-api", values))
    assert not [o for o in objects if o["kind"] in RBAC_KINDS]
    pod, env = _api_container(objects)
    assert pod["automountServiceAccountToken"] is False
    assert not {"FRAUDLAKE_KUBECONFIG", "FRAUDLAKE_PIPELINES_NAMESPACE"} & set(env)


UI_EXAMPLE = REPO_ROOT / "helm" / "fraudlake-ui" / "ci" / "example-values.yaml"


def test_ui_example_signs_analysts_in_at_the_alb_over_https(
    rendered: dict[tuple[str, Path | None], str],
) -> None:
    from fraudlake.ui.identity import AuthSettings

    objects = helm.manifests(rendered["fraudlake-ui", UI_EXAMPLE])
    ingress = next(o for o in objects if o["kind"] == "Ingress")["metadata"]["annotations"]
    prefix = "alb.ingress.kubernetes.io/"
    assert ingress[prefix + "auth-type"] == "oidc"
    assert ingress[prefix + "auth-on-unauthenticated-request"] == "authenticate"
    idp = json.loads(ingress[prefix + "auth-idp-oidc"])
    assert idp["secretName"] == "fraudlake-ui-oidc"  # the client secret stays in a Secret
    assert set(idp) == {"issuer", "authorizationEndpoint", "tokenEndpoint", "userInfoEndpoint", "secretName"}
    assert json.loads(ingress[prefix + "listen-ports"]) == [{"HTTP": 80}, {"HTTPS": 443}]
    assert ingress[prefix + "ssl-redirect"] == "443"
    assert ingress[prefix + "certificate-arn"].startswith("arn:aws:acm:")
    # The console may fetch the ALB's signing keys (HTTPS out).
    policy = next(o for o in objects if o["kind"] == "NetworkPolicy")["spec"]
    assert {"port": 443, "protocol": "TCP"} in [p for rule in policy["egress"] for p in rule.get("ports", [])]
    # What the console is configured with accepts the ALB the Ingress names, and no other.
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    settings = AuthSettings(
        config["FRAUDLAKE_UI_AUTH"], config["FRAUDLAKE_UI_ALB_ARN"], config["FRAUDLAKE_UI_AWS_REGION"]
    )
    name = ingress[prefix + "load-balancer-name"]
    assert settings.signed_by_our_alb(f"{settings.alb_arn.split('/app/')[0]}/app/{name}/50dc6c495c0c9188")
    assert not settings.signed_by_our_alb(f"{settings.alb_arn.split('/app/')[0]}/app/other/50dc6c495c0c9188")


def test_ui_default_has_no_sign_in_and_the_schema_refuses_half_a_sign_in(
    rendered: dict[tuple[str, Path | None], str], tmp_path: Path
) -> None:
    objects = helm.manifests(rendered["fraudlake-ui", None])
    assert next(o for o in objects if o["kind"] == "ConfigMap")["data"]["FRAUDLAKE_UI_AUTH"] == "none"
    example = yaml.safe_load(UI_EXAMPLE.read_text())
    for path, broken in (("ingress", {"certificateArn": ""}), ("auth", {"albArn": ""})):
        values = tmp_path / f"no-{path}.yaml"
        values.write_text(yaml.safe_dump({**example, path: {**example[path], **broken}}))
        with pytest.raises(helm.HelmError, match="minLength"):
            helm.lint("fraudlake-ui", values)


def test_clickhouse_serves_its_own_metrics_to_prometheus(
    rendered: dict[tuple[str, Path | None], str],
) -> None:
    values = REPO_ROOT / "helm" / "fraudlake-clickhouse" / "ci" / "monitoring-values.yaml"
    objects = helm.manifests(rendered["fraudlake-clickhouse", values])
    chi = next(o for o in objects if o["kind"] == "ClickHouseInstallation")
    settings = chi["spec"]["configuration"]["settings"]
    assert settings["prometheus/endpoint"] == "/metrics"
    assert all(
        settings[f"prometheus/{table}"] == "true" for table in ("metrics", "events", "asynchronous_metrics")
    )
    (container,) = chi["spec"]["templates"]["podTemplates"][0]["spec"]["containers"]
    assert {
        "name": "metrics",
        "containerPort": int(settings["prometheus/port"]),
        "protocol": "TCP",
    } in container["ports"]
    monitor = next(o for o in objects if o["kind"] == "PodMonitor")
    assert monitor["spec"]["podMetricsEndpoints"][0]["port"] == "metrics"
    # The label the Altinity operator puts on every pod of the installation.
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "clickhouse.altinity.com/chi": chi["metadata"]["name"]
    }
    policy = next(o for o in objects if o["kind"] == "NetworkPolicy")["spec"]["ingress"]
    assert any(p["port"] == int(settings["prometheus/port"]) for rule in policy for p in rule["ports"])


def test_api_service_monitor_scrapes_the_metrics_port(tmp_path: Path) -> None:
    """Optional ServiceMonitor (not in the dry run: the Prometheus Operator CRDs are not installed here)."""
    values = tmp_path / "monitoring-values.yaml"
    values.write_text(
        yaml.safe_dump({"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}})
    )
    objects = helm.manifests(helm.render("fraudlake-api", values))
    monitor = next(o for o in objects if o["kind"] == "ServiceMonitor")
    service = next(o for o in objects if o["kind"] == "Service")
    assert monitor["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"].items() <= service["metadata"]["labels"].items()
    assert monitor["spec"]["endpoints"] == [{"port": "http", "path": "/metrics", "interval": "30s"}]
    assert "http" in {port["name"] for port in service["spec"]["ports"]}


def _jmx_metric(rules: list[dict[str, Any]], bean: str) -> str | None:
    """The metric name the JMX exporter gives `bean` (domain<keys><>attribute: value) under `rules`
    (lowercaseOutputName; unanchored patterns; characters Prometheus refuses become '_')."""
    for rule in rules:
        match = re.search(rule["pattern"], bean)
        if match:
            return re.sub(r"[^a-zA-Z0-9_:]", "_", match.expand(rule["name"].replace("$", "\\")).lower())
    return None


def test_kafka_monitoring_alerts_on_lake_sink_dead_letters(tmp_path: Path) -> None:
    """Optional PodMonitor and PrometheusRule (not in the dry run: no Prometheus Operator CRDs here), lint
    clean; the alerts read metric names the chart's JMX exporter rules produce for the operator's sinks."""
    values = tmp_path / "monitoring-values.yaml"
    values.write_text(yaml.safe_dump({"monitoring": {"enabled": True, "labels": {"release": "prometheus"}}}))
    assert "0 chart(s) failed" in helm.lint("fraudlake-kafka", values)
    objects = helm.manifests(helm.render("fraudlake-kafka", values))
    by_kind = {o["kind"]: o for o in objects if o["kind"] != "KafkaUser"}
    connect = by_kind["KafkaConnect"]
    ref = connect["spec"]["metricsConfig"]["valueFrom"]["configMapKeyRef"]
    config_map = next(o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == ref["name"])
    jmx_rules = yaml.safe_load(config_map["data"][ref["key"]])["rules"]

    connector = naming.connector_name("fraud", "demo")
    beans = [
        f"kafka.connect<type=task-error-metrics, connector={connector}, task=0><>{attribute}: 2.0"
        for attribute in (
            "total-records-skipped",
            "deadletterqueue-produce-requests",
            "deadletterqueue-produce-failures",
        )
    ]
    beans.append(f"kafka.connect<type=connector-task-metrics, connector={connector}, task=0><>status: failed")
    produced = {_jmx_metric(jmx_rules, bean) for bean in beans}
    assert "kafka_connect_task_error_metrics_total_records_skipped" in produced

    # The Connect workers' monitor and rule (the Kafka Exporter has its own, test_monitoring_deploy.py).
    named = {(o["kind"], o["metadata"]["name"]): o for o in objects}
    monitor = named["PodMonitor", connect["metadata"]["name"]]
    rule = named["PrometheusRule", f"{connect['metadata']['name']}-lake-sinks"]
    for obj in (monitor, rule):
        assert obj["metadata"]["labels"]["release"] == "prometheus"
    assert monitor["spec"]["selector"]["matchLabels"] == {
        "strimzi.io/kind": "KafkaConnect",
        "strimzi.io/cluster": connect["metadata"]["name"],
    }
    alerts = {r["alert"]: r for group in rule["spec"]["groups"] for r in group["rules"]}
    assert {"FraudlakeLakeSinkDeadLetters", "FraudlakeLakeSinkTaskFailed"} <= set(alerts)
    deadletter = naming.topic_name("fraud", "demo", naming.SINK_DEADLETTER)
    for alert in alerts.values():
        metrics = set(re.findall(r"\b(kafka_connect_[a-z_]+)\{", alert["expr"]))
        assert metrics, alert["alert"]
        assert metrics <= produced, (alert["alert"], metrics - produced)
        # Every selector matches the operator's connector names (PromQL unescapes the regex once).
        for selector in re.findall(r'connector=~"([^"]+)"', alert["expr"]):
            assert re.fullmatch(selector.replace("\\\\", "\\"), connector), selector
    # The dead-letter alert names the topic the operator creates for that connector.
    replacement, source = re.search(
        r'"deadletter_topic", "([^"]+)", "connector", "([^"]+)"',
        alerts["FraudlakeLakeSinkDeadLetters"]["expr"],
    ).groups()
    target = re.fullmatch(source.replace("\\\\", "\\"), connector)
    assert target, source
    assert replacement.replace("${1}", target[1]) == deadletter
    # Connect may write it: the operator creates the topic, the sink produces to it.
    user = next(
        o for o in objects if o["kind"] == "KafkaUser" and o["metadata"]["name"] == "fraudlake-connect"
    )
    assert any(
        acl["resource"]["type"] == "topic"
        and acl["resource"].get("patternType") == "prefix"
        and deadletter.startswith(acl["resource"]["name"])
        and "Write" in acl["operations"]
        for acl in user["spec"]["authorization"]["acls"]
    )


# --- server-side dry run against the local kube-apiserver --------------------------------------------


def kubectl(kube: ServiceRecord, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    argv = [str(kubectl_binary()), f"--kubeconfig={kube.endpoints['kubeconfig']}", *args]
    return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=180, check=False)


@pytest.fixture(scope="module")
def cluster(kube: ServiceRecord) -> ServiceRecord:
    """The local API server with what a real cluster would have before our charts: the FraudPipeline CRD
    (from the operator chart), Strimzi's KafkaNodePool CRD and the target namespaces."""
    # The API server is shared by the session: never replace the operator tests' CRD with a stale copy.
    assert CHART_CRD.read_bytes() == OPERATOR_CRD.read_bytes(), (
        "chart CRD copy is stale (see tests/unit/deploy)"
    )
    applied = kubectl(
        kube,
        "apply",
        "--server-side",
        "--force-conflicts",
        "-f",
        str(CHART_CRD),
        "-f",
        str(KAFKA_NODE_POOL_CRD),
    )
    assert applied.returncode == 0, applied.stderr
    crds = ("crd/fraudpipelines.fraudlake.io", "crd/kafkanodepools.kafka.strimzi.io")
    waited = kubectl(kube, "wait", "--for=condition=Established", "--timeout=60s", *crds)
    assert waited.returncode == 0, waited.stderr
    for namespace in (*NAMESPACES, *RELEASE_NAMESPACES):
        created = kubectl(kube, "create", "namespace", namespace, "--dry-run=client", "-o", "yaml")
        kubectl(kube, "apply", "-f", "-", stdin=created.stdout)
    return kube


@pytest.mark.parametrize(("chart", "values"), CHART_VALUES, ids=case_id)
def test_server_side_dry_run_accepts_every_rendered_manifest(
    cluster: ServiceRecord, rendered: dict[tuple[str, Path | None], str], chart: str, values: Path | None
) -> None:
    result = kubectl(
        cluster, "apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=rendered[chart, values]
    )
    assert result.returncode == 0, f"{chart}:\n{result.stderr}"
    created = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
    assert len(created) == len(helm.manifests(rendered[chart, values])), result.stdout


def test_server_side_dry_run_accepts_the_upstream_companion_manifests(cluster: ServiceRecord) -> None:
    for manifest in sorted(UPSTREAM_VALUES_DIR.glob("*networkpolicy*.yaml")):
        result = kubectl(cluster, "apply", "--dry-run=server", "--validate=strict", "-f", str(manifest))
        assert result.returncode == 0, f"{manifest.name}:\n{result.stderr}"


def test_server_side_dry_run_accepts_the_eks_example_pipeline(cluster: ServiceRecord) -> None:
    """docs/deploy.md applies operator/examples/pipeline-eks.yaml; the CRD the chart installs accepts it."""
    result = kubectl(cluster, "apply", "--dry-run=server", "--validate=strict", "-f", str(EKS_PIPELINE))
    assert result.returncode == 0, result.stderr


def _can_i(kube: ServiceRecord, account: str, verb: str, resource: str, *scope: str) -> bool:
    """`kubectl auth can-i` as the API's ServiceAccount (the admin kubeconfig impersonates it)."""
    result = kubectl(kube, "auth", "can-i", verb, resource, f"--as=system:serviceaccount:{account}", *scope)
    assert result.stdout.strip() in ("yes", "no"), result.stdout + result.stderr
    return result.stdout.strip() == "yes"


@pytest.mark.parametrize("namespace", ["", PIPELINE_NAMESPACE], ids=["cluster-wide", "namespaced"])
def test_api_service_account_may_only_read_pipelines(
    cluster: ServiceRecord, tmp_path: Path, namespace: str
) -> None:
    """The chart's RBAC applied for real: the API reads FraudPipelines where configured, and nothing more."""
    release = f"fraudlake-api-rbac-{uuid.uuid4().hex[:8]}"  # own names: other runs share the API server
    values = tmp_path / "rbac-values.yaml"
    values.write_text(yaml.safe_dump({"fullnameOverride": release, "pipelines": {"namespace": namespace}}))
    rbac = [o for o in helm.manifests(helm.render("fraudlake-api", values)) if o["kind"] in RBAC_KINDS]
    manifest = yaml.safe_dump_all(rbac)
    applied = kubectl(cluster, "apply", "-f", "-", stdin=manifest)
    assert applied.returncode == 0, applied.stderr
    account = f"{NAMESPACE}:{release}"
    pipelines = "fraudpipelines.fraudlake.io"
    everywhere = not namespace  # no pipelines.namespace: a ClusterRole
    try:
        # The authorizer sees new RBAC objects through its informers, a moment after the apply.
        deadline = time.monotonic() + 15
        while not _can_i(cluster, account, "get", pipelines, "-n", PIPELINE_NAMESPACE):
            assert time.monotonic() < deadline, "the applied Role/ClusterRole never took effect"
            time.sleep(0.5)
        for verb in ("get", "list", "watch"):
            assert _can_i(cluster, account, verb, pipelines, "-n", PIPELINE_NAMESPACE)
        assert _can_i(cluster, account, "list", pipelines, "--all-namespaces") is everywhere
        assert _can_i(cluster, account, "list", pipelines, "-n", NAMESPACE) is everywhere
        for verb in ("create", "patch", "update", "delete"):
            assert not _can_i(cluster, account, verb, pipelines, "-n", PIPELINE_NAMESPACE)
        assert not _can_i(
            cluster, account, "patch", pipelines, "--subresource=status", "-n", PIPELINE_NAMESPACE
        )
        assert not _can_i(cluster, account, "get", "secrets", "-n", PIPELINE_NAMESPACE)
        assert not _can_i(cluster, account, "list", "kafkatopics.kafka.strimzi.io", "-n", PIPELINE_NAMESPACE)
    finally:
        kubectl(cluster, "delete", "--ignore-not-found", "-f", "-", stdin=manifest)


def test_server_side_dry_run_rejects_what_the_crd_schema_forbids(
    cluster: ServiceRecord, rendered: dict[tuple[str, Path | None], str]
) -> None:
    """The dry run is a real check: a field Strimzi's schema does not know is refused."""
    objects = helm.manifests(rendered["fraudlake-kafka", None])
    kafka = next(o for o in objects if o["kind"] == "Kafka")
    kafka["spec"]["kafka"]["replicas"] = 3  # gone from kafka.strimzi.io/v1: node pools own the count
    result = kubectl(
        cluster, "apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=yaml.safe_dump(kafka)
    )
    assert result.returncode != 0
    assert "replicas" in result.stderr


# --- helmfile: every release in one file --------------------------------------------------------------


@pytest.fixture(scope="module")
def helmfile_rendered() -> str:
    """`helmfile template` of our releases (origin=fraudlake) in the example environment, CRDs included."""
    return helmfile.template()


def _example_values() -> dict[str, Any]:
    return yaml.safe_load((REPO_ROOT / "helm" / "environments" / "example.yaml").read_text())


def test_helmfile_template_renders_every_chart_of_ours(helmfile_rendered: str) -> None:
    sources = set(re.findall(r"^# Source: ([\w-]+)/", helmfile_rendered, re.MULTILINE))
    assert sources == set(CHARTS)


def test_helmfile_releases_get_the_environment_s_values(helmfile_rendered: str) -> None:
    """The overrides reach the objects: images from the registry and tag, IRSA roles on ServiceAccounts."""
    env = _example_values()
    objects = helm.manifests(helmfile_rendered)

    def one(kind: str, name: str) -> dict[str, Any]:
        (obj,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
        return obj

    api = one("Deployment", "fraudlake-api")["spec"]["template"]["spec"]["containers"][0]
    assert api["image"] == f"{env['registry']}/fraudlake/api:{env['tag']}"
    role = "eks.amazonaws.com/role-arn"
    assert one("ServiceAccount", "fraudlake-api")["metadata"]["annotations"][role] == env["roles"]["api"]
    clickhouse = one("ServiceAccount", "fraudlake-clickhouse")["metadata"]["annotations"][role]
    assert clickhouse == env["roles"]["clickhouse"]
    connect = one("KafkaConnect", "fraudlake-connect")["spec"]
    assert (
        connect["image"]
        == f"{env['registry']}/fraudlake/kafka-connect:{env['tag']}-kafka-{env['kafkaVersion']}"
    )
    assert connect["template"]["serviceAccount"]["metadata"]["annotations"][role] == env["roles"]["connect"]
    namespaces = {o["metadata"].get("namespace") for o in objects} - {None}
    assert namespaces == {NAMESPACE, *RELEASE_NAMESPACES}


def test_server_side_dry_run_accepts_what_helmfile_renders(
    cluster: ServiceRecord, helmfile_rendered: str
) -> None:
    result = kubectl(
        cluster, "apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=helmfile_rendered
    )
    assert result.returncode == 0, result.stderr
    accepted = [line for line in result.stdout.splitlines() if "(server dry run)" in line]
    assert len(accepted) == len(helm.manifests(helmfile_rendered)), result.stdout


def test_helmfile_lint_of_our_releases_with_the_environment_s_values() -> None:
    report = helmfile.run(
        "--environment", helmfile.EXAMPLE_ENVIRONMENT,
        "--selector", helmfile.OWN_CHARTS,
        "--skip-deps",
        "lint",
    )  # fmt: skip
    assert "0 chart(s) failed" in report


def test_helmfile_build_renders_every_release_of_the_file() -> None:
    """The whole file, upstream releases too (the OCI one excepted: helmfile would pull it): environment and
    values templates render, and the values carry the environment's bucket, registry and roles."""
    env = _example_values()
    (state,) = [
        doc for doc in helmfile.build(helmfile.EXAMPLE_ENVIRONMENT, "minio.enabled=true") if "releases" in doc
    ]
    built = {r["name"]: r for r in state["releases"]}
    assert helmfile.oci_releases() == ["strimzi"]
    assert list(built) == [r.name for r in helmfile.releases() if r.name != "strimzi"]
    for release in helmfile.releases():
        if release.name in built:
            assert built[release.name].get("version") == release.version, release.name
    airflow = {k: v for values in built["airflow"]["values"] for k, v in values.items()}
    env_vars = {e["name"]: e.get("value") for e in airflow["env"]}
    assert env_vars["FRAUDLAKE_LAKE_URI"] == f"s3://{env['lakeBucket']}/"
    assert env_vars["FRAUDLAKE_MODEL_URI"] == f"s3://{env['lakeBucket']}/models/"
    assert env_vars["AWS_REGION"] == env["awsRegion"]
    assert "FRAUDLAKE_CHROMA_URL" in env_vars, "entries the environment does not set are kept"
    assert airflow["config"]["logging"]["remote_base_log_folder"] == f"s3://{env['lakeBucket']}/airflow-logs"
    assert (
        airflow["workers"]["serviceAccount"]["annotations"]["eks.amazonaws.com/role-arn"]
        == env["roles"]["airflow"]
    )
    assert env["registry"] in yaml.safe_dump(built["fraudlake-api"]["values"])


def _terraform_stand_in(folder: Path, outputs: list[str]) -> dict[str, Any]:
    """A `terraform` on PATH that answers `-chdir=../../terraform output -json` from helm/environments/
    (the only call the eks environment makes), as Terraform formats it, for every output of
    terraform/outputs.tf. Terraform itself cannot run here (its providers and state are on AWS)."""
    region = "eu-central-1"
    values: dict[str, Any] = {name: name.replace("_", "-") + "-from-terraform" for name in outputs}
    values |= {name: f"arn:aws:iam::111122223333:role/{name}" for name in outputs if name.endswith("_arn")}
    values |= {"region": region, "ecr_registry": f"111122223333.dkr.ecr.{region}.amazonaws.com"}
    answer = {name: {"sensitive": False, "type": "string", "value": value} for name, value in values.items()}
    (folder / "outputs.json").write_text(json.dumps(answer))
    script = folder / "terraform"
    script.write_text(
        "#!/bin/sh\n"
        # helmfile runs it in the environment file's folder; -chdir must name the real module from there.
        '[ "$*" = "-chdir=../../terraform output -json" ] && [ -f ../../terraform/outputs.tf ] \\\n'
        '  || { echo "unexpected call: $* in $PWD" >&2; exit 2; }\n'
        f"cat {folder / 'outputs.json'}\n"
    )
    script.chmod(0o755)
    return values


def test_helmfile_eks_environment_renders_from_terraform_outputs(
    cluster: ServiceRecord, tmp_path: Path, terraform_blocks: list[hcl.HclBlock]
) -> None:
    """`-e eks` end to end but for Terraform: the outputs reach the objects, and the server accepts them."""
    outputs = [b.labels[0] for b in terraform_blocks if b.type == "output"]
    tf = _terraform_stand_in(tmp_path, outputs)
    env = {**os.environ, "PATH": f"{tmp_path}:{os.environ['PATH']}", "TAG": "1.2.3", "KAFKA_VERSION": "4.3.0"}
    rendered = helmfile.template("eks", env=env)
    objects = helm.manifests(rendered)
    (api,) = [o for o in objects if o["kind"] == "Deployment" and o["metadata"]["name"] == "fraudlake-api"]
    container = api["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == f"{tf['ecr_registry']}/fraudlake/api:1.2.3"
    (connect,) = [o for o in objects if o["kind"] == "KafkaConnect"]
    assert connect["spec"]["image"] == f"{tf['ecr_registry']}/fraudlake/kafka-connect:1.2.3-kafka-4.3.0"
    roles = {
        o["metadata"]["name"]: o["metadata"].get("annotations", {}).get("eks.amazonaws.com/role-arn")
        for o in objects
        if o["kind"] == "ServiceAccount"
    }
    assert roles["fraudlake-api"] == tf["api_role_arn"]
    assert roles["fraudlake-clickhouse"] == tf["clickhouse_role_arn"]
    assert f"s3://{tf['lake_bucket']}/models/" in rendered
    result = kubectl(cluster, "apply", "--dry-run=server", "--validate=strict", "-f", "-", stdin=rendered)
    assert result.returncode == 0, result.stderr
    without_tag = {k: v for k, v in env.items() if k != "TAG"}
    with pytest.raises(helmfile.HelmfileError, match="TAG"):
        helmfile.template("eks", env=without_tag)


def test_helmfile_refuses_to_render_without_an_environment() -> None:
    """Negative control: the overrides read environment values; without `-e` nothing renders (no silent
    defaults that would deploy placeholder images)."""
    with pytest.raises(helmfile.HelmfileError):
        helmfile.run("--selector", helmfile.OWN_CHARTS, "--skip-deps", "template")


# --- terraform ---------------------------------------------------------------------------------------


def test_terraform_files_parse_and_are_fmt_clean() -> None:
    assert hcl.format_problems(terraform_files()) == []


def test_hcl_check_reports_unformatted_and_broken_files(tmp_path: Path) -> None:
    unformatted = tmp_path / "unformatted.tf"
    unformatted.write_text('locals {\n  a = 1\n  bb = "x"\n}\n')
    broken = tmp_path / "broken.tf"
    broken.write_text("locals {\n  a = \n")
    problems = hcl.format_problems([unformatted, broken])
    assert any("unformatted.tf: not formatted" in p for p in problems)
    assert any("broken.tf" in p and "parse error" in p for p in problems)


@pytest.fixture(scope="module")
def terraform_blocks() -> list[hcl.HclBlock]:
    return hcl.inventory(sorted(TERRAFORM_DIR.glob("*.tf")))


def test_every_variable_has_description_type_and_default_or_validation(
    terraform_blocks: list[hcl.HclBlock],
) -> None:
    variables = [b for b in terraform_blocks if b.type == "variable"]
    assert variables
    for variable in variables:
        assert variable.attributes.get("description"), f"{variable.name} has no description"
        assert "type" in variable.attributes, f"{variable.name} has no type"
        assert "default" in variable.attributes or "validation" in variable.blocks, variable.name


def test_modules_are_pinned_and_tagged(terraform_blocks: list[hcl.HclBlock]) -> None:
    modules = [b for b in terraform_blocks if b.type == "module"]
    sources = {m.attributes["source"] for m in modules}
    assert {"terraform-aws-modules/vpc/aws", "terraform-aws-modules/eks/aws"} <= sources
    for module in modules:
        assert (module.attributes.get("version") or "").startswith("~> "), (
            f"{module.name} is not pinned with ~>"
        )
        assert "tags" in module.attributes, f"{module.name} does not pass tags"


def test_outputs_are_described_and_include_kubeconfig(terraform_blocks: list[hcl.HclBlock]) -> None:
    outputs = {b.labels[0]: b for b in terraform_blocks if b.type == "output"}
    assert all(o.attributes.get("description") for o in outputs.values())
    assert {
        "configure_kubectl",
        "api_role_arn",
        "airflow_role_arn",
        "clickhouse_role_arn",
        "scorer_role_arn",
        "lake_bucket",
        "ecr_repository_urls",
    } <= set(outputs)


def test_buckets_are_encrypted_versioned_and_private(terraform_blocks: list[hcl.HclBlock]) -> None:
    def names(kind: str) -> set[str]:
        return {b.labels[1] for b in terraform_blocks if b.type == "resource" and b.labels[0] == kind}

    buckets = names("aws_s3_bucket")
    assert buckets
    for guard in (
        "aws_s3_bucket_public_access_block",
        "aws_s3_bucket_server_side_encryption_configuration",
        "aws_s3_bucket_versioning",
    ):
        assert names(guard) == buckets, f"{guard} missing for {buckets - names(guard)}"


def test_clickhouse_role_only_reads_the_pipelines_prefixes(terraform_blocks: list[hcl.HclBlock]) -> None:
    """ClickHouse's s3() reads need GetObject and ListBucket under the pipelines' prefixes and Decrypt on the
    lake key: nothing that writes, deletes or reaches models/."""
    names = {b.name for b in terraform_blocks}
    assert "data.aws_iam_policy_document.clickhouse" in names
    irsa = (TERRAFORM_DIR / "irsa.tf").read_text()
    block = re.search(
        r'^data "aws_iam_policy_document" "clickhouse" \{\n(.*?)^\}', irsa, re.DOTALL | re.MULTILINE
    )
    assert block, "the clickhouse policy document"
    actions = {
        a
        for group in re.findall(r"actions\s*=\s*\[(.*?)\]", block[1])
        for a in re.findall(r'"([^"]+)"', group)
    }
    assert actions == {"s3:GetObject", "s3:ListBucket", "kms:Decrypt"}
    assert "source_policy_documents" not in block[1], "no shared statements (lake_kms grants GenerateDataKey)"
    assert "var.lake_prefixes" in block[1]
    assert "models" not in block[1]
    assert re.search(r"clickhouse\s*=\s*data\.aws_iam_policy_document\.clickhouse\.json", irsa)


def _policy_statements(document: str) -> dict[str, str]:
    """sid -> statement text of one aws_iam_policy_document in irsa.tf."""
    irsa = (TERRAFORM_DIR / "irsa.tf").read_text()
    block = re.search(
        rf'^data "aws_iam_policy_document" "{document}" \{{\n(.*?)^\}}', irsa, re.DOTALL | re.MULTILINE
    )
    assert block, f"the {document} policy document"
    statements = re.findall(r"^  statement \{\n(.*?)^  \}", block[1], re.DOTALL | re.MULTILINE)
    return {re.search(r'sid\s*=\s*"([^"]+)"', text)[1]: text for text in statements}  # type: ignore[index]


def test_connect_writes_only_raw_objects_under_the_lake_prefixes() -> None:
    """A FraudPipeline chooses its lake.prefix; the Connect role, not the spec, decides where sinks write."""
    write = _policy_statements("connect")["WriteRawParquet"]
    assert (
        'resources = [for prefix in var.lake_prefixes : "${local.lake_bucket_arn}/${prefix}/raw/*"]' in write
    )
    read = _policy_statements("airflow")["ReadLake"]
    assert "var.lake_prefixes" in read
    assert '"${local.lake_bucket_arn}/*"' not in read, (
        "Airflow reads the lake's prefixes, not the whole bucket"
    )


def test_providers_are_configured_in_providers_tf(terraform_blocks: list[hcl.HclBlock]) -> None:
    providers = [b for b in terraform_blocks if b.type == "provider"]
    assert {b.labels[0] for b in providers} == {"aws", "kubernetes"}
    assert {Path(b.file).name for b in providers} == {"providers.tf"}


def _backend_settings(text: str) -> dict[str, str]:
    block = re.search(r'^  backend "s3" \{\n(.*?)^  \}', text, re.DOTALL | re.MULTILINE)
    assert block, 'no backend "s3" block'
    return dict(re.findall(r"^\s*(\w+)\s*=\s*(\S+)", block[1], re.MULTILINE))


def test_state_backend_is_a_partial_s3_backend_with_locking(terraform_blocks: list[hcl.HclBlock]) -> None:
    """Bucket, key and region come from `terraform init -backend-config=backend.hcl` (one module, many
    deployments); S3 native locking is on, which needs Terraform 1.10."""
    with_backend = [b for b in terraform_blocks if b.type == "terraform" and "backend" in b.blocks]
    assert [Path(b.file).name for b in with_backend] == ["backend.tf"]
    assert _backend_settings((TERRAFORM_DIR / "backend.tf").read_text()) == {
        "use_lockfile": "true",
        "encrypt": "true",
    }
    example = dict(
        re.findall(r"^(\w+)\s*=\s*(\S+)", (TERRAFORM_DIR / "backend.hcl.example").read_text(), re.MULTILINE)
    )
    assert set(example) == {"bucket", "key", "region"}
    required = next(
        b for b in terraform_blocks if b.type == "terraform" and "required_version" in b.attributes
    )
    assert required.attributes["required_version"] == ">= 1.10"


def test_backend_check_reports_a_backend_that_names_its_bucket() -> None:
    """Negative control: a full (non-partial) configuration is not what the test above accepts."""
    full = 'terraform {\n  backend "s3" {\n    bucket       = "state"\n    use_lockfile = true\n  }\n}\n'
    assert _backend_settings(full) == {"bucket": '"state"', "use_lockfile": "true"}


def test_checkov_skips_in_terraform_state_true_reasons() -> None:
    """Each skip says why; none claims the provider lock file pins modules (it records providers only)."""
    skips = [
        (path.name, check, reason)
        for path in sorted(TERRAFORM_DIR.glob("*.tf"))
        for check, reason in re.findall(r"checkov:skip=(CKV\w+):(.*)", path.read_text())
    ]
    assert skips
    for name, check, reason in skips:
        assert len(reason.strip()) >= 20, f"{name}: skip of {check} needs a real reason"
        assert not re.search(r"lock file pins|lock pins", reason), f"{name}: {check}: {reason}"


def test_operator_gets_no_aws_role(terraform_blocks: list[hcl.HclBlock]) -> None:
    text = "\n".join(p.read_text() for p in TERRAFORM_DIR.glob("*.tf"))
    assert "fraudlake-operator" not in text
    assert "operator" not in {b.labels[0] for b in terraform_blocks if b.type == "module"}


# --- checkov -----------------------------------------------------------------------------------------


def test_checkov_finds_no_failed_check(
    tmp_path: Path, rendered: dict[tuple[str, Path | None], str], capsys: pytest.CaptureFixture[str]
) -> None:
    """checkov over terraform/, all renderings, all Dockerfiles: no failure; skips are justified in place."""
    shutil.copytree(
        TERRAFORM_DIR, tmp_path / "terraform", ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*")
    )
    charts = tmp_path / "helm"
    charts.mkdir()
    for (chart, values), text in rendered.items():
        (charts / f"{chart}-{case_id(values)}").with_suffix(".yaml").write_text(text)
    for manifest in UPSTREAM_VALUES_DIR.glob("*networkpolicy*.yaml"):
        shutil.copy(manifest, charts / manifest.name)
    docker = tmp_path / "docker"
    docker.mkdir()
    for suffix in DOCKERFILES:
        shutil.copy(dockerfile(suffix), docker / f"Dockerfile.{suffix}")

    reports = checkov.scan(tmp_path)

    with capsys.disabled():
        print(
            "\ncheckov " + checkov.CHECKOV_VERSION + ": " + "; ".join(r.summary() for r in reports.values())
        )
    assert set(reports) == set(checkov.FRAMEWORKS), f"checkov scanned only {sorted(reports)}"
    for report in reports.values():
        assert report.parsing_errors == 0, report.summary()
        assert report.resources > 0, report.summary()
        assert report.failed == 0, "\n".join(map(str, report.failures))


# --- Dockerfile build stages --------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["api", "ui", "operator", "scorer", "airflow"])
def test_python_image_build_stage_runs_as_written(tmp_path: Path, suffix: str) -> None:
    """Replay the build stage (COPY + `uv sync` from uv.lock + guards) and check what the runtime gets."""
    rehearsal = Rehearsal(dockerfile(suffix), tmp_path)
    rehearsal.run()
    python = rehearsal.host_path("/opt/venv/bin/python")
    assert python.exists()

    def imports(module: str) -> bool:
        # Run outside the checkout, as in the container: the repository's operator/ folder would shadow
        # the standard library's `operator` module.
        probe = [str(python), "-c", f"import {module}"]
        return subprocess.run(probe, cwd=tmp_path, capture_output=True, check=False).returncode == 0

    assert imports("fraudlake"), "the project itself is installed (non-editable)"
    assert imports("fraudlake.ddl"), "the DDL package data ships with it"
    assert imports("fraudlake.pipeline"), "the FraudPipeline contract ships with every image"
    assert not imports("fraudlake.local"), "the local harness never ships (.dockerignore)"
    if suffix in {"api", "scorer", "ui"}:
        assert not imports("torch"), f"torch leaked into the {suffix} image"
    expected_tool = {
        "api": "uvicorn",
        "ui": "streamlit",
        "operator": "fraudlake",
        "scorer": "fraudlake",
        "airflow": "airflow",
    }[suffix]
    assert rehearsal.host_path(f"/opt/venv/bin/{expected_tool}").exists()
    if suffix == "operator":
        # The image's entry point, with the arguments the chart passes.
        help_text = subprocess.run(
            [str(rehearsal.host_path("/opt/venv/bin/fraudlake")), "operator", "run", "--help"],
            cwd=tmp_path, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert help_text.returncode == 0, help_text.stderr
        for option in ("--standalone", "--liveness", "--all-namespaces", "--namespace", "--verbose"):
            assert option in help_text.stdout, option
        assert imports("fraudlake.operator.handlers")
    if suffix == "ui":
        # The image's entry point (Dockerfile.ui: fraudlake ui serve), and the themed argv it execs.
        help_text = subprocess.run(
            [str(rehearsal.host_path("/opt/venv/bin/fraudlake")), "ui", "serve", "--help"],
            cwd=tmp_path, capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "300"},
        )  # fmt: skip
        assert help_text.returncode == 0, help_text.stderr
        for option in ("--address", "--port", "--api-url"):
            assert option in help_text.stdout, option
        probe = "from fraudlake.ui.cli import streamlit_command as c; print(' '.join(c(8501, '0.0.0.0')))"
        argv = subprocess.run(
            [str(python), "-c", probe], cwd=tmp_path, capture_output=True, text=True, check=True
        ).stdout
        assert "--theme.primaryColor=" in argv, argv
        assert "site-packages/fraudlake/ui/app.py" in argv, argv
    if suffix == "scorer":
        # What the operator's Deployment runs: the scorer's options, each reading the variable it sets.
        help_text = subprocess.run(
            [str(rehearsal.host_path("/opt/venv/bin/fraudlake")), "scorer", "run", "--help"],
            cwd=tmp_path, capture_output=True, text=True, check=False, env={**os.environ, "COLUMNS": "300"},
        )  # fmt: skip
        assert help_text.returncode == 0, help_text.stderr
        for variable in scorer_env.DEPLOYMENT:
            assert variable in help_text.stdout, variable
        for module in ("fraudlake.stream.engine", "fraudlake.stream.loader", "fraudlake.scoring.bundle"):
            assert imports(module), module
        assert not imports("fastapi"), "the scorer image carries no API server"
        assert not imports("kopf"), "nor the operator"
    if suffix == "airflow":
        check_airflow_image_serves_the_chart_values(python, tmp_path / "airflow-home")


def documented_metadata_url() -> str:
    """The metadata database URL docs/deploy.md tells users to put in the airflow-metadata Secret."""
    doc = (REPO_ROOT / "docs" / "deploy.md").read_text()
    match = re.search(r'airflow-metadata.*?--from-literal=connection="([^"]+)"', doc, re.S)
    assert match, "docs/deploy.md no longer shows the airflow-metadata Secret's connection"
    return match.group(1).replace("<password>", "secret").replace("<rds-endpoint>", "db.example")


def check_airflow_image_serves_the_chart_values(python: Path, airflow_home: Path) -> None:
    """The executor, metadata DB driver and remote log handler of helm/values/airflow.yaml load in the
    image as Airflow loads them; and the same check refuses what the image was not built with."""
    values = yaml.safe_load((UPSTREAM_VALUES_DIR / "airflow.yaml").read_text())
    metadata_url = documented_metadata_url()
    loaded = check_airflow_image(python, values, metadata_url, airflow_home)
    assert values["executor"] == "KubernetesExecutor"
    assert loaded["executor"].startswith("airflow.providers.cncf.kubernetes."), loaded
    assert loaded["metadata-db"].startswith("postgresql "), loaded
    assert loaded["remote-logging"] == "S3RemoteLogIO", loaded
    with pytest.raises(AirflowImageError, match=r"No module named 'airflow\.providers\.celery'"):
        check_airflow_image(python, {**values, "executor": "CeleryExecutor"}, metadata_url, airflow_home)
    with pytest.raises(AirflowImageError, match="mysqlclient"):
        check_airflow_image(python, values, "mysql://airflow:secret@db.example/airflow", airflow_home)


def test_rehearsal_fails_when_a_copy_source_is_missing(tmp_path: Path) -> None:
    broken = tmp_path / "Dockerfile.broken"
    broken.write_text("FROM python:3.11.14-slim-bookworm AS build\nWORKDIR /src\nCOPY no-such-dir/ x/\n")
    with pytest.raises(RehearsalError, match="no-such-dir"):
        Rehearsal(broken, tmp_path / "root").run()

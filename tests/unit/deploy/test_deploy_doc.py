"""docs/deploy.md walks from `terraform apply` to the API answering: every step present, in order, and
every file, chart, Terraform output and Secret it names agrees with the repository."""

from __future__ import annotations

import re

import pytest
import yaml

from fraudlake.local.deploy.helmfile import releases
from fraudlake.local.deploy.layout import CHARTS, HELM_DIR, TERRAFORM_DIR, UPSTREAM_VALUES_DIR, chart_dir
from fraudlake.local.stack.paths import REPO_ROOT

pytestmark = pytest.mark.unit

DOC = REPO_ROOT / "docs" / "deploy.md"
# Every release, upstream and ours, in one command: helm/helmfile.yaml with the eks environment.
EKS_ENVIRONMENT = HELM_DIR / "environments" / "eks.yaml.gotmpl"
HELMFILE_APPLY = r"^helmfile -f helm/helmfile\.yaml -e eks apply$"

# The walk, in order: each entry is a regular expression one command must match.
STEPS = [
    r"^terraform init -backend-config=backend\.hcl$",
    r"^terraform apply ",
    r"terraform output -raw configure_kubectl",
    r"^kubectl get nodes$",
    r"docker login .*ecr|docker login --username AWS",
    r"docker buildx build .*-f \"?Dockerfile\.\$image",
    r"docker buildx build .*-f Dockerfile\.kafka_connect",
    r"^kubectl create namespace",
    r"create secret generic fraudlake-clickhouse ",
    r"create secret generic airflow-metadata ",
    r"create secret generic fraudlake-api ",
    HELMFILE_APPLY,
    r"kubectl get crd fraudpipelines\.fraudlake\.io",
    r"kubectl -n kafka wait kafka/fraudlake --for=condition=Ready",
    r"kubectl -n clickhouse get chi fraudlake",
    r"operator/examples/pipeline-eks\.yaml\s*\|\s*kubectl apply -f -$",
    r"wait fp/demo --for=condition=Ready",
    r"port-forward svc/fraudlake-api",
    r"curl .*/healthz",
]


def commands() -> list[str]:
    """Every command in the doc's bash blocks, continuation lines joined, comments dropped."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.DOTALL)
    joined = [re.sub(r"\\\n\s*", "", block) for block in blocks]
    lines = [line.split("  #")[0].strip() for block in joined for line in block.splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def test_every_step_is_present_in_order() -> None:
    remaining = commands()
    for step in STEPS:
        index = next((i for i, command in enumerate(remaining) if re.search(step, command)), None)
        assert index is not None, f"no command matching {step!r} after the previous step"
        remaining = remaining[index + 1 :]


def test_every_chart_is_installed_by_the_one_helmfile_command() -> None:
    """No release is installed on its own: helmfile installs all of them (test_helmfile checks the list)."""
    assert [c for c in commands() if re.search(HELMFILE_APPLY, c)]
    assert not [c for c in commands() if re.match(r"helm (upgrade|install)\b", c)]
    released = {r.name for r in releases()}
    assert set(CHARTS) <= released


def test_the_release_table_matches_helmfile_yaml() -> None:
    """The doc's table of releases shows the same releases, namespaces, charts and pinned versions."""
    rows = re.findall(
        r"^\| `([\w-]+)` \| `([\w/.-]+)`(?: \(([\d.]+)\))?[^|]*\| `([\w-]+)` \|", DOC.read_text(), re.M
    )
    documented = {name: (chart, version or None, namespace) for name, chart, version, namespace in rows}
    released = {r.name: (r.chart.replace("./", "helm/"), r.version, r.namespace) for r in releases()}
    assert documented == released


def test_referenced_files_exist() -> None:
    text = "\n".join(commands())
    paths = set(re.findall(r"\b((?:helm|operator|terraform)/[\w./-]+\.ya?ml|Dockerfile\.\w+)", text))
    assert paths
    for path in paths:
        assert (REPO_ROOT / path).exists(), path
    for image in re.findall(r"for image in ([\w ]+);", text)[0].split():
        assert (REPO_ROOT / f"Dockerfile.{image}").exists(), image


def outputs_used() -> set[str]:
    """Terraform outputs the deployment reads: in the doc, and in helmfile's eks environment."""
    in_doc = set(re.findall(r"terraform (?:-chdir=terraform )?output -raw (\w+)", DOC.read_text()))
    in_helmfile = set(re.findall(r"\$tf\.(\w+)\.value", EKS_ENVIRONMENT.read_text()))
    assert in_doc
    assert in_helmfile
    return in_doc | in_helmfile


def test_terraform_outputs_used_exist() -> None:
    outputs = set(re.findall(r'^output "(\w+)"', (TERRAFORM_DIR / "outputs.tf").read_text(), re.MULTILINE))
    used = outputs_used()
    assert used <= outputs, used - outputs


def created_secrets() -> dict[str, set[str]]:
    """Secret name -> keys, from the doc's `kubectl create secret generic` commands."""
    secrets: dict[str, set[str]] = {}
    for command in commands():
        match = re.search(r"create secret generic ([\w-]+)(.*)", command)
        if match:
            secrets.setdefault(match[1], set()).update(re.findall(r"--from-literal=([\w-]+)=", match[2]))
    return secrets


def test_the_secrets_the_charts_expect_are_created() -> None:
    secrets = created_secrets()
    for chart in ("fraudlake-api", "fraudlake-ui"):
        values = yaml.safe_load((chart_dir(chart) / "values.yaml").read_text())["secrets"]
        assert set(values["env"].values()) <= secrets.get(values["existingSecret"], set()), chart
    clickhouse = yaml.safe_load((chart_dir("fraudlake-clickhouse") / "values.yaml").read_text())
    for user in clickhouse["users"].values():
        ref = user["passwordSecret"]
        assert ref["key"] in secrets.get(ref["name"], set()), ref
    airflow = yaml.safe_load((UPSTREAM_VALUES_DIR / "airflow.yaml").read_text())
    for key in ("fernetKeySecretName", "apiSecretKeySecretName", "jwtSecretName"):
        assert airflow[key] in secrets, key
    assert airflow["data"]["metadataSecretName"] in secrets
    for env in airflow["secret"]:
        assert env["secretKey"] in secrets.get(env["secretName"], set()), env


def test_example_pipeline_points_at_the_charts_clusters() -> None:
    pipeline = yaml.safe_load((REPO_ROOT / "operator" / "examples" / "pipeline-eks.yaml").read_text())
    kafka = yaml.safe_load((chart_dir("fraudlake-kafka") / "values.yaml").read_text())
    assert pipeline["spec"]["kafka"]["clusterRef"] == {"name": kafka["kafka"]["name"], "namespace": "kafka"}
    assert pipeline["spec"]["lake"]["connectClusterRef"] == {
        "name": kafka["connect"]["name"],
        "namespace": "kafka",
    }
    assert "endpoint" not in pipeline["spec"]["lake"], "on EKS the lake is S3 itself"
    assert "credentialsSecret" not in pipeline["spec"]["lake"], "Connect writes with its IRSA role"


def test_irsa_roles_trust_the_service_accounts_the_charts_create() -> None:
    """Strimzi names Connect's ServiceAccount <name>-connect; the API release's is its fullname; the
    ClickHouse chart's is its release name, and its pods run as it."""
    variables = (TERRAFORM_DIR / "variables.tf").read_text()
    connect = yaml.safe_load((chart_dir("fraudlake-kafka") / "values.yaml").read_text())["connect"]["name"]
    assert f'"kafka:{connect}-connect"' in variables
    released = {r.name: r.namespace for r in releases()}
    assert '"fraudlake:fraudlake-api"' in variables
    assert released["fraudlake-api"] == "fraudlake"
    assert '"clickhouse:fraudlake-clickhouse"' in variables
    assert released["fraudlake-clickhouse"] == "clickhouse"
    clickhouse = chart_dir("fraudlake-clickhouse")
    service_account = yaml.safe_load((clickhouse / "values.yaml").read_text())["serviceAccount"]
    assert service_account["create"]
    assert service_account["name"] == "", "named after the release"
    pods = (clickhouse / "templates" / "010-ClickHouseInstallation-fraudlake-clickhouse.yaml").read_text()
    assert 'serviceAccountName: {{ include "fraudlake-clickhouse.serviceAccountName" . }}' in pods


def test_every_irsa_role_s_annotation_is_set_from_its_terraform_output() -> None:
    """Each workload role in irsa.tf has an output, which the deployment annotates its ServiceAccount with."""
    irsa = (TERRAFORM_DIR / "irsa.tf").read_text()
    roles = re.search(r"irsa_policies = \{(.*?)\}", irsa, re.DOTALL)
    assert roles
    names = re.findall(r"^\s*(\w+)\s*=", roles[1], re.MULTILINE)
    assert "clickhouse" in names
    assert {f"{name}_role_arn" for name in names} <= outputs_used()

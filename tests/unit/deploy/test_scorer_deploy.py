"""The stream scorer's production path: its ECR repository, its IRSA role (read models/ only, trusted by the
ServiceAccounts the operator names) and the docs/deploy.md steps that push its image and hand the operator
chart the image and the role. Plain text checks of terraform/ and the doc, like test_deploy_doc; the HCL
parse, fmt and checkov of the same files run in tests/integration/test_deploy.py."""

from __future__ import annotations

import re

import pytest
import yaml

from fraudlake.local.deploy.layout import DOCKERFILES, TERRAFORM_DIR, chart_dir
from fraudlake.local.stack.paths import REPO_ROOT
from fraudlake.operator import builders, crd_schema
from fraudlake.operator import scorer as scorer_reconciler
from fraudlake.operator.builders import Pipeline, scorer_name
from fraudlake.pipeline.spec import FraudPipelineSpec

pytestmark = pytest.mark.unit

DOC = REPO_ROOT / "docs" / "deploy.md"
EKS_PIPELINE = REPO_ROOT / "operator" / "examples" / "pipeline-eks.yaml"
VARIABLES = TERRAFORM_DIR / "variables.tf"
IRSA = TERRAFORM_DIR / "irsa.tf"
TFVARS_EXAMPLE = TERRAFORM_DIR / "terraform.tfvars.example"
OPERATOR_OVERRIDE = REPO_ROOT / "helm" / "overrides" / "fraudlake-operator.yaml.gotmpl"
EKS_ENVIRONMENT = REPO_ROOT / "helm" / "environments" / "eks.yaml.gotmpl"


def doc_commands() -> str:
    """The doc's bash blocks, continuation lines joined."""
    blocks = re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.DOTALL)
    return "\n".join(re.sub(r"\\\n\s*", "", block) for block in blocks)


def hcl_block(text: str, header: str) -> str:
    """The body of the top-level block that starts with `header` (closing brace at column 0)."""
    match = re.search(rf"^{re.escape(header)} \{{\n(.*?)^\}}", text, re.DOTALL | re.MULTILINE)
    assert match, header
    return match[1]


def found(pattern: str, text: str, flags: int = 0) -> re.Match[str]:
    match = re.search(pattern, text, flags)
    assert match, pattern
    return match


def strings(hcl_list: str) -> list[str]:
    return re.findall(r'"([^"]*)"', hcl_list)


def scorer_pairs(text: str) -> list[list[str]]:
    """Every `scorer = [...]` / `scorer = optional(list(string), [...])` list of ServiceAccounts in `text`."""
    return [
        strings(group)
        for group in re.findall(r"^\s*scorer\s*=\s*(?:optional\(list\(string\),\s*)?\[([^\]]*)\]", text, re.M)
    ]


def example_pipeline() -> Pipeline:
    manifest = yaml.safe_load(EKS_PIPELINE.read_text())
    metadata = manifest["metadata"]
    return Pipeline(metadata["namespace"], metadata["name"], 1, FraudPipelineSpec.parse(manifest["spec"]))


# --- ECR ------------------------------------------------------------------------------------------------


def test_every_image_has_an_ecr_repository_the_doc_pushes_to() -> None:
    """One repository per Dockerfile.* (kafka_connect -> kafka-connect), and the doc pushes each image to
    its fraudlake/<repository>."""
    block = hcl_block(VARIABLES.read_text(), 'variable "ecr_repositories"')
    repositories = strings(found(r"default\s*=\s*\[([^\]]*)\]", block)[1])
    assert sorted(repositories) == sorted(suffix.replace("_", "-") for suffix in DOCKERFILES)
    assert "scorer" in repositories
    commands = doc_commands()
    loop = found(r"for image in ([\w ]+); do\n(.*?)\ndone", commands, re.DOTALL)
    assert '"$REGISTRY/fraudlake/$image:$TAG"' in loop[2]
    assert '-f "Dockerfile.$image"' in loop[2]
    pushed = set(loop[1].split()) | set(re.findall(r'"\$REGISTRY/fraudlake/([\w-]+):', commands))
    assert pushed == set(repositories)
    assert "scorer" in loop[1].split(), "the scorer builds from Dockerfile.scorer like the other images"


# --- the scorer's IRSA role -----------------------------------------------------------------------------


def test_scorer_policy_only_lists_and_reads_models() -> None:
    """GetObject and ListBucket under models/ only, Decrypt on the lake key through S3 only: nothing that
    writes, deletes, or reaches the pipelines' raw data."""
    irsa = IRSA.read_text()
    assert re.search(r'^\s*models_prefix\s*=\s*"models/"$', irsa, re.M)
    block = hcl_block(irsa, 'data "aws_iam_policy_document" "scorer"')
    assert "source_policy_documents" not in block, "no shared statements (lake_kms grants GenerateDataKey)"
    assert "effect" not in block, "Allow statements only"
    statements = re.split(r"^  statement \{$", block, flags=re.M)[1:]
    granted = {}
    for statement in statements:
        actions = strings(found(r"actions\s*=\s*\[(.*?)\]", statement)[1])
        resources = found(r"resources\s*=\s*\[(.*?)\]", statement)[1].strip()
        conditions = re.findall(
            r'test\s*=\s*"(\w+)"\s*variable\s*=\s*"([\w:]+)"\s*values\s*=\s*\[(.*?)\]', statement, re.S
        )
        for action in actions:
            granted[action] = (resources, [(test, var, values.strip()) for test, var, values in conditions])
    assert granted == {
        "s3:ListBucket": (
            "local.lake_bucket_arn",
            [("StringLike", "s3:prefix", '"${local.models_prefix}*"')],
        ),
        "s3:GetObject": ('"${local.lake_bucket_arn}/${local.models_prefix}*"', []),
        "kms:Decrypt": (
            "aws_kms_key.data.arn",
            [("StringEquals", "kms:ViaService", '"s3.${var.region}.amazonaws.com"')],
        ),
    }
    assert re.search(r"^\s*scorer\s*=\s*data\.aws_iam_policy_document\.scorer\.json$", irsa, re.M)


def test_scorer_role_is_output_and_annotated_by_the_helmfile_release() -> None:
    """helm/helmfile.yaml's fraudlake-operator release sets the scorer defaults from the eks environment,
    which reads them from Terraform's outputs: role, image and the models/ prefix the role may read."""
    outputs = (TERRAFORM_DIR / "outputs.tf").read_text()
    role = hcl_block(outputs, 'output "scorer_role_arn"')
    assert 'value       = module.workload_irsa["scorer"].arn' in role
    scorer = found(r"^scorer:\n((?:  .*\n)+)", OPERATOR_OVERRIDE.read_text(), re.M)[1]
    assert 'repository: {{ printf "%s/fraudlake/scorer" .Values.registry | quote }}' in scorer
    assert "tag: {{ .Values.tag | quote }}" in scorer
    assert "eks.amazonaws.com/role-arn: {{ .Values.roles.scorer | quote }}" in scorer
    assert 'modelUri: {{ printf "s3://%s/models/" .Values.lakeBucket | quote }}' in scorer
    eks = EKS_ENVIRONMENT.read_text()
    assert re.search(r"^  scorer: \{\{ \$tf\.scorer_role_arn\.value ", eks, re.M)
    assert re.search(r"^lakeBucket: \{\{ \$tf\.lake_bucket\.value ", eks, re.M)
    assert re.search(r"^registry: \{\{ \$tf\.ecr_registry\.value ", eks, re.M)
    # Those are the operator chart's own keys.
    values = yaml.safe_load((chart_dir("fraudlake-operator") / "values.yaml").read_text())["scorer"]
    assert {"repository", "tag"} <= set(values["image"])
    assert isinstance(values["serviceAccountAnnotations"], dict)
    assert "modelUri" in values


def test_every_role_output_is_read_by_the_eks_environment() -> None:
    """Each *_role_arn output reaches a release through helmfile's eks environment (none by hand)."""
    outputs = set(re.findall(r'^output "(\w+_role_arn)"', (TERRAFORM_DIR / "outputs.tf").read_text(), re.M))
    assert "scorer_role_arn" in outputs
    used = set(re.findall(r"\$tf\.(\w+_role_arn)\.value", EKS_ENVIRONMENT.read_text()))
    assert outputs <= used, outputs - used


def test_scorer_role_trusts_the_service_accounts_the_operator_names() -> None:
    """The trust lists `<namespace>:<scorer_name(pipeline)>` pairs: the example pipeline's is the default
    (in the type's optional() default, the variable's default and the example tfvars), and the validation
    accepts exactly the names the operator makes from names the CRD accepts."""
    assert scorer_reconciler.scorer_name is builders.scorer_name, "the reconciler names its ServiceAccount so"
    pipeline = example_pipeline()
    assert pipeline.spec.scoring.replicas > 0, "the doc's example pipeline runs a scorer"
    expected = f"{pipeline.namespace}:{scorer_name(pipeline)}"
    variable = hcl_block(VARIABLES.read_text(), 'variable "service_accounts"')
    listed = [*scorer_pairs(variable), *scorer_pairs(TFVARS_EXAMPLE.read_text())]
    assert len(listed) == 3, listed
    for pairs in listed:
        assert expected in pairs, pairs

    # The validation: the regex (Terraform's RE2 and Python agree on this one) and the length bound.
    validation = found(r"for sa in var\.service_accounts\.scorer : \((.*?)\n\s*\)\n", variable, re.S)[1]
    pattern = found(r'can\(regex\("([^"]+)", sa\)\)', validation)[1]
    bound = int(found(r"length\(sa\) - length\(split\(\":\", sa\)\[0\]\) - 1 <= (\d+)", validation)[1])
    rules = [rule["rule"] for rule in crd_schema.NAME_RULES]
    max_name = int(found(r"size\(\) <= (\d+)", next(r for r in rules if "size()" in r))[1])
    crd_name = re.compile(found(r"matches\('(.+)'\)", next(r for r in rules if ".matches(" in r))[1])

    def accepted(sa: str) -> bool:
        return bool(re.fullmatch(pattern, sa)) and len(sa.split(":", 1)[1]) <= bound

    def scorer_of(name: str) -> str:
        return f"{pipeline.namespace}:{scorer_name(Pipeline(pipeline.namespace, name, 1, pipeline.spec))}"

    for name in ("a", "demo", "card-fraud-2", "x" * max_name):
        assert crd_name.fullmatch(name)
        assert len(name) <= max_name
        assert accepted(scorer_of(name)), name
    assert not accepted(scorer_of("x" * (max_name + 1))), "longer than the CRD allows"
    for refused in (
        f"{pipeline.namespace}:*-scorer",  # no wildcards
        f"{pipeline.namespace}:demo*-scorer",
        f"{pipeline.namespace}:demo?-scorer",
        f"{pipeline.namespace}:demo",  # not a scorer's ServiceAccount
        f"{pipeline.namespace}:a.b-scorer",  # the CRD refuses dots in pipeline names
        "demo-scorer",  # no namespace
        f"*:{scorer_name(pipeline)}",
    ):
        assert not accepted(refused), refused
    for pairs in listed:
        assert all(accepted(sa) for sa in pairs), pairs

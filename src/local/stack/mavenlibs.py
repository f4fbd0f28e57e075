"""Java components of the local stack: jars from Maven Central and our own builds, cached, run with `java`.

A pom-only project under tools/ names the pinned artifacts; `mvn dependency:copy-dependencies`
copies them with their runtime dependencies into ~/.cache/fraudlake/<name>-<version>-<pom digest>/libs.
A jar project (e.g. connectors/s3-parquet-sink) is built instead: `mvn package` on a copy of its pom and
sources, whose output folder (jar + runtime dependencies) becomes libs; its cache key digests the pom and
src/, so editing a source file rebuilds.
The copy or build runs in a staging folder renamed into place only when it succeeded, so an interrupted
download never looks complete; a file lock keeps two processes from copying the same set twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import re
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from fraudlake.local.stack.errors import DownloadFailedError, StackError, ToolchainMissingError
from fraudlake.local.stack.paths import cache_dir, cache_root
from fraudlake.local.stack.process import log_tail

MAVEN_CENTRAL = "Maven Central"

# Lines in Maven's output that mean an artifact (or a plugin) could not be fetched.
_FETCH_ERROR = re.compile(
    r"Could not (?:resolve|find|transfer) artifact|Could not resolve dependencies|Failed to read artifact"
    r"|Plugin .* could not be resolved|Connection refused|Connect to .* failed|Unknown host"
)


@dataclass(frozen=True)
class MavenLibs:
    """One pinned set of jars: the runtime dependencies of a pom-only project."""

    name: str
    version: str
    pom: Path
    fetches: str  # the artifacts Maven Central must deliver, for the error message
    # Runs on the copied jars (libs dir, log) before the set is published, e.g. to add manifests.
    post_copy: Callable[[Path, Path], None] | None = None
    # Set for a jar project: the folder (relative to the pom) that `mvn package` fills with the jar and
    # its runtime dependencies. None: a pom-only project whose dependencies are copied.
    package_output: str | None = None

    @property
    def home(self) -> Path:
        return cache_dir(self.name, f"{self.version}-{self.digest()}")

    def digest(self) -> str:
        """Cache key: the pom's digest, plus every file under src/ for a jar project."""
        if self.package_output is None:
            return hashlib.sha256(self.pom.read_bytes()).hexdigest()[:8]
        sources = hashlib.sha256()
        for path in self.build_inputs():
            sources.update(path.relative_to(self.pom.parent).as_posix().encode() + b"\0")
            sources.update(path.read_bytes() + b"\0")
        return sources.hexdigest()[:8]

    def build_inputs(self) -> list[Path]:
        """What a jar project's build reads: pom.xml and the files under src/ (sorted)."""
        source_files = (p for p in (self.pom.parent / "src").rglob("*") if p.is_file())
        return [self.pom, *sorted(source_files)]

    @property
    def libs_dir(self) -> Path:
        return self.home / "libs"

    def installed(self) -> bool:
        return self.libs_dir.is_dir() and any(self.libs_dir.glob("*.jar"))


def ensure_copied(libs: MavenLibs, console: Console | None = None) -> Path:
    """Copy `libs` into the cache unless it is already there; return its libs directory.

    Raises ToolchainMissingError without `java` or `mvn`, DownloadFailedError (naming Maven Central and the
    artifacts) when an artifact cannot be fetched, StackError for any other Maven failure.
    """
    require_java(libs.name)
    if libs.installed():
        return libs.libs_dir
    if shutil.which("mvn") is None:
        raise ToolchainMissingError("mvn", libs.name, "install Maven 3.8+ (e.g. `apt-get install maven`)")
    with _cache_lock(libs.home.name):
        if not libs.installed():  # another process may have finished it while we waited
            _copy_atomically(libs, console or Console(stderr=True))
    return libs.libs_dir


def require_java(needed_for: str) -> None:
    if shutil.which("java") is None:
        hint = "install a Java 17+ runtime (e.g. `apt-get install openjdk-17-jre-headless`)"
        raise ToolchainMissingError("java", needed_for, hint)


def java_command(
    libs_dir: Path,
    main_class: str,
    args: Sequence[str] = (),
    *,
    heap: str = "256m",
    log4j_config: Path | None = None,
    java_agent: str | None = None,
) -> list[str]:
    """`java -cp '<libs>/*' <main_class> <args>` with a bounded heap (and a log4j2 config and a
    `-javaagent:` option, if given)."""
    argv = ["java", f"-Xms{heap}", f"-Xmx{heap}", "-XX:+UseG1GC", "-Djava.awt.headless=true"]
    if log4j_config is not None:
        argv.append(f"-Dlog4j2.configurationFile={log4j_config}")
    if java_agent is not None:
        argv.append(java_agent)
    return [*argv, "-cp", f"{libs_dir}/*", main_class, *args]


@contextmanager
def _cache_lock(key: str) -> Iterator[None]:
    cache_root().mkdir(parents=True, exist_ok=True)
    with (cache_root() / f".{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _copy_atomically(libs: MavenLibs, console: Console) -> None:
    final = libs.home
    staging = final.with_name(final.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    log = staging / "mvn.log"
    doing, done = ("building", "built") if libs.package_output else ("fetching", "fetched")
    console.print(f"{doing} {libs.name} {libs.version} from {MAVEN_CENTRAL} (first use) … log: {log}")
    started = time.monotonic()
    if libs.package_output:
        _build_with_maven(libs, libs.package_output, staging, log)
    else:
        _run_maven(libs, staging / "libs", log)
    if libs.post_copy is not None:
        libs.post_copy(staging / "libs", log)
    shutil.copy2(libs.pom, staging / "pom.xml")  # what was copied, for whoever looks at the cache
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    jars = list(libs.libs_dir.glob("*.jar"))
    size_mb = sum(j.stat().st_size for j in jars) / 1e6
    console.print(
        f"{done} {libs.name} {libs.version}: {len(jars)} jars, {size_mb:.0f} MB "
        f"in {time.monotonic() - started:.0f}s → {libs.libs_dir}"
    )


def _run_maven(libs: MavenLibs, out_dir: Path, log: Path) -> None:
    argv = [
        "mvn", "-B", "-q", "-U", "-f", str(libs.pom),
        "dependency:copy-dependencies", f"-DoutputDirectory={out_dir}",
    ]  # fmt: skip
    _call_maven(libs, argv, out_dir, log, what="mvn copy-dependencies")


def _build_with_maven(libs: MavenLibs, package_output: str, staging: Path, log: Path) -> None:
    """`mvn package` on a copy of the project (the repo stays clean; two builds never share target/)."""
    project = staging / "build"
    for source in libs.build_inputs():
        copy = project / source.relative_to(libs.pom.parent)
        copy.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, copy)
    argv = ["mvn", "-B", "-q", "-U", "-f", str(project / "pom.xml"), "package"]
    output = project / package_output
    _call_maven(libs, argv, output, log, what="mvn package")
    output.rename(staging / "libs")
    shutil.rmtree(project)


def _call_maven(libs: MavenLibs, argv: list[str], out_dir: Path, log: Path, what: str) -> None:
    """Run Maven into `log`; raise DownloadFailedError (naming Maven Central) or StackError on failure."""
    with log.open("ab") as out:
        out.write(f"=== {' '.join(argv)}\n".encode())
        out.flush()
        code = subprocess.call(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if code == 0 and any(out_dir.glob("*.jar")):
        return
    tail = log_tail(log, 15)
    if _FETCH_ERROR.search(tail):
        raise DownloadFailedError(MAVEN_CENTRAL, libs.fetches, str(log))
    raise StackError(f"{what} for {libs.name} {libs.version} failed (exit {code}); log: {log}\n{tail}")

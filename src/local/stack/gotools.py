"""Go-built tools of the local stack, compiled from the Go module proxy into the cache.

Every tool is pinned (module@version, or the wrapper module under tools/) and lands in
~/.cache/fraudlake/<name>-<version>/bin. A build runs in a temporary folder that is renamed into
place only when every binary exists, so an interrupted build never looks complete; a file lock
keeps two processes (a test session and `fraudlake stack up`) from building the same tool twice.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from fraudlake.local.stack.errors import DownloadFailedError, StackError, ToolchainMissingError
from fraudlake.local.stack.paths import REPO_ROOT, cache_dir, cache_root
from fraudlake.local.stack.process import log_tail

KUBE_MODULE_DIR = REPO_ROOT / "tools" / "kube"
# helmfile's go.mod has replace directives (k8s.io/api, apimachinery, client-go), which `go install
# pkg@version` rejects, so it builds inside a wrapper module that repeats them; its go.mod pins the release.
HELMFILE_MODULE_DIR = REPO_ROOT / "tools" / "helmfile"
HELMFILE_MODULE = "github.com/helmfile/helmfile"

HELM_MODULE = "helm.sh/helm/v3"
HELM_VERSION = "v3.22.0"
# Helm's Makefile stamps the Kubernetes version of its client-go (v0.37.0 in v3.22.0's go.mod) as the
# default `.Capabilities.KubeVersion` and lint target; unstamped, `helm template` assumes v1.20.
HELM_KUBE_MAJOR_MINOR = ("1", "37")

MINIO_MODULE = "github.com/minio/minio"
# MinIO publishes RELEASE.<date> tags that are not semver, so the Go tooling only knows pseudo-versions.
# The community release we would pin is RELEASE.2025-10-15T17-29-55Z (commit 9e49d5e7a648,
# v0.0.0-20251015172955-9e49d5e7a648), but the module proxy answers 403 "not available" for it (and for
# every other RELEASE commit we tried); it serves only the last master commit before upstream archived
# the repository. That commit is what we pin; it post-dates the last release and carries its fixes.
MINIO_VERSION = "v0.0.0-20260212201848-7aac2a2c5b7c"
MINIO_COMMIT_TIME = "2026-02-12T20:18:48Z"

PROMETHEUS_MODULE = "github.com/prometheus/prometheus"
# The module's v0.3MM.P tags are the Prometheus 3.MM.P releases (its VERSION file says 3.16.0). Its go.mod
# has no replace directives, so a plain `go install pkg@version` builds it; no wrapper module is needed.
PROMETHEUS_VERSION = "v0.316.0"
PROMETHEUS_RELEASE = "3.16.0"

STATSD_EXPORTER_MODULE = "github.com/prometheus/statsd_exporter"
# The release the Apache Airflow Helm chart's `statsd` exporter image runs: Airflow's StatsD metrics (and
# the lake loader's, fraudlake.lake.metrics) reach the local Prometheus the way they do in the cluster.
STATSD_EXPORTER_VERSION = "v0.28.0"

# Lines in `go` output that mean the module proxy (or a VCS behind it) could not deliver a module.
_FETCH_ERROR = re.compile(
    r"reading https?://|dial tcp|no such host|i/o timeout|TLS handshake|unrecognized import path"
    r"|invalid version|unknown revision|verifying .*: checksum mismatch|GOPROXY|GOSUMDB|404 Not Found"
    r"|403 Forbidden|410 Gone|connection refused|connection reset"
)


@dataclass(frozen=True)
class GoBuild:
    """One pinned build: `go install <package>@<version>` or `go build` inside a wrapper module."""

    name: str
    version: str
    binaries: tuple[str, ...]
    packages: tuple[str, ...]
    ldflags: str = "-s -w"
    tags: tuple[str, ...] = ()  # go build tags
    module_dir: Path | None = None  # a wrapper module (go build ./cmd/...); None: go install pkg@version
    fetches: str = ""  # what the proxy must deliver, for the error message

    @property
    def bin_dir(self) -> Path:
        return cache_dir(self.name, self.version) / "bin"

    def installed(self) -> bool:
        return all((self.bin_dir / b).is_file() for b in self.binaries)

    def command(self, out_dir: Path) -> list[str]:
        """The go command that writes every binary into `out_dir`."""
        common = ["-trimpath", "-ldflags", self.ldflags]
        if self.tags:
            common += ["-tags", ",".join(self.tags)]
        if self.module_dir is None:
            return ["go", "install", *common, *self.packages]
        return ["go", "build", *common, "-o", f"{out_dir}/", *self.packages]


def ensure_built(build: GoBuild, console: Console | None = None) -> Path:
    """Build `build` into the cache unless it is already there; return its bin directory.

    Raises ToolchainMissingError without `go`, DownloadFailedError when the module proxy cannot deliver a
    module, StackError when compilation fails (each naming the build log).
    """
    if build.installed():
        return build.bin_dir
    if shutil.which("go") is None:
        raise ToolchainMissingError(
            "go", build.name, "install Go >= 1.25 (https://go.dev/dl/) and put it on PATH"
        )
    with _build_lock(build):
        if not build.installed():  # another process may have finished it while we waited
            _build_atomically(build, console or Console(stderr=True))
    return build.bin_dir


@contextmanager
def _build_lock(build: GoBuild) -> Iterator[None]:
    cache_root().mkdir(parents=True, exist_ok=True)
    lock_path = cache_root() / f".{build.name}-{build.version}.lock"
    with lock_path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def _build_atomically(build: GoBuild, console: Console) -> None:
    final = cache_dir(build.name, build.version)
    staging = final.with_name(final.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    (staging / "bin").mkdir(parents=True)
    log = staging / "build.log"
    console.print(f"building {build.name} {build.version} with Go (first use; minutes) … log: {log}")
    started = time.monotonic()
    _run_go(build, staging / "bin", log)
    missing = [b for b in build.binaries if not (staging / "bin" / b).is_file()]
    if missing:
        raise StackError(f"go build of {build.name} produced no {', '.join(missing)}; see {log}")
    shutil.rmtree(final, ignore_errors=True)
    staging.rename(final)
    console.print(
        f"built {build.name} {build.version} in {time.monotonic() - started:.0f}s → {build.bin_dir}"
    )


def _run_go(build: GoBuild, out_dir: Path, log: Path) -> None:
    env = {
        **os.environ,
        "GOBIN": str(out_dir),
        # Never fetch another Go toolchain: the local one is what the project documents.
        "GOTOOLCHAIN": "local",
    }
    argv = build.command(out_dir)
    with log.open("ab") as out:
        out.write(f"=== {' '.join(argv)}\n".encode())
        out.flush()
        code = subprocess.call(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            cwd=build.module_dir or out_dir,
        )
    if code == 0:
        return
    tail = log_tail(log, 15)
    if _FETCH_ERROR.search(tail):
        raise DownloadFailedError(f"the Go module proxy ({_goproxy()})", build.fetches, str(log))
    raise StackError(f"go build of {build.name} {build.version} failed (exit {code}); log: {log}\n{tail}")


def _goproxy() -> str:
    try:
        out = subprocess.run(["go", "env", "GOPROXY"], capture_output=True, text=True, check=False)
    except FileNotFoundError:
        return "GOPROXY"
    return out.stdout.strip() or "GOPROXY"


# --- the pinned tools ------------------------------------------------------------------------


def go_mod_requirement(go_mod: str, module: str) -> str:
    """The version `go_mod` (the text of a go.mod) requires for `module`; StackError if absent."""
    match = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", go_mod, re.MULTILINE)
    if not match:
        raise StackError(f"{module} is not required by the go.mod given")
    return match.group(1)


def kube_ldflags(kube_version: str) -> str:
    """Link flags that make `/version` and `kubectl version` report the real release."""
    major, minor = kube_version.lstrip("v").split(".")[:2]
    stamps = {
        "k8s.io/component-base/version.gitVersion": kube_version,
        "k8s.io/component-base/version.gitMajor": major,
        "k8s.io/component-base/version.gitMinor": minor,
        "k8s.io/component-base/version.gitTreeState": "clean",
        "k8s.io/client-go/pkg/version.gitVersion": kube_version,
        "k8s.io/client-go/pkg/version.gitMajor": major,
        "k8s.io/client-go/pkg/version.gitMinor": minor,
    }
    return _ldflags(stamps)


def _ldflags(stamps: dict[str, str]) -> str:
    return " ".join(["-s -w", *(f"-X {symbol}={value}" for symbol, value in stamps.items())])


def _wrapper_fingerprint(module_dir: Path, files: Sequence[Path]) -> str:
    # The cache key follows the wrapper's own files, so editing go.mod or a main.go rebuilds.
    digest = hashlib.sha256()
    for path in sorted(files):
        digest.update(str(path.relative_to(module_dir)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:10]


def kube_build() -> GoBuild:
    """kube-apiserver, kubectl and etcd from the wrapper module tools/kube (versions from its go.mod)."""
    go_mod = (KUBE_MODULE_DIR / "go.mod").read_text()
    kube_version = go_mod_requirement(go_mod, "k8s.io/kubernetes")
    etcd_version = go_mod_requirement(go_mod, "go.etcd.io/etcd/server/v3")
    sources = [KUBE_MODULE_DIR / "go.mod", KUBE_MODULE_DIR / "go.sum", *KUBE_MODULE_DIR.glob("cmd/*/*.go")]
    return GoBuild(
        name="kube",
        version=f"{kube_version}-etcd{etcd_version}-{_wrapper_fingerprint(KUBE_MODULE_DIR, sources)}",
        binaries=("kube-apiserver", "kubectl", "etcd"),
        packages=("./cmd/...",),
        ldflags=kube_ldflags(kube_version),
        module_dir=KUBE_MODULE_DIR,
        fetches=f"k8s.io/kubernetes@{kube_version} and go.etcd.io/etcd/server/v3@{etcd_version} (tools/kube)",
    )


def helm_build() -> GoBuild:
    # What Helm's Makefile stamps; unstamped, `helm version` reports only "v3.22".
    stamps = {
        "helm.sh/helm/v3/internal/version.version": HELM_VERSION,
        "helm.sh/helm/v3/internal/version.metadata": "",
        "helm.sh/helm/v3/internal/version.gitTreeState": "clean",
    }
    for package in ("pkg/chartutil", "pkg/lint/rules"):
        stamps[f"{HELM_MODULE}/{package}.k8sVersionMajor"] = HELM_KUBE_MAJOR_MINOR[0]
        stamps[f"{HELM_MODULE}/{package}.k8sVersionMinor"] = HELM_KUBE_MAJOR_MINOR[1]
    return GoBuild(
        name="helm",
        version=HELM_VERSION,
        binaries=("helm",),
        packages=(f"{HELM_MODULE}/cmd/helm@{HELM_VERSION}",),
        ldflags=_ldflags(stamps),
        fetches=f"{HELM_MODULE}@{HELM_VERSION}",
    )


def helmfile_build() -> GoBuild:
    """helmfile from the wrapper module tools/helmfile (release from its go.mod), stamped like upstream's
    Makefile so `helmfile version` names the release."""
    version = go_mod_requirement((HELMFILE_MODULE_DIR / "go.mod").read_text(), HELMFILE_MODULE)
    sources = [
        HELMFILE_MODULE_DIR / "go.mod",
        HELMFILE_MODULE_DIR / "go.sum",
        *HELMFILE_MODULE_DIR.glob("cmd/*/*.go"),
    ]
    stamps = {"go.szostok.io/version.version": version, "go.szostok.io/version.dirtyBuild": "false"}
    return GoBuild(
        name="helmfile",
        version=f"{version}-{_wrapper_fingerprint(HELMFILE_MODULE_DIR, sources)}",
        binaries=("helmfile",),
        packages=("./cmd/...",),
        ldflags=_ldflags(stamps),
        module_dir=HELMFILE_MODULE_DIR,
        fetches=f"{HELMFILE_MODULE}@{version} (tools/helmfile)",
    )


def minio_build() -> GoBuild:
    # What MinIO's buildscripts/gen-ldflags.go stamps; "DEVELOPMENT" because this is not a RELEASE tag.
    commit = MINIO_VERSION.rsplit("-", 1)[1]
    stamps = {
        "github.com/minio/minio/cmd.Version": MINIO_COMMIT_TIME,
        "github.com/minio/minio/cmd.CopyrightYear": MINIO_COMMIT_TIME[:4],
        "github.com/minio/minio/cmd.ReleaseTag": "DEVELOPMENT." + MINIO_COMMIT_TIME.replace(":", "-"),
        "github.com/minio/minio/cmd.CommitID": commit,
        "github.com/minio/minio/cmd.ShortCommitID": commit,
    }
    return GoBuild(
        name="minio",
        version=MINIO_VERSION,
        binaries=("minio",),
        packages=(f"{MINIO_MODULE}@{MINIO_VERSION}",),
        ldflags=_ldflags(stamps),
        fetches=f"{MINIO_MODULE}@{MINIO_VERSION}",
    )


def prometheus_build() -> GoBuild:
    """The Prometheus server and promtool of one release, as upstream's .promu.yml builds them, except:

    - no `builtinassets` tag: the web UI's compiled assets are generated by an npm build and are not in
      the module, so the server serves no UI pages; the HTTP API (/api/v1/...), which the local stack,
      the tests and our UI read, is all there;
    - no build user, host or date stamped, so every machine builds the same binaries.
    """
    stamps = {
        "github.com/prometheus/common/version.Version": PROMETHEUS_RELEASE,
        "github.com/prometheus/common/version.Revision": PROMETHEUS_VERSION,
        "github.com/prometheus/common/version.Branch": "HEAD",
    }
    return GoBuild(
        name="prometheus",
        version=PROMETHEUS_VERSION,
        binaries=("prometheus", "promtool"),
        packages=tuple(
            f"{PROMETHEUS_MODULE}/cmd/{b}@{PROMETHEUS_VERSION}" for b in ("prometheus", "promtool")
        ),
        ldflags=_ldflags(stamps),
        tags=("netgo",),
        fetches=f"{PROMETHEUS_MODULE}@{PROMETHEUS_VERSION}",
    )


def statsd_exporter_build() -> GoBuild:
    """prometheus/statsd_exporter at the Airflow chart's release, stamped as upstream's promu does."""
    stamps = {
        "github.com/prometheus/common/version.Version": STATSD_EXPORTER_VERSION.removeprefix("v"),
        "github.com/prometheus/common/version.Revision": STATSD_EXPORTER_VERSION,
        "github.com/prometheus/common/version.Branch": "HEAD",
    }
    return GoBuild(
        name="statsd-exporter",
        version=STATSD_EXPORTER_VERSION,
        binaries=("statsd_exporter",),
        packages=(f"{STATSD_EXPORTER_MODULE}@{STATSD_EXPORTER_VERSION}",),
        ldflags=_ldflags(stamps),
        tags=("netgo",),
        fetches=f"{STATSD_EXPORTER_MODULE}@{STATSD_EXPORTER_VERSION}",
    )


def statsd_exporter_binary(console: Console | None = None) -> Path:
    """Path of the pinned statsd_exporter (built on first use)."""
    return ensure_built(statsd_exporter_build(), console) / "statsd_exporter"


def kube_bin_dir(console: Console | None = None) -> Path:
    """Folder with kube-apiserver, kubectl and etcd (built on first use)."""
    return ensure_built(kube_build(), console)


def kubectl_binary(console: Console | None = None) -> Path:
    """Path of the kubectl built at the API server's version (built on first use)."""
    return kube_bin_dir(console) / "kubectl"


def helm_binary(console: Console | None = None) -> Path:
    """Path of the pinned Helm 3 CLI (built on first use)."""
    return ensure_built(helm_build(), console) / "helm"


def helmfile_binary(console: Console | None = None) -> Path:
    """Path of the pinned helmfile CLI (built on first use); it runs our pinned Helm (--helm-binary)."""
    return ensure_built(helmfile_build(), console) / "helmfile"


def deploy_tool_builds() -> list[GoBuild]:
    """The CLIs of the production footprint (docs/deploy.md) that `fraudlake stack install` builds too."""
    return [helm_build(), helmfile_build()]


def minio_binary(console: Console | None = None) -> Path:
    """Path of the pinned MinIO server (built on first use)."""
    return ensure_built(minio_build(), console) / "minio"


def prometheus_bin_dir(console: Console | None = None) -> Path:
    """Folder with the pinned `prometheus` server and `promtool` (built on first use)."""
    return ensure_built(prometheus_build(), console)


def promtool_binary(console: Console | None = None) -> Path:
    """Path of promtool from the same build as the stack's Prometheus (rule checks)."""
    return prometheus_bin_dir(console) / "promtool"

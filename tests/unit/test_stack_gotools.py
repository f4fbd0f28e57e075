"""The Go tool installer: pinned builds, cache layout, atomic install and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.console import Console

from fraudlake.local.stack import gotools, manager
from fraudlake.local.stack.errors import DownloadFailedError, StackError, ToolchainMissingError

pytestmark = pytest.mark.unit


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FRAUDLAKE_CACHE", str(tmp_path))
    return tmp_path


def fake_build(**overrides: object) -> gotools.GoBuild:
    fields: dict[str, object] = {
        "name": "tool",
        "version": "v1.0.0",
        "binaries": ("tool",),
        "packages": ("example.com/tool@v1.0.0",),
        "fetches": "example.com/tool@v1.0.0",
    }
    fields.update(overrides)
    return gotools.GoBuild(**fields)  # type: ignore[arg-type]


def test_go_mod_requirement_reads_require_block_and_single_line() -> None:
    go_mod = (
        "module x\n\nrequire (\n\tk8s.io/kubernetes v1.35.4\n\tfoo v0.1.0 // indirect\n)\n"
        "require bar v2.0.0\n"
    )
    assert gotools.go_mod_requirement(go_mod, "k8s.io/kubernetes") == "v1.35.4"
    assert gotools.go_mod_requirement(go_mod, "bar") == "v2.0.0"
    with pytest.raises(StackError, match="not required"):
        gotools.go_mod_requirement(go_mod, "k8s.io/kube")


def test_kube_build_takes_versions_from_the_wrapper_go_mod() -> None:
    build = gotools.kube_build()
    assert build.version.startswith("v1.35.4-etcdv3.6.5-")
    assert set(build.binaries) == {"kube-apiserver", "kubectl", "etcd"}
    assert "-X k8s.io/component-base/version.gitVersion=v1.35.4" in build.ldflags
    assert "-X k8s.io/component-base/version.gitMinor=35" in build.ldflags
    assert build.command(Path("/out")) == [
        "go",
        "build",
        "-trimpath",
        "-ldflags",
        build.ldflags,
        "-o",
        "/out/",
        "./cmd/...",
    ]


def test_helm_and_minio_are_go_installs_of_pinned_versions() -> None:
    helm, minio = gotools.helm_build(), gotools.minio_build()
    assert helm.command(Path("/out"))[:2] == ["go", "install"]
    assert helm.packages == (f"helm.sh/helm/v3/cmd/helm@{gotools.HELM_VERSION}",)
    assert gotools.HELM_VERSION.startswith("v3.")
    assert minio.packages == (f"github.com/minio/minio@{gotools.MINIO_VERSION}",)
    assert f"cmd.ShortCommitID={gotools.MINIO_VERSION[-12:]}" in minio.ldflags


def test_helmfile_builds_in_its_wrapper_module_with_upstream_s_replaces() -> None:
    """helmfile's go.mod replaces k8s.io/api, apimachinery and client-go; `go install` refuses that, so
    the wrapper repeats them and `go build`s upstream's main."""
    build = gotools.helmfile_build()
    go_mod = (gotools.HELMFILE_MODULE_DIR / "go.mod").read_text()
    release = gotools.go_mod_requirement(go_mod, gotools.HELMFILE_MODULE)
    assert build.version.startswith(f"{release}-")
    assert build.module_dir == gotools.HELMFILE_MODULE_DIR
    assert build.command(Path("/out"))[:2] == ["go", "build"]
    assert f"-X go.szostok.io/version.version={release}" in build.ldflags
    for module in ("k8s.io/api", "k8s.io/apimachinery", "k8s.io/client-go"):
        assert f"\t{module} => {module} v" in go_mod, module
    assert (gotools.HELMFILE_MODULE_DIR / "cmd" / "helmfile" / "main.go").is_file()


def test_stack_install_builds_the_deploy_tools_only_when_no_service_is_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    built: list[str] = []
    monkeypatch.setattr(manager, "registry", dict)  # no services: only the deploy tools are left
    monkeypatch.setattr(manager, "ensure_built", lambda build, console: built.append(build.name))
    manager.install(None, Console())
    assert built == ["helm", "helmfile"]
    built.clear()
    with pytest.raises(StackError, match="unknown service"):
        manager.install(["kafka"], Console())
    assert built == []


def test_missing_go_is_a_toolchain_error(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(cache))  # an empty folder: no `go`
    with pytest.raises(ToolchainMissingError, match="go not found on PATH"):
        gotools.ensure_built(fake_build())


def test_installed_build_is_not_rebuilt(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    build = fake_build()
    build.bin_dir.mkdir(parents=True)
    (build.bin_dir / "tool").write_text("#!/bin/sh\n")
    monkeypatch.setenv("PATH", str(cache))  # would fail if it tried to build
    assert gotools.ensure_built(build) == cache / "tool-v1.0.0" / "bin"


def _fake_go(folder: Path, script: str) -> None:
    go = folder / "go"
    go.write_text("#!/bin/sh\n" + script)
    go.chmod(0o755)


def test_successful_build_is_renamed_into_place(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = cache / "fakebin"
    tools.mkdir()
    _fake_go(tools, 'echo built > "$GOBIN/tool"\n')
    monkeypatch.setenv("PATH", str(tools))
    bin_dir = gotools.ensure_built(fake_build())
    assert (bin_dir / "tool").read_text() == "built\n"
    assert (bin_dir.parent / "build.log").exists()
    assert not (cache / "tool-v1.0.0.partial").exists()


def test_proxy_failure_names_the_proxy_and_module(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = cache / "fakebin"
    tools.mkdir()
    _fake_go(
        tools,
        'if [ "$1" = env ]; then echo https://proxy.golang.org; exit 0; fi\n'
        'echo "reading https://proxy.golang.org/example.com/tool/@v/v1.0.0.info: 403 Forbidden"\n'
        "exit 1\n",
    )
    monkeypatch.setenv("PATH", str(tools))
    with pytest.raises(
        DownloadFailedError, match=r"example.com/tool@v1.0.0 from the Go module proxy \(https://proxy"
    ):
        gotools.ensure_built(fake_build())
    assert not (cache / "tool-v1.0.0").exists()  # an interrupted/failed build never looks complete


def test_compile_failure_is_not_reported_as_a_download(cache: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tools = cache / "fakebin"
    tools.mkdir()
    _fake_go(tools, 'echo "./main.go:3:1: syntax error"; exit 2\n')
    monkeypatch.setenv("PATH", str(tools))
    with pytest.raises(StackError, match="syntax error") as info:
        gotools.ensure_built(fake_build())
    assert not isinstance(info.value, DownloadFailedError)

"""The S3 Parquet sink plugin is built from the repo's sources, cached under a key that follows them."""

from __future__ import annotations

from pathlib import Path

import pytest

from fraudlake.lake.connector import S3_SINK_CLASS
from fraudlake.local.stack.mavenlibs import MavenLibs
from fraudlake.local.stack.services.connect import S3_PARQUET_SINK_POM, pom_version, s3_parquet_sink_plugin

pytestmark = pytest.mark.unit

POM = """<project xmlns="http://maven.apache.org/POM/4.0.0"><modelVersion>4.0.0</modelVersion>
<groupId>g</groupId><artifactId>a</artifactId><version>{version}</version></project>"""


def jar_project(root: Path) -> MavenLibs:
    (root / "src" / "main" / "java").mkdir(parents=True)
    pom = root / "pom.xml"
    pom.write_text(POM.format(version="1.2.3"))
    (root / "src" / "main" / "java" / "A.java").write_text("class A {}")
    return MavenLibs(name="sink", version="1.2.3", pom=pom, fetches="x", package_output="target/p")


def test_the_cache_key_follows_pom_and_sources_but_not_build_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDLAKE_CACHE", str(tmp_path / "cache"))
    project = jar_project(tmp_path / "project")
    first = project.home
    assert first.name.startswith("sink-1.2.3-")
    (tmp_path / "project" / "target").mkdir()
    (tmp_path / "project" / "target" / "a.jar").write_text("built")
    (tmp_path / "project" / "README.md").write_text("docs")
    assert project.home == first
    (tmp_path / "project" / "src" / "main" / "java" / "A.java").write_text("class A { int x; }")
    assert project.home != first
    assert [p.name for p in project.build_inputs()] == ["pom.xml", "A.java"]


def test_the_plugin_version_is_the_poms_and_its_jar_names_the_connector_class() -> None:
    plugin = s3_parquet_sink_plugin()
    assert plugin.version == pom_version(S3_PARQUET_SINK_POM) == "0.1.0"
    manifest = S3_PARQUET_SINK_POM.parent / "src/main/resources/META-INF/services"
    assert (manifest / "org.apache.kafka.connect.sink.SinkConnector").read_text().split() == [S3_SINK_CLASS]
    source = S3_PARQUET_SINK_POM.parent / "src/main/java" / (S3_SINK_CLASS.replace(".", "/") + ".java")
    assert source.is_file()

"""The local Prometheus: its generated config, the published (file_sd) targets and the pinned build."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import pytest
import yaml

from fraudlake.local.stack import gotools
from fraudlake.local.stack.service import ScrapeJob, ServiceRecord, StackContext
from fraudlake.local.stack.services import prometheus as prom
from fraudlake.local.stack.services import registry

pytestmark = pytest.mark.unit


def _render(jobs: list[ScrapeJob], tmp_path: Path) -> tuple[dict, dict[str, str]]:
    text, secrets = prom.render_config("127.0.0.1:9090", jobs, tmp_path / "targets", tmp_path / "secrets")
    return yaml.safe_load(text), secrets


def test_config_scrapes_itself_the_static_jobs_and_every_published_file(tmp_path: Path) -> None:
    config, secrets = _render(
        [ScrapeJob("minio", ("127.0.0.1:9000",), "/minio/v2/metrics/cluster")], tmp_path
    )
    jobs = {c["job_name"]: c for c in config["scrape_configs"]}
    assert list(jobs) == ["prometheus", "minio", "published"]
    assert jobs["prometheus"]["static_configs"] == [{"targets": ["127.0.0.1:9090"]}]
    assert jobs["minio"]["metrics_path"] == "/minio/v2/metrics/cluster"
    assert jobs["minio"]["static_configs"] == [{"targets": ["127.0.0.1:9000"]}]
    assert jobs["published"]["file_sd_configs"][0]["files"] == [str(tmp_path / "targets" / "*.json")]
    # Local: short intervals, so charts and tests see a change within seconds.
    assert config["global"]["scrape_interval"] == prom.SCRAPE_INTERVAL
    assert int(prom.SCRAPE_INTERVAL.removesuffix("s")) <= 5
    assert secrets == {}


def test_tls_and_token_jobs_keep_the_token_out_of_the_config(tmp_path: Path) -> None:
    job = ScrapeJob(
        "kube-apiserver",
        ("127.0.0.1:6443",),
        scheme="https",
        interval="10s",
        ca_file="/pki/ca.crt",
        bearer_token="s3cret-token",
    )
    text, secrets = prom.render_config("127.0.0.1:9090", [job], tmp_path / "t", tmp_path / "secrets")
    assert "s3cret-token" not in text
    scrape = next(c for c in yaml.safe_load(text)["scrape_configs"] if c["job_name"] == "kube-apiserver")
    token_file = scrape["authorization"]["credentials_file"]
    assert secrets == {token_file: "s3cret-token"}
    assert scrape["tls_config"] == {"ca_file": "/pki/ca.crt"}
    assert scrape["scheme"] == "https"
    assert scrape["scrape_interval"] == scrape["scrape_timeout"] == "10s"


def test_two_jobs_of_one_name_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="prometheus"):
        _render([ScrapeJob("prometheus", ("127.0.0.1:1",))], tmp_path)


def test_published_targets_are_file_sd_groups_carrying_job_path_and_scheme(tmp_path: Path) -> None:
    jobs = [
        ScrapeJob("fraudlake-api", ("127.0.0.1:8000",)),
        ScrapeJob("fraudlake-scorer", ("127.0.0.1:8001",), labels={"pipeline": "fraud/demo"}),
    ]
    path = prom.publish_targets(tmp_path, "demo", jobs)
    assert path == tmp_path / "data" / "prometheus" / "targets" / "demo.json"
    assert json.loads(path.read_text()) == [
        {
            "targets": ["127.0.0.1:8000"],
            "labels": {"job": "fraudlake-api", "__metrics_path__": "/metrics", "__scheme__": "http"},
        },
        {
            "targets": ["127.0.0.1:8001"],
            "labels": {
                "job": "fraudlake-scorer",
                "__metrics_path__": "/metrics",
                "__scheme__": "http",
                "pipeline": "fraud/demo",
            },
        },
    ]
    prom.publish_targets(tmp_path, "demo", jobs[:1])  # a publisher's later call replaces its targets
    assert len(json.loads(path.read_text())) == 1
    assert not list(path.parent.glob("*.tmp"))
    prom.withdraw_targets(tmp_path, "demo")
    assert not path.exists()
    prom.withdraw_targets(tmp_path, "demo")  # twice is harmless


def test_published_targets_cannot_carry_credentials(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="plain http"):
        prom.publish_targets(tmp_path, "x", [ScrapeJob("x", ("127.0.0.1:1",), bearer_token="t")])


def test_stack_jobs_come_from_the_services_records() -> None:
    records = {
        "minio": ServiceRecord("minio", endpoints={"url": "http://127.0.0.1:9000"}),
        "kube": ServiceRecord(
            "kube",
            endpoints={
                "url": "https://127.0.0.1:6443",
                "ca_cert": "/ca.crt",
                "etcd": "http://127.0.0.1:2379",
            },
            credentials={"token": "tok"},
        ),
        "kafka": ServiceRecord("kafka", endpoints={"bootstrap": "127.0.0.1:9092"}),
        "prometheus": ServiceRecord("prometheus", endpoints={"url": "http://127.0.0.1:9090"}),
    }
    jobs = {job.job: job for job in prom.stack_jobs(records, registry())}
    assert set(jobs) == {"minio", "kube-apiserver", "etcd"}
    assert jobs["minio"].targets == ("127.0.0.1:9000",)
    assert jobs["minio"].metrics_path == "/minio/v2/metrics/cluster"
    assert jobs["kube-apiserver"].targets == ("127.0.0.1:6443",)
    assert jobs["kube-apiserver"].bearer_token == "tok"
    assert jobs["etcd"].targets == ("127.0.0.1:2379",)


def test_config_follows_the_stack_and_writes_tokens_owner_only(tmp_path: Path) -> None:
    """stack_changed rewrites prometheus.yml for the current records; unchanged records: no rewrite."""
    ctx = StackContext(tmp_path)
    record = ServiceRecord("prometheus", pids=[], endpoints={"url": "http://127.0.0.1:9090"})
    kube = ServiceRecord(
        "kube", endpoints={"url": "https://127.0.0.1:6443", "ca_cert": "/ca.crt"}, credentials={"token": "t"}
    )
    folder = ctx.data_dir("prometheus")
    assert prom._write_config(record, folder, {"prometheus": record})
    assert not prom._write_config(record, folder, {"prometheus": record})
    assert prom._write_config(record, folder, {"prometheus": record, "kube": kube})
    config = yaml.safe_load((folder / "prometheus.yml").read_text())
    assert [c["job_name"] for c in config["scrape_configs"]] == ["prometheus", "kube-apiserver", "published"]
    token = Path(config["scrape_configs"][1]["authorization"]["credentials_file"])
    assert token.read_text() == "t"
    assert stat.S_IMODE(token.stat().st_mode) == 0o600


def test_server_listens_on_loopback_only(tmp_path: Path) -> None:
    args = prom.server_args(Path("/bin/prometheus"), tmp_path / "p.yml", tmp_path / "tsdb", 9090)
    assert args[0] == "/bin/prometheus"
    assert "--web.listen-address=127.0.0.1:9090" in args
    assert f"--config.file={tmp_path / 'p.yml'}" in args


def test_prometheus_is_the_last_service_so_it_starts_with_the_others_as_targets() -> None:
    assert list(registry())[-1] == "prometheus"


def test_prometheus_build_is_a_pinned_go_install_of_both_binaries_without_ui_assets() -> None:
    build = gotools.prometheus_build()
    assert gotools.PROMETHEUS_VERSION == "v0.316.0"
    assert build.binaries == ("prometheus", "promtool")
    assert build.packages == (
        "github.com/prometheus/prometheus/cmd/prometheus@v0.316.0",
        "github.com/prometheus/prometheus/cmd/promtool@v0.316.0",
    )
    argv = build.command(Path("/out"))
    assert argv[:2] == ["go", "install"]
    assert argv[argv.index("-tags") + 1] == "netgo"
    assert "builtinassets" not in " ".join(argv)
    assert "-X github.com/prometheus/common/version.Version=3.16.0" in build.ldflags


def test_stack_changes_reach_every_other_running_service_and_a_failing_hook_only_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from io import StringIO

    from rich.console import Console

    from fraudlake.local.stack import manager

    told: list[str] = []

    class Follower(prom.PrometheusService):
        def __init__(self, name: str, fail: bool = False) -> None:
            self.label, self.fail = name, fail

        def stack_changed(self, ctx: StackContext, records: dict[str, ServiceRecord]) -> None:
            told.append(self.label)
            if self.fail:
                raise OSError("disk full")

    services = {"a": Follower("a"), "b": Follower("b", fail=True), "c": Follower("c")}
    monkeypatch.setattr(manager, "registry", lambda: services)
    out = StringIO()
    ctx = StackContext(tmp_path, Console(file=out, width=200))
    records = {name: ServiceRecord(name) for name in services}
    manager._announce(ctx, records, changed="c")
    assert told == ["a", "b"]  # not the service that just started
    assert "b did not follow the stack's change: disk full" in out.getvalue()

"""`fraudlake scorer run` is configured by the environment the operator's Deployment sets: the same variable
names on both sides (fraudlake.pipeline.scorer_env), each reaching the setting it is meant for."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

import click
import pytest
import typer
import yaml
from typer.testing import CliRunner

from fraudlake import cli as fraudlake_cli
from fraudlake.operator.builders import Pipeline, scorer_deployment
from fraudlake.operator.settings import OperatorSettings
from fraudlake.pipeline import scorer_env
from fraudlake.pipeline.spec import FraudPipelineSpec
from fraudlake.stream import cli as stream_cli

pytestmark = pytest.mark.unit

EXAMPLE = Path(__file__).resolve().parents[3] / "operator" / "examples" / "pipeline.yaml"
SETTINGS = OperatorSettings(
    scorer_model_uri="s3://models-bucket/models/",
    scorer_s3_endpoint="http://minio.storage:9000",
    scorer_otlp_endpoint="http://otel-collector.observability:4318",
)
DSN = "http://scorer:secret@clickhouse.fraud:8123"


BANK_SOURCE = {
    "name": "bank",
    "databaseSecret": {"name": "bank-db"},
    "tables": ["public.users", "public.cards"],
}


def _deployment(sources: tuple[dict[str, Any], ...] = (BANK_SOURCE,), **scoring: Any) -> dict[str, Any]:
    spec = yaml.safe_load(EXAMPLE.read_text())["spec"]
    spec["scoring"] = {"replicas": 2, **scoring}
    spec["sources"] = list(sources)
    return scorer_deployment(Pipeline("fraud", "demo", 1, FraudPipelineSpec.parse(spec)), SETTINGS)


def _container(deployment: dict[str, Any]) -> dict[str, Any]:
    return deployment["spec"]["template"]["spec"]["containers"][0]


def _pod_environment(deployment: dict[str, Any]) -> dict[str, str]:
    """The container's environment as the kubelet would give it (the DSN Secret resolved)."""
    env = {}
    for entry in _container(deployment)["env"]:
        if "value" in entry:
            env[entry["name"]] = entry["value"]
        else:
            assert entry["valueFrom"]["secretKeyRef"] == {"name": "demo-clickhouse", "key": "dsn"}
            env[entry["name"]] = DSN
    return env


def _cli_envvars() -> set[str]:
    command = typer.main.get_command(stream_cli.scorer_app)
    if isinstance(command, click.Group):
        command = command.commands["run"]
    return {param.envvar for param in command.params if isinstance(param.envvar, str)}


def test_the_deployment_sets_only_variables_the_cli_reads() -> None:
    deployment = _deployment(model="v20260101-1", thresholds={"review": 0.3, "decline": 0.8})
    names = [entry["name"] for entry in _container(deployment)["env"]]
    assert len(names) == len(set(names))
    assert set(names) == set(scorer_env.DEPLOYMENT)
    read = _cli_envvars()
    assert set(scorer_env.DEPLOYMENT) <= read, set(scorer_env.DEPLOYMENT) - read
    # The only variable the CLI reads that the operator leaves alone: the consumer group's override.
    assert read - set(scorer_env.DEPLOYMENT) == {scorer_env.GROUP}


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[stream_cli.ScorerConfig]:
    """`serve` replaced by a recorder: what the command line and environment resolved to."""
    configs: list[stream_cli.ScorerConfig] = []
    monkeypatch.setattr(stream_cli, "serve", configs.append)
    for name in (*scorer_env.DEPLOYMENT, scorer_env.GROUP):
        monkeypatch.delenv(name, raising=False)
    return configs


def _run_as_the_pod(deployment: dict[str, Any], **extra_env: str) -> Any:
    """The container's command line through the `fraudlake` entry point, in the pod's environment."""
    container = _container(deployment)
    assert container["command"] == ["fraudlake"]
    env = _pod_environment(deployment) | extra_env
    return CliRunner().invoke(fraudlake_cli.app, container["args"], env=env)


def test_the_deployment_configures_the_process(served: list[stream_cli.ScorerConfig]) -> None:
    deployment = _deployment(model="v20260101-1", thresholds={"review": 0.3, "decline": 0.8})
    result = _run_as_the_pod(deployment)
    assert result.exit_code == 0, result.output
    (config,) = served
    assert config.pipeline == "fraud/demo"
    assert config.bootstrap_servers == "fraudlake-kafka-bootstrap.kafka.svc:9092"
    assert config.model_uri == "s3://models-bucket/models/"
    assert config.s3_endpoint == "http://minio.storage:9000"
    assert config.choice == stream_cli.ModelChoice("v20260101-1", 0.3, 0.8)
    pipeline_rules = FraudPipelineSpec.parse(yaml.safe_load(EXAMPLE.read_text())["spec"]).rules
    assert config.rules == pipeline_rules
    assert config.metrics_port == SETTINGS.scorer_metrics_port
    assert config.state_dir == "/var/lib/fraudlake-scorer"
    mounted = {m["mountPath"] for m in _container(deployment)["volumeMounts"]}
    assert config.state_dir in mounted
    assert (config.clickhouse_dsn, config.clickhouse_database) == (DSN, "fraud_demo")
    assert config.otlp_endpoint == "http://otel-collector.observability:4318"
    assert config.cdc_topics == (
        "fraudlake.fraud.demo.cdc.bank.public.users",
        "fraudlake.fraud.demo.cdc.bank.public.cards",
    )
    assert config.group is None


def test_a_pipeline_without_sources_gives_the_scorer_no_cdc_topics(
    served: list[stream_cli.ScorerConfig],
) -> None:
    deployment = _deployment(sources=())
    assert scorer_env.CDC_TOPICS not in {entry["name"] for entry in _container(deployment)["env"]}
    assert _run_as_the_pod(deployment).exit_code == 0
    assert served[0].cdc_topics == ()


def test_unset_overrides_leave_the_model_s_own(served: list[stream_cli.ScorerConfig]) -> None:
    result = _run_as_the_pod(_deployment())
    assert result.exit_code == 0, result.output
    assert served[0].choice == stream_cli.ModelChoice("champion", None, None)


def test_the_deprecated_threshold_reaches_the_process_as_the_review_threshold(
    served: list[stream_cli.ScorerConfig],
) -> None:
    result = _run_as_the_pod(_deployment(threshold=0.65))
    assert result.exit_code == 0, result.output
    assert (served[0].choice.review, served[0].choice.decline) == (0.65, None)


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (scorer_env.REVIEW_THRESHOLD, "1.5", "strictly between 0 and 1"),
        (scorer_env.DECLINE_THRESHOLD, "0", "strictly between 0 and 1"),
        (scorer_env.MODEL, "latest version", "expected 'champion' or a version name"),
        (scorer_env.RULES, '[{"name": "r"}]', "not a JSON list of rules"),
    ],
)
def test_a_bad_setting_is_refused_before_anything_starts(
    served: list[stream_cli.ScorerConfig], variable: str, value: str, message: str
) -> None:
    result = _run_as_the_pod(_deployment(), **{variable: value})
    assert result.exit_code == 2
    assert message in " ".join(result.output.replace("│", " ").split()), result.output
    assert served == []


class _Registry:
    """The two calls ModelWatcher makes, over two versions with their own thresholds."""

    def __init__(self) -> None:
        self.loaded: list[str] = []

    def champion(self) -> dict[str, Any] | None:
        return {"version": "v2"}

    def load(self, version: str) -> Any:
        self.loaded.append(version)
        return SimpleNamespace(version=version, thresholds={"review": 0.5, "decline": 0.9})


def test_the_served_registry_pins_a_version_and_lays_the_overrides_over_its_thresholds() -> None:
    registry = _Registry()
    following = stream_cli.ServedRegistry(registry, stream_cli.ModelChoice())  # type: ignore[arg-type]
    assert following.champion() == {"version": "v2"}
    assert following.load("v2").thresholds == {"review": 0.5, "decline": 0.9}

    pinned = stream_cli.ServedRegistry(
        registry,  # type: ignore[arg-type]
        stream_cli.ModelChoice("v1", review=0.2),
    )
    assert pinned.champion() == {"version": "v1"}
    assert pinned.load("v1").thresholds == {"review": 0.2, "decline": 0.9}
    both = stream_cli.ModelChoice("champion", review=0.3, decline=0.6)
    assert stream_cli.ServedRegistry(registry, both).load("v2").thresholds == {  # type: ignore[arg-type]
        "review": 0.3,
        "decline": 0.6,
    }
    assert registry.loaded == ["v2", "v1", "v2"]

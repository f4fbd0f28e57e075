"""The README's first command at small scale: `make demo` end to end, from a clone that stands alone.

The repository is copied (what git tracks, as a clone has it) into a fresh temporary folder where it
has no neighbours, and the README's command runs there with its own set-up (its own virtualenv,
the shared build cache in ~/.cache/fraudlake): anything that still reads a parent folder fails here.
The demo owns its chDB engine, so it cannot share this test session's stack (one engine per
process): it runs as a subprocess with its own run folder, exactly as a user runs it, and keeps its
stack up (`--keep-stack`) so the test can check what it left behind — the DAG runs in the Airflow
UI's REST API and the FraudPipeline's Ready condition — before stopping it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from fraudlake.local.demo.summary import SUMMARY_FILE
from fraudlake.local.stack.gotools import kubectl_binary
from fraudlake.local.stack.paths import REPO_ROOT

pytestmark = pytest.mark.e2e

# At the demo bank's fraud rate (0.4 %) enough for train_model's minimum of 30 frauds in its window,
# and a world whose live stream sample (seed 44, 2,000 transactions) holds frauds: the generator's
# fraud comes in bursts, so a live sample's count varies with the world's size (0 to 18 measured).
ROWS = 30_000
LIVE = 40
DAGS = ("lake_to_clickhouse", "train_model", "index_to_chroma")
STREAMS = ("users", "cards", "transactions")


def clone_alone(home: Path) -> Path:
    """Copy what git tracks (and new, not ignored files) into `home/fraudlake`, its only entry."""
    listing = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"],
        cwd=REPO_ROOT, capture_output=True, check=True,
    ).stdout.decode().split("\0")  # fmt: skip
    repo = home / "fraudlake"
    for name in filter(None, listing):
        source = REPO_ROOT / name
        if source.is_file():
            (repo / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, repo / name)
    return repo


def user_environment() -> dict[str, str]:
    """This session's environment without the test run's virtualenv: the copy sets up its own."""
    env = {k: v for k, v in os.environ.items() if k not in {"VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT"}}
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    return env


@pytest.fixture(scope="module")
def standalone_repo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    home = tmp_path_factory.mktemp("alone")
    repo = clone_alone(home)
    assert [p.name for p in home.iterdir()] == ["fraudlake"], "the copy must have no neighbours"
    return repo


@pytest.fixture(scope="module")
def demo_run(
    standalone_repo: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, dict[str, Any]]]:
    stack_dir = tmp_path_factory.mktemp("demo") / "stack"
    args = [
        "--rows",
        str(ROWS),
        "--live",
        str(LIVE),
        "--no-serve",
        "--keep-stack",
        "--stack-dir",
        str(stack_dir),
    ]
    make = ["make", "-C", str(standalone_repo), "demo", "ARGS=" + " ".join(args)]
    try:
        proc = subprocess.run(
            make, capture_output=True, text=True, timeout=2400, check=False, env=user_environment()
        )
        output = (proc.stdout + proc.stderr)[-6000:]
        assert proc.returncode == 0, f"`make demo` in a lone copy exited {proc.returncode}:\n{output}"
        assert (standalone_repo / ".venv").is_dir(), "the copy set up its own environment"
        yield stack_dir, json.loads((stack_dir / SUMMARY_FILE).read_text())
    finally:
        down = [
            str(standalone_repo / ".venv" / "bin" / "fraudlake"),
            "stack",
            "down",
            "--stack-dir",
            str(stack_dir),
        ]
        subprocess.run(down, capture_output=True, text=True, timeout=300, check=False, env=user_environment())


def by_stream(counts: dict[str, int]) -> dict[str, int]:
    """Counts keyed by stream, whether keyed by topic (`….transactions`) or by table."""
    return {stream: sum(n for key, n in counts.items() if key.split(".")[-1] == stream) for stream in STREAMS}


def test_every_row_reaches_kafka_the_lake_and_clickhouse(demo_run: tuple[Path, dict[str, Any]]) -> None:
    _, summary = demo_run
    produced, in_lake = by_stream(summary["produced"]), by_stream(summary["in_lake"])
    in_clickhouse = by_stream(summary["in_clickhouse"])
    # The generator stops at the row budget or at the end of its days, whichever comes first.
    assert 0.9 * ROWS <= produced["transactions"] <= ROWS
    assert produced["users"] > 0
    assert produced["cards"] > produced["users"]
    assert in_lake == produced
    assert in_clickhouse == produced


def test_the_champion_is_measured_against_the_baselines(demo_run: tuple[Path, dict[str, Any]]) -> None:
    _, summary = demo_run
    metrics = summary["metrics"]
    assert metrics["version"]
    for model in ("a_rule", "b_xgb_tabular", "c_xgb_graph"):
        assert 0.0 <= metrics[model]["auc_pr"] <= 1.0, model
        assert 0.0 <= metrics[model]["roc_auc"] <= 1.0, model


def test_live_transactions_are_scored_through_the_api(demo_run: tuple[Path, dict[str, Any]]) -> None:
    _, summary = demo_run
    decisions = summary["live_decisions"]
    assert sum(decisions.values()) == LIVE
    assert set(decisions) <= {"approve", "review", "decline"}
    assert "X-API-Key" in summary["urls"]["Scoring API"]


def test_every_live_transaction_is_decided_once_on_the_stream(demo_run: tuple[Path, dict[str, Any]]) -> None:
    """The stream scorer's decisions as ClickHouse has them (loaded from the decisions topic)."""
    _, summary = demo_run
    stream = summary["stream"]
    assert stream["transactions"] >= 1000
    assert stream["decided"] == stream["transactions"], stream
    assert sum(stream["decisions"].values()) == stream["transactions"], stream
    assert set(stream["decisions"]) <= {"approve", "review", "decline"}
    assert 0 < stream["latency_ms"]["p50"] <= stream["latency_ms"]["p99"] < 30_000, stream


def test_live_fraud_is_caught_on_the_stream_and_alerts_reach_clickhouse(
    demo_run: tuple[Path, dict[str, Any]],
) -> None:
    _, summary = demo_run
    stream = summary["stream"]
    assert stream["frauds"] > 0, "the live sample must hold frauds for this test to mean anything"
    assert stream["frauds_caught"] >= 1, stream
    assert stream["frauds_caught"] + stream["frauds_missed"] == stream["frauds"]
    flagged = stream["decisions"].get("review", 0) + stream["decisions"].get("decline", 0)
    # Every review/decline raises an alert (rules may raise more on approved ones).
    assert stream["alerts"] >= flagged > 0, stream


def test_a_card_blocked_in_the_bank_is_declined_on_the_stream_and_clickhouse_shows_it(
    demo_run: tuple[Path, dict[str, Any]],
) -> None:
    """The bank's users and cards reach the pipeline by CDC (PostgreSQL → Debezium → Kafka): the card the
    demo blocks in the database while live transactions flow is declined by the card status rule, and
    the bank's tables in ClickHouse show it blocked."""
    _, summary = demo_run
    produced = by_stream(summary["produced"])
    assert summary["bank"] == {"users": produced["users"], "cards": produced["cards"]}
    block = summary["stream"]["card_block"]
    assert block["card_id"]
    assert block["later_transactions"] >= 1, block
    assert block["later_decided"] == block["later_transactions"], block
    # The change reaches the scorer within about a second: a transaction sent before it arrived may still
    # be approved, every one from the first declined on is declined for the block.
    assert block["declined_card_status"] >= 1, block
    assert block["not_declined_after_first"] == 0, block
    assert 0 <= block["first_declined_produced_s"] < 10, block
    assert 0 < block["first_decline_s"] < 30, block
    assert block["clickhouse_status"] == "blocked", block
    assert block["clickhouse_rows"] == {"bank_users": produced["users"], "bank_cards": produced["cards"]}


def test_one_analyst_loop_runs_from_cases_to_a_promotion_decision(
    demo_run: tuple[Path, dict[str, Any]],
) -> None:
    """Alerts → scripted dispositions → retrain with their labels → the challenger in shadow on further live
    transactions → the shadow gate's decision. Which decision is the data's: any of the three is a run."""
    _, summary = demo_run
    loop = summary["loop"]
    assert loop["analyst"]["cases"] > 0, loop["analyst"]
    assert loop["analyst"]["labels"] > 0, loop["analyst"]
    assert loop["retrain"]["labels"]["analyst"] > 0, loop["retrain"]
    assert loop["challenger"], loop
    assert loop["challenger"] != loop["retrain"]["champion"], loop["retrain"]
    assert loop["shadow"]["shadowed"] > 0, loop["shadow"]
    gate = loop["gate"]
    assert gate["action"] in {"promoted", "refused", "shadowing"}, gate
    assert gate["reason"], gate
    assert "11. analyst loop" in summary["durations"]


def test_the_dag_runs_are_visible_in_the_airflow_ui(demo_run: tuple[Path, dict[str, Any]]) -> None:
    stack_dir, _ = demo_run
    airflow = json.loads((stack_dir / "state.json").read_text())["services"]["airflow"]
    url = airflow["endpoints"]["url"]
    creds = {"username": airflow["credentials"]["username"], "password": airflow["credentials"]["password"]}
    token = httpx.post(f"{url}/auth/token", json=creds, timeout=30).raise_for_status().json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    for dag_id in DAGS:
        runs = httpx.get(f"{url}/api/v2/dags/{dag_id}/dagRuns", headers=headers, timeout=30)
        states = [run["state"] for run in runs.raise_for_status().json()["dag_runs"]]
        assert "success" in states, f"{dag_id}: {states}"


def test_the_pipeline_is_ready_for_kubectl_wait(demo_run: tuple[Path, dict[str, Any]]) -> None:
    stack_dir, _ = demo_run
    kube = json.loads((stack_dir / "state.json").read_text())["services"]["kube"]
    wait = [
        str(kubectl_binary()),
        f"--kubeconfig={kube['endpoints']['kubeconfig']}",
        "wait",
        "--for=condition=Ready",
        "fp",
        "--all",
        "--all-namespaces",
        "--timeout=30s",
    ]
    proc = subprocess.run(wait, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "condition met" in proc.stdout


def test_prometheus_scraped_every_component_of_the_demo(demo_run: tuple[Path, dict[str, Any]]) -> None:
    """The stack's services are up targets now; the operator, the API and the stream scorer were while the
    demo ran (their targets are withdrawn when it stops them, their series stay in Prometheus' storage)."""
    stack_dir, summary = demo_run
    url = json.loads((stack_dir / "state.json").read_text())["services"]["prometheus"]["endpoints"]["url"]
    assert summary["urls"]["Prometheus"].startswith(f"{url}/api/v1/targets")

    def api(path: str, **params: str) -> Any:
        body = httpx.get(f"{url}/api/v1/{path}", params=params, timeout=30).raise_for_status().json()
        assert body["status"] == "success", body
        return body["data"]

    def target_health() -> dict[str, tuple[str, str]]:
        targets = api("targets", state="active")["activeTargets"]
        return {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets}

    # A target is "unknown" until its first scrape and a busy machine may miss one: up within 30 s.
    deadline = time.monotonic() + 30
    health = target_health()
    while not all(state == "up" for state, _ in health.values()) and time.monotonic() < deadline:
        time.sleep(2)
        health = target_health()
    assert {"prometheus", "minio", "kube-apiserver", "etcd"} <= set(health), health
    assert all(state == "up" for state, _ in health.values()), health

    def last(promql: str, over: str = "last_over_time") -> float:
        result = api("query", query=f"sum({over}({promql}[1h]))")["result"]
        return float(result[0]["value"][1]) if result else 0.0

    assert last('fraudlake_operator_reconciles_total{job="fraudlake-operator"}') > 0
    # Up at some point: the last scrape may fall between the console's stop and its target's withdrawal.
    up = last('up{job="fraudlake-ui"}', over="max_over_time")
    assert up > 0, "the console's /metrics, up before any page was opened"
    assert last('fraudlake_api_scores_total{job="fraudlake-api"}') >= LIVE
    # The scorer stops seconds after its last decision: its last scrape may precede the last few.
    assert last('fraudlake_scorer_decisions_total{job="fraudlake-scorer"}') > 0

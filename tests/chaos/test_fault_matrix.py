"""The fault matrix: each moving part of the real local path killed (SIGKILL) at 10%, 50% and 90% of
a run, then the one oracle (chaos_kit.oracle): the rows that arrived are the rows produced, no
txn_id twice, equal checksums. Plus a negative control that must fail it: a replay with the
ledger emptied, which the oracle has to catch as duplicates.

Kill points are shares of the run's rows the killed part's downstream has consumed or committed:
rows the sink has written to the lake (Kafka broker, Connect worker), rows in ClickHouse (the
loader, the ClickHouse server), offsets the scorer has committed (stream scorer).

The lake's ClickHouse here is the local server (HTTP in front of chDB) in its own process, so that
the loader can run in a child process (chDB allows one engine per data directory) and the server
can be killed and restarted on its port and data directory.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pytest
from chaos_kit import (
    KILL_POINTS,
    Cell,
    LoaderProcess,
    RestartableClickHouse,
    kill_group,
    oracle,
    wait_for_share,
)
from confluent_kafka import Consumer, TopicPartition
from fake_strimzi import FakeStrimzi
from fraudpipeline_kit import (
    api,
    condition,
    crd,
    dsn_secret,
    eventually,
    get_pipeline,
    kubectl,
    new_namespace,
    pipeline_manifest,
)
from kubernetes import client as k8s
from model_kit import frame_records, trained_model
from stream_kit import (
    NAMESPACE,
    ScorerProcess,
    create_topic,
    produce,
    read_committed,
    topics_of,
    transaction_message,
    unique_pipeline,
)

from fraudlake.clickhouse.client import connect
from fraudlake.lake.fingerprint import TxnFingerprint
from fraudlake.local.chdb_http.process import LocalClickHouseServer
from fraudlake.local.roundtrip import harness
from fraudlake.local.roundtrip.harness import LocalLake
from fraudlake.local.stack import manager
from fraudlake.local.stack.process import free_port
from fraudlake.local.stack.service import ServiceRecord, StackContext
from fraudlake.ml.registry import LocalStore, ModelRegistry
from fraudlake.pipeline import naming

pytestmark = [pytest.mark.chaos, pytest.mark.timeout(900)]
__all__ = ["api", "crd", "kubectl"]  # fixtures of fraudpipeline_kit

ROWS = 2_000
# Small objects, flushed every second: the lake fills in steps a kill point can land between.
FLUSH = {"maxRecords": 100, "intervalSeconds": 1}
PRODUCE_CHUNKS = 10  # the producer sends the run in chunks, so the sink is mid-stream at each kill point
POINT_IDS = [f"at{share * 100:.0f}" for share in KILL_POINTS]  # -k at50 picks the 50% column


@dataclass
class LakeWorld:
    stack: StackContext
    services: dict[str, ServiceRecord]
    clickhouse: RestartableClickHouse
    workdir: Path


@pytest.fixture(scope="module")
def world(
    stack: StackContext,
    kafka: ServiceRecord,
    minio: ServiceRecord,
    kafka_connect: ServiceRecord,
    airflow: ServiceRecord,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LakeWorld]:
    workdir = tmp_path_factory.mktemp("chaos")
    server = RestartableClickHouse(workdir / "clickhouse", workdir / "clickhouse.log")
    server.start()
    try:
        services = {"kafka": kafka, "minio": minio, "connect": kafka_connect, "airflow": airflow}
        services["clickhouse"] = ServiceRecord("clickhouse", endpoints={"dsn": server.dsn})
        yield LakeWorld(stack, services, server, workdir)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def generated() -> tuple[Any, pa.Table]:
    return harness.generate(ROWS, seed=29)


def new_lake(world: LakeWorld) -> LocalLake:
    lake = harness.local_lake(world.services, f"cx-{uuid.uuid4().hex[:8]}", flush=FLUSH)
    harness.provision(lake)
    return lake


def start_loader(world: LakeWorld, lake: LocalLake, started: datetime, name: str) -> LoaderProcess:
    interval = harness.interval_around(started)
    bounds = (interval.start.isoformat(), interval.end.isoformat())
    return LoaderProcess(
        world.stack.stack_dir, lake.pipeline, world.clickhouse.dsn, bounds, world.workdir / f"{name}.log"
    )


def load_to_the_end(lake: LocalLake, started: datetime) -> None:
    """A load nobody kills, in this process (it reaches ClickHouse over HTTP, so it may; and it saves
    a child's Airflow start-up)."""
    outcome = harness.run_lake_dag(lake, harness.interval_around(started))
    assert outcome.state == "success", outcome.task_states


def table_rows(world: LakeWorld, lake: LocalLake) -> int:
    return int(connect(world.clickhouse.dsn).command(f"SELECT count() FROM {lake.database}.transactions"))


def arrived_in_clickhouse(world: LakeWorld, lake: LocalLake) -> TxnFingerprint:
    return TxnFingerprint.of_table(connect(world.clickhouse.dsn), lake.database)


def lake_rows(lake: LocalLake) -> int:
    return harness.lake_rows(lake, ["transactions"]).get(lake.topic("transactions"), 0)


class PacedProducer(threading.Thread):
    """Produces the run in chunks with the project's producer (idempotent, acks=all), in the
    background: the kill lands while records are still arriving."""

    def __init__(self, lake: LocalLake, source: Any, transactions: pa.Table) -> None:
        super().__init__(daemon=True)
        self.lake, self.source, self.transactions = lake, source, transactions
        self.error: BaseException | None = None

    def run(self) -> None:
        size = -(-self.transactions.num_rows // PRODUCE_CHUNKS)
        try:
            for index, first in enumerate(range(0, self.transactions.num_rows, size)):
                streams = ("users", "cards", "transactions") if index == 0 else ("transactions",)
                harness.produce(self.lake, self.source, self.transactions.slice(first, size), streams)
                time.sleep(0.2)  # the load's shape (a stream, not a burst); kill points do not use it
        except BaseException as exc:
            self.error = exc

    def finish(self) -> None:
        self.join(timeout=600)
        assert not self.is_alive(), "the producer did not finish"
        if self.error is not None:
            raise self.error


def restart_stack_service(stack: StackContext, name: str) -> None:
    """SIGKILL a stack service and start it again on the same ports and data directory."""
    record = manager.load_endpoints(stack.stack_dir)[name]
    kill_group(record.pids[0])
    restarted = manager.up(stack, [name])[name]
    assert restarted.endpoints == {**record.endpoints, "metrics": restarted.endpoints.get("metrics")}


UPSTREAM = {"Kafka broker": "kafka", "Connect worker": "connect"}


@pytest.mark.parametrize("share", KILL_POINTS, ids=POINT_IDS)
@pytest.mark.parametrize("component", list(UPSTREAM))
def test_a_kill_upstream_of_the_lake_loses_and_duplicates_nothing(
    component: str, share: float, world: LakeWorld, generated: tuple[Any, pa.Table], cell: Cell
) -> None:
    cell.component, cell.kill_point = component, f"{share:.0%}"
    source, transactions = generated
    lake = new_lake(world)
    started = datetime.now(UTC)
    producer = PacedProducer(lake, source, transactions)
    producer.start()
    cell.killed_at = wait_for_share(lambda: lake_rows(lake), ROWS, share, alive=lambda: True)
    restart_stack_service(world.stack, UPSTREAM[component])
    producer.finish()
    harness.wait_for_sink(lake, timeout=600)
    assert cell.killed_at < 1.0, "the kill landed after the sink had written every row"

    load_to_the_end(lake, started)
    cell.verdict = oracle(transactions.column("txn_id").to_pylist(), arrived_in_clickhouse(world, lake))
    assert cell.verdict.passed, cell.verdict
    harness.stop_sink(lake)


DOWNSTREAM = ("loader mid-insert", "ClickHouse server")


@pytest.mark.parametrize("share", KILL_POINTS, ids=POINT_IDS)
@pytest.mark.parametrize("component", DOWNSTREAM)
def test_a_kill_during_the_load_loses_and_duplicates_nothing(
    component: str, share: float, world: LakeWorld, generated: tuple[Any, pa.Table], cell: Cell
) -> None:
    cell.component, cell.kill_point = component, f"{share:.0%}"
    source, transactions = generated
    lake = new_lake(world)
    started = datetime.now(UTC)
    harness.produce(lake, source, transactions)
    harness.wait_for_sink(lake)
    harness.stop_sink(lake)

    loading = start_loader(world, lake, started, f"{lake.pipeline}-killed")
    try:
        cell.killed_at = wait_for_share(lambda: table_rows(world, lake), ROWS, share, loading.alive)
        if component == "loader mid-insert":
            loading.kill()
        else:
            world.clickhouse.kill_and_restart()
            # The run fails or retries on its own; a retry waits a minute (the DAG's retry_delay),
            # which the matrix does not spend: the rerun below is the recovery under test.
            with contextlib.suppress(subprocess.TimeoutExpired):
                loading.wait(timeout=15)
    finally:
        loading.kill()
    assert cell.killed_at < 1.0, "the kill landed after every row was loaded"

    load_to_the_end(lake, started)
    cell.verdict = oracle(transactions.column("txn_id").to_pylist(), arrived_in_clickhouse(world, lake))
    assert cell.verdict.passed, cell.verdict


def test_the_oracle_catches_a_replay_that_bypasses_the_ledger(
    world: LakeWorld, generated: tuple[Any, pa.Table], cell: Cell
) -> None:
    """The negative control: the oracle can fail. The lake loaded once (the oracle passes), then the
    ledger emptied and the same objects loaded again, as a loader without its ledger would."""
    cell.component, cell.kill_point, cell.expect_pass = "lake replayed without its ledger", "control", False
    source, transactions = generated
    part = transactions.slice(0, ROWS // 4)
    produced = part.column("txn_id").to_pylist()
    lake = new_lake(world)
    started = datetime.now(UTC)
    harness.produce(lake, source, part)
    harness.wait_for_sink(lake)
    harness.stop_sink(lake)
    load_to_the_end(lake, started)
    assert oracle(produced, arrived_in_clickhouse(world, lake)).passed

    connect(world.clickhouse.dsn).command(f"TRUNCATE TABLE {lake.database}.load_ledger")
    load_to_the_end(lake, started)
    cell.verdict = oracle(produced, arrived_in_clickhouse(world, lake))
    assert not cell.verdict.passed
    assert cell.verdict.duplicates == len(produced)


# --- the stream scorer ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained() -> tuple[dict[str, bytes], pd.DataFrame]:
    return trained_model()


@pytest.fixture
def model_dir(trained: tuple[dict[str, bytes], pd.DataFrame], tmp_path: Path) -> Path:
    ModelRegistry(LocalStore(tmp_path / "lake"), "models").publish(trained[0])
    return tmp_path / "lake" / "models"


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> int:
    """Offsets the scorer's group has committed on `topic`: transactions whose decision is committed
    (the scorer commits offsets inside its Kafka transactions)."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        positions = consumer.committed([TopicPartition(topic, p) for p in range(partitions)], timeout=10)
        return sum(max(tp.offset, 0) for tp in positions)
    finally:
        consumer.close()


SCORER_PARTITIONS = 3
# Checkpoints of up to a second / 100 messages: the commits move in small steps and a kill lands
# inside an open Kafka transaction; a short session lets the restarted replica take over soon.
SCORER_OPTIONS = ("--commit-interval", "1", "--commit-every", "100", "--session-timeout-ms", "6000")


@pytest.mark.timeout(600)
@pytest.mark.parametrize("share", KILL_POINTS, ids=POINT_IDS)
def test_a_killed_stream_scorer_commits_one_decision_per_transaction(
    share: float,
    kafka: ServiceRecord,
    trained: tuple[dict[str, bytes], pd.DataFrame],
    model_dir: Path,
    tmp_path: Path,
    cell: Cell,
) -> None:
    cell.component, cell.kill_point = "stream scorer", f"{share:.0%}"
    bootstrap, pipeline = kafka.endpoints["bootstrap"], unique_pipeline("chaos")
    topics = topics_of(pipeline)
    create_topic(bootstrap, topics["transactions"], SCORER_PARTITIONS)
    txns = frame_records(trained[1], 0, ROWS)
    produce(bootstrap, topics["transactions"], map(transaction_message, txns))
    group = f"fraudlake-scorer.{NAMESPACE}.{pipeline}"

    first = ScorerProcess(bootstrap, pipeline, model_dir, tmp_path, "scorer-killed", SCORER_OPTIONS).start()
    try:
        cell.killed_at = wait_for_share(
            lambda: committed_offsets(bootstrap, group, topics["transactions"], SCORER_PARTITIONS),
            ROWS,
            share,
            first.alive,
        )
    finally:
        first.kill()
    assert cell.killed_at < 1.0, "the kill landed after every decision was committed"

    second = ScorerProcess(
        bootstrap, pipeline, model_dir, tmp_path, "scorer-restarted", SCORER_OPTIONS
    ).start()
    try:
        decisions = read_committed(bootstrap, topics["decisions"], ROWS, timeout=240, settle=5)
    finally:
        second.stop()
    arrived = TxnFingerprint.of_ids(d["txn_id"] for d in decisions)
    cell.verdict = oracle([t["txn_id"] for t in txns], arrived)
    assert cell.verdict.passed, (cell.verdict, second.log_text()[-3000:])


# --- the operator -----------------------------------------------------------------------------------

OPERATOR_PIPELINES = 10
APPLY_EVERY = 1.0  # seconds between two pipelines' creation: the operator reconciles a stream of them


class OperatorProcess:
    """`fraudlake operator run --namespace NS` in its own process group (SIGKILL takes it all)."""

    def __init__(self, namespace: str, kubeconfig: str, log: Path) -> None:
        self.liveness = f"http://127.0.0.1:{free_port()}/healthz"
        argv = [
            sys.executable, "-m", "fraudlake.cli", "operator", "run",
            f"--namespace={namespace}", f"--liveness={self.liveness}",
        ]  # fmt: skip
        # A short retry delay: a pipeline whose children Strimzi has not marked Ready yet is
        # retried after a second instead of ten, so the run takes seconds.
        env = {**os.environ, "KUBECONFIG": kubeconfig, "FRAUDLAKE_OPERATOR_RETRY_DELAY_SECONDS": "1"}
        self.log = log
        with log.open("ab") as out:
            self.proc = subprocess.Popen(
                argv, stdout=out, stderr=subprocess.STDOUT, env=env, start_new_session=True
            )

    def wait_live(self) -> None:
        """Until the operator answers its liveness probe (it has logged in and is watching)."""

        def live() -> bool:
            assert self.alive(), self.log.read_text(errors="replace")[-3000:]
            try:
                with urllib.request.urlopen(self.liveness, timeout=2) as response:  # noqa: S310 - loopback
                    return bool(response.status == 200)
            except OSError:
                return False

        eventually(live, 120, interval=0.5, what="the operator's liveness probe")

    def alive(self) -> bool:
        return self.proc.poll() is None

    def kill(self) -> None:
        kill_group(self.proc.pid)
        self.proc.wait()

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.kill()


def ready_pipelines(custom: k8s.CustomObjectsApi, namespace: str) -> list[str]:
    """Pipelines whose Ready condition is True for their current generation."""
    items = custom.list_namespaced_custom_object(naming.GROUP, naming.VERSION, namespace, naming.PLURAL)[
        "items"
    ]
    return [
        item["metadata"]["name"]
        for item in items
        if (item.get("status") or {}).get("observedGeneration") == item["metadata"]["generation"]
        and condition(item, "Ready").get("status") == "True"
    ]


def all_tables_made(tables_ready: str | None) -> bool:
    """status.tablesReady reads "made/wanted" (how many the schema has depends on the spec)."""
    made, _, wanted = (tables_ready or "").partition("/")
    return bool(wanted) and made == wanted


class PacedApply(threading.Thread):
    """Creates the pipelines one by one, APPLY_EVERY apart, whatever the operator is doing."""

    def __init__(self, custom: k8s.CustomObjectsApi, manifests: list[dict[str, Any]]) -> None:
        super().__init__(daemon=True)
        self.custom, self.manifests = custom, manifests
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            for manifest in self.manifests:
                namespace = manifest["metadata"]["namespace"]
                self.custom.create_namespaced_custom_object(
                    naming.GROUP, naming.VERSION, namespace, naming.PLURAL, manifest
                )
                time.sleep(APPLY_EVERY)
        except BaseException as exc:
            self.error = exc


@pytest.fixture(scope="module")
def operator_clickhouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalClickHouseServer]:
    """ClickHouse for the operator's tables: the local server, as a cluster's operator would reach it."""
    folder = tmp_path_factory.mktemp("chaos-operator")
    with LocalClickHouseServer(folder / "data", folder / "server.log", password="operator") as server:
        yield server


@pytest.mark.parametrize("share", KILL_POINTS, ids=POINT_IDS)
def test_an_operator_killed_mid_reconcile_brings_every_pipeline_back_to_ready(
    share: float,
    api: k8s.ApiClient,
    kube: ServiceRecord,
    crd: dict[str, Any],
    operator_clickhouse: LocalClickHouseServer,
    tmp_path: Path,
    cell: Cell,
) -> None:
    """Rows here are pipelines: the run creates OPERATOR_PIPELINES FraudPipelines, the kill point is
    the share of them Ready, and the oracle wants every one Ready (tables made in ClickHouse
    through the local server, topics and connector marked Ready by the Strimzi stand-in)."""
    cell.component, cell.kill_point = "operator mid-reconcile", f"{share:.0%}"
    custom = k8s.CustomObjectsApi(api)
    namespace, kafka_namespace = new_namespace(api, "chaos"), new_namespace(api, "chaos-kafka")
    k8s.CoreV1Api(api).create_namespaced_secret(namespace, dsn_secret(namespace, operator_clickhouse.dsn))
    names = [f"p{index}" for index in range(OPERATOR_PIPELINES)]
    suffix = uuid.uuid4().hex[:6]
    manifests = [
        pipeline_manifest(namespace, kafka_namespace, name, f"cx_{suffix}_{name}", deletionPolicy="Delete")
        for name in names
    ]
    kubeconfig = kube.endpoints["kubeconfig"]
    with FakeStrimzi(api):
        first = OperatorProcess(namespace, kubeconfig, tmp_path / "operator-killed.log")
        first.wait_live()  # pipelines then arrive while it runs: Ready climbs one by one
        applying = PacedApply(custom, manifests)
        applying.start()
        try:
            count = lambda: len(ready_pipelines(custom, namespace))  # noqa: E731
            cell.killed_at = wait_for_share(count, OPERATOR_PIPELINES, share, first.alive)
        finally:
            first.kill()
        applying.join(60)
        assert applying.error is None, applying.error
        assert cell.killed_at < 1.0, "the kill landed after every pipeline was Ready"

        second = OperatorProcess(namespace, kubeconfig, tmp_path / "operator-restarted.log")
        try:
            eventually(lambda: len(ready_pipelines(custom, namespace)) == len(names), 240, what="all Ready")
            ready = ready_pipelines(custom, namespace)
            tables = [get_pipeline(api, namespace, name)["status"].get("tablesReady") for name in names]
            cell.verdict = oracle(
                names, TxnFingerprint.of_ids(ready), ready=all(map(all_tables_made, tables))
            )
            assert cell.verdict.passed, (cell.verdict, tables)
            custom.delete_collection_namespaced_custom_object(
                naming.GROUP, naming.VERSION, namespace, naming.PLURAL
            )
            eventually(lambda: not ready_pipelines(custom, namespace), 120, what="pipelines deleted")
        finally:
            second.stop()

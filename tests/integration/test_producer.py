"""`fraudlake produce` against the real local broker: exactly once per run, per-key order, resume
after SIGKILL, flush on Ctrl-C, non-zero exit when records are not delivered, CSV replay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pacsv
import pytest
from confluent_kafka import Consumer, TopicPartition

from fraudlake.local.stack.process import free_port
from fraudlake.local.stack.service import ServiceRecord
from fraudlake.pipeline.naming import topic_name
from fraudlake.producer.entities import USER0_FILE, load_cards, load_users, tabformer_dir
from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator
from fraudlake.schemas import TRANSACTIONS
from fraudlake.schemas.envelope import JsonEncoder

pytestmark = pytest.mark.integration

TOKEN_KEY = "integration-tests-token-key-0123"


def _produce(
    bootstrap: str,
    pipeline: str,
    *args: str,
    cwd: Path,
    wait: bool = True,
) -> subprocess.CompletedProcess | subprocess.Popen:
    argv = [
        sys.executable,
        "-m",
        "fraudlake.cli",
        "produce",
        "--bootstrap",
        bootstrap,
        "--namespace",
        "it",
        "--pipeline",
        pipeline,
        "--state-file",
        str(cwd / "state.json"),
        "--no-progress",
        *args,
    ]
    env = {**os.environ, "FRAUDLAKE_CARD_TOKEN_KEY": TOKEN_KEY}
    if not wait:
        return subprocess.Popen(
            argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def _unique(name: str) -> str:
    """Topics outlive a test when the stack is reused (FRAUDLAKE_TEST_STACK_DIR): never share them."""
    return _RUN_NAMES.setdefault(name, f"{name}-{uuid.uuid4().hex[:6]}")


_RUN_NAMES: dict[str, str] = {}


def _consume_all(bootstrap: str, topic: str) -> list[tuple[int, int, str, str]]:
    """Every message of the topic as (partition, offset, key, value), partition by partition."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"it-{uuid.uuid4()}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
        }
    )
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    high = {p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in partitions}
    consumer.assign([TopicPartition(topic, p, 0) for p in partitions])
    seen = Counter[int]()
    out = []
    deadline = time.monotonic() + 120
    while any(seen[p] < high[p] for p in partitions) and time.monotonic() < deadline:
        for msg in consumer.consume(10_000, timeout=1):
            assert msg.error() is None, msg.error()
            seen[msg.partition()] += 1
            out.append((msg.partition(), msg.offset(), msg.key().decode(), msg.value().decode()))
    consumer.close()
    return sorted(out)


def _expected(rows: int, seed: int) -> pa.Table:
    cards = load_cards(TOKEN_KEY.encode())
    generator = TransactionGenerator(GeneratorConfig(seed=seed, rows=rows), users=load_users(), cards=cards)
    return pa.concat_tables(generator.chunks())


def _txn_ids(messages: list[tuple[int, int, str, str]]) -> list[str]:
    return [json.loads(value)["payload"]["txn_id"] for _, _, _, value in messages]


def test_every_record_is_delivered_once_in_per_key_order(kafka: ServiceRecord, tmp_path: Path) -> None:
    bootstrap = kafka.endpoints["bootstrap"]
    done = _produce(
        bootstrap, _unique("exact"), "--rows", "30000", "--seed", "3", "--create-topics", "4", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    expected = _expected(30_000, seed=3)
    messages = _consume_all(bootstrap, topic_name("it", _unique("exact"), "transactions"))

    assert len(messages) == expected.num_rows
    expected_values = JsonEncoder(TRANSACTIONS).encode(expected)
    expected_pairs = sorted(zip(expected["card_id"].to_pylist(), expected_values, strict=True))
    assert sorted((key, value) for _, _, key, value in messages) == expected_pairs  # same bytes, once each

    consumed_order = defaultdict(list)
    for _, _, key, value in messages:  # sorted by (partition, offset): each key lives in one partition
        consumed_order[key].append(json.loads(value)["payload"]["txn_id"])
    produced_order = defaultdict(list)
    for key, txn_id in zip(expected["card_id"].to_pylist(), expected["txn_id"].to_pylist(), strict=True):
        produced_order[key].append(txn_id)
    assert consumed_order == produced_order

    users = _consume_all(bootstrap, topic_name("it", _unique("exact"), "users"))
    cards = _consume_all(bootstrap, topic_name("it", _unique("exact"), "cards"))
    assert (len(users), len(cards)) == (2_000, 6_146)
    pans = pacsv.read_csv(tabformer_dir() / "sd254_cards.csv")["Card Number"].to_pylist()
    card_text = " ".join(value for _, _, _, value in cards)
    assert not any(str(pan) in card_text for pan in pans[:500])
    assert '"cvv"' not in card_text.lower()


def test_a_killed_producer_resumes_without_losing_delivered_records(
    kafka: ServiceRecord, tmp_path: Path
) -> None:
    bootstrap = kafka.endpoints["bootstrap"]
    rows = 40_000
    proc = _produce(
        bootstrap,
        _unique("resume"),
        "--rows",
        str(rows),
        "--seed",
        "4",
        "--create-topics",
        "3",
        "--rate",
        "4000",
        cwd=tmp_path,
        wait=False,
    )
    state = tmp_path / "state.json"
    checkpoint = 0
    deadline = time.monotonic() + 300
    while checkpoint < 8_000 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if state.exists():
            checkpoint = json.loads(state.read_text())["delivered_through"].get("transactions", 0)
    assert proc.poll() is None, "producer finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait(30)
    checkpoint = json.loads(state.read_text())["delivered_through"]["transactions"]
    assert 8_000 <= checkpoint < rows

    done = _produce(
        bootstrap, _unique("resume"), "--rows", str(rows), "--seed", "4", "--resume", cwd=tmp_path
    )
    assert done.returncode == 0, done.stdout + done.stderr
    expected = _expected(rows, seed=4)["txn_id"].to_pylist()
    sequence = {txn_id: seq for seq, txn_id in enumerate(expected)}
    consumed = Counter(_txn_ids(_consume_all(bootstrap, topic_name("it", _unique("resume"), "transactions"))))
    assert set(consumed) == set(expected)  # nothing lost
    duplicates = [txn_id for txn_id, count in consumed.items() if count > 1]
    assert all(sequence[txn_id] >= checkpoint for txn_id in duplicates)  # only the unconfirmed tail repeats
    assert json.loads(state.read_text())["complete"] is True


def test_ctrl_c_flushes_what_was_produced_and_exits_130(kafka: ServiceRecord, tmp_path: Path) -> None:
    bootstrap = kafka.endpoints["bootstrap"]
    proc = _produce(
        bootstrap,
        _unique("sigint"),
        "--rows",
        "40000",
        "--create-topics",
        "2",
        "--rate",
        "3000",
        "--streams",
        "transactions",
        cwd=tmp_path,
        wait=False,
    )
    state = tmp_path / "state.json"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.2)
        if (
            state.exists()
            and json.loads(state.read_text())["delivered_through"].get("transactions", 0) > 3_000
        ):
            break
    proc.send_signal(signal.SIGINT)
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == 130, output
    assert "interrupted" in output
    delivered = json.loads(state.read_text())["delivered_through"]["transactions"]
    consumed = _consume_all(bootstrap, topic_name("it", _unique("sigint"), "transactions"))
    assert len(consumed) == delivered > 3_000  # everything produced before the stop was flushed


def test_exit_code_is_non_zero_when_records_are_not_delivered(kafka: ServiceRecord, tmp_path: Path) -> None:
    bootstrap = kafka.endpoints["bootstrap"]
    # The topic does not exist and the broker does not auto-create: every record times out.
    missing = _produce(
        bootstrap,
        _unique("nowhere"),
        "--rows",
        "500",
        "--streams",
        "transactions",
        "--no-check-topics",
        "--delivery-timeout",
        "5",
        cwd=tmp_path,
    )
    assert missing.returncode == 1, missing.stdout + missing.stderr
    assert "500 transactions record(s) not delivered" in " ".join((missing.stdout + missing.stderr).split())

    # Nothing listens on the bootstrap port.
    down = _produce(
        f"127.0.0.1:{free_port()}",
        _unique("down"),
        "--rows",
        "200",
        "--streams",
        "transactions",
        "--no-check-topics",
        "--delivery-timeout",
        "3",
        cwd=tmp_path,
    )
    assert down.returncode == 1, down.stdout + down.stderr

    # With the topic check on (the default), a missing topic fails fast with a clear message.
    checked = _produce(bootstrap, _unique("nowhere"), "--rows", "10", cwd=tmp_path)
    assert checked.returncode == 1
    assert "do not exist" in " ".join((checked.stdout + checked.stderr).split())


def test_replays_the_real_kaggle_file(kafka: ServiceRecord, tmp_path: Path) -> None:
    bootstrap = kafka.endpoints["bootstrap"]
    bad = tmp_path / "with-bad-lines.csv"
    lines = (tabformer_dir() / USER0_FILE).read_text().splitlines()
    bad.write_text("\n".join([*lines[:3], "0,0,oops", *lines[3:]]) + "\n")
    done = _produce(
        bootstrap,
        _unique("replay"),
        "--from-csv",
        str(bad),
        "--streams",
        "transactions",
        "--create-topics",
        "1",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    output = " ".join((done.stdout + done.stderr).split())
    assert "1 malformed CSV row(s) skipped" in output
    assert "line 4" in output
    messages = _consume_all(bootstrap, topic_name("it", _unique("replay"), "transactions"))
    payloads = [json.loads(value)["payload"] for _, _, _, value in messages]
    assert len(payloads) == 19_963
    assert sum(p["is_fraud"] for p in payloads) == 27
    assert len({p["txn_id"] for p in payloads}) == 19_963

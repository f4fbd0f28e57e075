"""The local stack fails loudly and alone: each reported failure, reproduced on the real services.

- A FraudPipeline whose topics ask for 3 replicas on the one local broker: stage 2's wait fails
  after its timeout naming the KafkaTopic and Kafka's reason, and such a leftover pipeline does not
  keep the next run's pipeline from becoming Ready.
- Stops leave no process behind: a kube start whose CRD install fails (the kube-apiserver left
  after a failed stage 1), processes the stack never recorded, and `fraudlake demo` itself, failed
  at a stage on purpose, interrupted with Ctrl-C, or terminated with SIGTERM.

A process "of the stack" is one whose command line names the run's folder, or that carries the
folder's marker in its environment (Airflow's command lines name no path).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

# Shorter operator timings, as in test_operator (whichever module imports the handlers first sets them).
os.environ.setdefault("FRAUDLAKE_OPERATOR_DRIFT_INTERVAL_SECONDS", "1")
os.environ.setdefault("FRAUDLAKE_OPERATOR_RETRY_DELAY_SECONDS", "1")

import psutil
import pytest
from fraudpipeline_kit import eventually
from minio import Minio

from fraudlake.local.demo.platform import ControlPlane, PipelineNotReadyError, local_manifests
from fraudlake.local.demo.stages import FAIL_AT_ENV
from fraudlake.local.stack import manager
from fraudlake.local.stack.errors import StackError
from fraudlake.local.stack.process import OWNER_ENV
from fraudlake.local.stack.service import ServiceRecord, StackContext
from fraudlake.local.stack.services.kube import KubeService
from fraudlake.pipeline import naming

pytestmark = [pytest.mark.integration, pytest.mark.timeout(420)]

ROWS = 1000


def stack_processes(stack_dir: Path) -> list[str]:
    """Live processes of the stack in `stack_dir` (by command line or environment marker), described."""
    folder = str(stack_dir.resolve())
    found = []
    for proc in psutil.process_iter(["pid", "cmdline"]):
        if proc.pid == os.getpid():
            continue
        try:
            command = " ".join(proc.info["cmdline"] or [])
            marked = proc.environ().get(OWNER_ENV) == folder
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if folder in command or marked:
            found.append(f"{proc.pid}: {command[:160]}")
    return found


# --- stage 2: a pipeline Kafka refuses ---------------------------------------------------------


@pytest.fixture
def records(
    kube: ServiceRecord,
    kafka: ServiceRecord,
    kafka_connect: ServiceRecord,
    minio: ServiceRecord,
    clickhouse: ServiceRecord,
    monkeypatch: pytest.MonkeyPatch,
) -> dict[str, ServiceRecord]:
    monkeypatch.setenv("KUBECONFIG", kube.endpoints["kubeconfig"])  # ControlPlane sets it; restored after
    bucket = Minio(
        minio.endpoints["url"].removeprefix("http://"),
        minio.credentials["access_key"],
        minio.credentials["secret_key"],
        secure=False,
    )
    if not bucket.bucket_exists("fraudlake"):
        bucket.make_bucket("fraudlake")
    return {"kube": kube, "kafka": kafka, "connect": kafka_connect, "minio": minio, "clickhouse": clickhouse}


def demo_documents(records: dict[str, ServiceRecord], namespace: str, name: str) -> list[dict[str, Any]]:
    """The demo's pipeline-local.yaml, moved into `namespace` as pipeline `name` with its own database."""
    docs = local_manifests(records)
    for doc in docs:
        meta = doc["metadata"]
        if doc["kind"] == "Namespace" and meta["name"] == "fraud":
            meta["name"] = namespace
        elif meta.get("namespace") == "fraud":
            meta["namespace"] = namespace
        if doc["kind"] == naming.KIND:
            meta["name"] = name
            doc["spec"]["clickhouse"]["database"] = f"fp_{namespace.replace('-', '_')}_{name}"
            doc["spec"]["lake"]["prefix"] = f"pipelines/{namespace}/{name}"
    return docs


def minimal_topics(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The reported pipeline: no broker count, no replicas, so every topic asks for Kafka's 3."""
    for doc in docs:
        if doc["kind"] == naming.KIND:
            kafka = doc["spec"]["kafka"]
            kafka.pop("brokers")
            for topic in kafka["topics"].values():
                topic.pop("replicas")
    return docs


def test_a_pipeline_kafka_refuses_fails_stage_2_by_name_and_does_not_hold_up_the_next_run(
    records: dict[str, ServiceRecord],
) -> None:
    namespace = f"fail-{uuid.uuid4().hex[:6]}"
    with ControlPlane(records) as control:
        control.apply(minimal_topics(demo_documents(records, namespace, "minimal")))
        started = time.monotonic()
        with pytest.raises(PipelineNotReadyError) as not_ready:
            control.wait_ready(namespace, "minimal", timeout=30)
        assert time.monotonic() - started < 45
    message = str(not_ready.value)
    assert message.startswith(f"pipeline {namespace}/minimal not Ready after 30 s: TopicsReady False — ")
    # Refused topics sharing a reason are named together; which ones Kafka refused by the timeout
    # varies with the machine's load, that one is named does not.
    assert re.search(rf"KafkaTopic (fraudlake\.{namespace}\.minimal\.[\w-]+(, )?)+: ", message), message
    assert "replication factor of 3" in message

    # The next run: a new operator and stand-in, the refused pipeline still there.
    with ControlPlane(records) as control:
        control.apply(demo_documents(records, namespace, "demo"))
        ready = control.wait_ready(namespace, "demo", timeout=120)
    assert ready["status"]["topicsReady"] == "7/7"  # four streams, the scorer's two, the sink's dead letters


# --- stops ---------------------------------------------------------------------------------------


def test_kube_whose_crds_fail_to_install_leaves_neither_api_server_nor_etcd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*_: object) -> None:
        raise StackError("installing the Strimzi/Altinity CRDs failed (on purpose)")

    monkeypatch.setattr(KubeService, "_install_crds", refuse)
    ctx = StackContext(tmp_path / "stack")
    with pytest.raises(StackError, match="on purpose"):
        KubeService().start(ctx, {})
    assert stack_processes(ctx.stack_dir) == []


def test_stack_down_stops_processes_it_never_recorded_and_their_escaped_children(tmp_path: Path) -> None:
    ctx = StackContext(tmp_path / "stack")
    # A service start interrupted before its pid was recorded, with a child that left its group.
    script = "setsid sleep 300 & sleep 300"
    ctx.spawn("kafka", ["sh", "-c", script], ctx.log("kafka"))
    # The service and the child that escaped its group (sh starts it a moment later).
    eventually(lambda: len(stack_processes(ctx.stack_dir)) >= 2, 10, what="sh and its escaped child")
    assert manager.down(ctx) == []
    assert stack_processes(ctx.stack_dir) == []


# --- `fraudlake demo` as a user runs it -----------------------------------------------------------


def demo_process(stack_dir: Path, **env: str) -> subprocess.Popen[str]:
    """`fraudlake demo` on a tiny run, in its own process group as a terminal's foreground job is."""
    argv = [sys.executable, "-m", "fraudlake.cli", "demo", "--rows", str(ROWS), "--no-serve"]
    return subprocess.Popen(
        [*argv, "--stack-dir", str(stack_dir)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **env},
        start_new_session=True,
        # A terminal starts its foreground job with Ctrl-C live; a test session launched in the background
        # (`cmd &` in a script) would hand down SIGINT ignored, and the demo rightly keeps it so.
        preexec_fn=_default_sigint,
    )


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def stack_dir(tmp_path: Path) -> Iterator[Path]:
    folder = tmp_path / "stack"
    yield folder
    # Whatever the test found, leave nothing running for the next one.
    manager.down(StackContext(folder))


def lines_until(proc: subprocess.Popen[str], pattern: str, timeout: float) -> list[str]:
    """The demo's output lines up to the first that matches `pattern`."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    for line in proc.stdout:
        seen.append(line)
        if re.search(pattern, line):
            return seen
        assert time.monotonic() < deadline, f"no {pattern!r} within {timeout}s:\n{''.join(seen)}"
    raise AssertionError(f"the demo ended before {pattern!r}:\n{''.join(seen)}")


def assert_only_the_demos_own_lines(output: str) -> None:
    """No traceback and no library log line between the stage headers."""
    assert "Traceback" not in output, output
    for noise in (" INFO ", "WARNING", "kopf", "DeprecationWarning", "rdkafka"):
        assert noise not in output, f"{noise!r} reached the terminal:\n{output}"


def test_a_stage_failed_on_purpose_names_itself_and_leaves_no_process(stack_dir: Path) -> None:
    proc = demo_process(stack_dir, **{FAIL_AT_ENV: "2"})
    output, _ = proc.communicate(timeout=360)
    assert proc.returncode == 1, output
    assert "error: stage '2. pipeline' failed in FraudPipeline operator: failed on purpose" in output
    assert f"read: {stack_dir / 'logs' / 'demo.log'}" in output.replace("\n", "")
    assert "FraudPipeline fraud/demo: Ready" in output  # the stage did its work first
    assert_only_the_demos_own_lines(output)
    assert stack_processes(stack_dir) == []


@pytest.mark.parametrize(
    ("stop", "code", "said"),
    [(signal.SIGINT, 130, "stopped (Ctrl-C)"), (signal.SIGTERM, 143, "stopped (SIGTERM)")],
)
def test_an_interrupted_demo_leaves_no_process(
    stack_dir: Path, stop: signal.Signals, code: int, said: str
) -> None:
    proc = demo_process(stack_dir)
    # Mid-way: the whole stack and the operator run, stage 2 waits for the pipeline.
    lines_until(proc, r"2\. pipeline", timeout=300)
    assert len(stack_processes(stack_dir)) >= 8  # kafka, minio, connect, etcd, kube, chroma, airflow x2
    if stop == signal.SIGINT:
        os.killpg(proc.pid, stop)  # Ctrl-C reaches the terminal's whole foreground group
    else:
        proc.send_signal(stop)  # `kill <pid>`
    output, _ = proc.communicate(timeout=120)
    assert proc.returncode == code, output
    assert said in output
    assert_only_the_demos_own_lines(output)
    assert stack_processes(stack_dir) == []


def test_a_demo_whose_output_pipe_closes_on_ctrl_c_still_stops_the_stack(stack_dir: Path) -> None:
    """`make demo | tee demo.out` then Ctrl-C: tee dies with the demo's first words of clean-up unread,
    and every later write of the demo fails (EPIPE). The clean-up must not die with them."""
    proc = demo_process(stack_dir)
    lines_until(proc, r"2\. pipeline", timeout=300)
    assert proc.stdout is not None
    proc.stdout.close()  # the reader is gone, as tee is after Ctrl-C
    os.killpg(proc.pid, signal.SIGINT)
    proc.wait(timeout=120)
    assert stack_processes(stack_dir) == []

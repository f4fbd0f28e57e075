"""How the demo reports what it cannot finish: the pipeline's not-Ready reason, stage failures,
library output kept off the terminal, SIGTERM handled as Ctrl-C."""

from __future__ import annotations

import io
import logging
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from fraudlake.local.demo.platform import is_ready, not_ready_reason
from fraudlake.local.demo.stages import (
    InjectedFailureError,
    StageError,
    StageTimer,
    Terminated,
    library_output_to,
    sigterm_as_interrupt,
    stage_matches,
    uninterrupted,
)

pytestmark = pytest.mark.unit

USERS = "fraudlake.fraud.demo.users"
RF_MESSAGE = "Unable to replicate the partition 3 time(s): only 1 broker(s) are registered"


def pipeline(generation: int = 1, observed: int | None = 1, **parts: tuple[str, str]) -> dict[str, Any]:
    conditions = [
        {"type": t, "status": s, "reason": f"{t}Reason", "message": m} for t, (s, m) in parts.items()
    ]
    status: dict[str, Any] = {"conditions": conditions}
    if observed is not None:
        status["observedGeneration"] = observed
    return {"metadata": {"name": "demo", "namespace": "fraud", "generation": generation}, "status": status}


def child(kind: str, name: str, ready: bool, message: str = "") -> dict[str, Any]:
    condition = {"type": "Ready", "status": "True" if ready else "False", "message": message}
    return {
        "kind": kind,
        "metadata": {"name": name, "generation": 1},
        "status": {"observedGeneration": 1, "conditions": [condition]},
    }


def test_a_refused_topic_is_named_with_its_own_reason() -> None:
    waiting = pipeline(
        TopicsReady=("False", "3/4 topics ready; waiting for …"),
        ConnectorsReady=("True", ""),
        TablesReady=("True", ""),
        Ready=("False", "3/4 topics ready"),
    )
    children = [
        child("KafkaTopic", "fraudlake.fraud.demo.transactions", True),
        child("KafkaTopic", USERS, False, RF_MESSAGE),
        child("KafkaConnector", "fraudlake.fraud.demo.lake-sink", False, "not relevant to topics"),
    ]
    assert not_ready_reason(waiting, children) == f"TopicsReady False — KafkaTopic {USERS}: {RF_MESSAGE}"


def test_children_refused_for_the_same_reason_share_one_line() -> None:
    waiting = pipeline(TopicsReady=("False", "0/3 topics ready"))
    children = [
        child("KafkaTopic", "t.users", False, RF_MESSAGE),
        child("KafkaTopic", "t.cards", False, RF_MESSAGE),
        child("KafkaTopic", "t.alerts", False, "Decreasing partitions not supported (3 -> 1)"),
    ]
    assert not_ready_reason(waiting, children) == (
        f"TopicsReady False — KafkaTopic t.users, t.cards: {RF_MESSAGE}; "
        "KafkaTopic t.alerts: Decreasing partitions not supported (3 -> 1)"
    )


def test_a_part_without_children_to_blame_gives_its_own_message() -> None:
    waiting = pipeline(
        TopicsReady=("True", ""),
        ConnectorsReady=("True", ""),
        TablesReady=("False", "database fraud_demo: 9/13"),
    )
    assert not_ready_reason(waiting, []) == "TablesReady False — database fraud_demo: 9/13"


def test_an_unreconciled_or_missing_pipeline_says_so() -> None:
    assert not_ready_reason(None, []) == "it does not exist"
    assert "generation 2" in not_ready_reason(pipeline(generation=2, observed=1, Ready=("True", "")), [])
    assert (
        not_ready_reason(pipeline(observed=None), []) == "the operator has not reported on generation 1 yet"
    )
    assert not_ready_reason(pipeline(), []) == "the operator has reported no conditions yet"


def test_ready_means_ready_for_the_current_generation() -> None:
    assert is_ready(pipeline(Ready=("True", "")))
    assert not is_ready(pipeline(generation=2, observed=1, Ready=("True", "")))
    assert not is_ready(pipeline(Ready=("False", "")))


def test_a_stage_is_named_by_its_number_or_its_name() -> None:
    assert stage_matches("2. pipeline", "2")
    assert stage_matches("2. pipeline", "2. pipeline")
    assert not stage_matches("2. pipeline", "1")
    assert not stage_matches("12. later", "1")
    assert not stage_matches("2. pipeline", "")


def test_a_failing_stage_is_one_line_naming_stage_component_and_log(tmp_path: Path) -> None:
    out = io.StringIO()
    timer = StageTimer(Console(file=out, width=200))
    with (
        pytest.raises(StageError) as failed,
        timer.stage("4. lake", "Kafka Connect S3 sink", "/x/connect.log"),
    ):
        raise TimeoutError("the lake sink is still behind after 600s")
    assert str(failed.value) == (
        "stage '4. lake' failed in Kafka Connect S3 sink: the lake sink is still behind after 600s\n"
        "  read: /x/connect.log"
    )
    assert "4. lake" in timer.durations
    assert "Traceback" not in out.getvalue()


def test_the_stage_asked_for_fails_after_its_work_and_others_do_not() -> None:
    timer = StageTimer(Console(file=io.StringIO()), fail_at="3")
    done = []
    with timer.stage("2. pipeline", "operator", "log"):
        done.append(2)
    with pytest.raises(StageError) as failed, timer.stage("3. produce", "producer", "log"):
        done.append(3)
    assert done == [2, 3]
    assert isinstance(failed.value.__cause__, InjectedFailureError)


def test_ctrl_c_passes_through_a_stage_unchanged() -> None:
    timer = StageTimer(Console(file=io.StringIO()))
    with pytest.raises(KeyboardInterrupt), timer.stage("1. stack", "local stack", "log"):
        raise KeyboardInterrupt


def test_library_output_goes_to_the_log_and_the_console_keeps_the_terminal(tmp_path: Path) -> None:
    terminal = io.StringIO()
    console = Console(file=terminal)
    log_file = tmp_path / "logs" / "demo.log"
    root_handlers, stdout, stderr = logging.getLogger().handlers[:], sys.stdout, sys.stderr
    with library_output_to(log_file):
        console.print("stage header")
        logging.getLogger("kopf.objects").error("Handler 'reconcile' failed temporarily: waiting")
        print("an Airflow task log line")
        sys.stderr.write("a thread's traceback\n")
    assert terminal.getvalue() == "stage header\n"
    written = log_file.read_text()
    for line in (
        "failed temporarily",
        "an Airflow task log line",
        "a thread's traceback",
    ):
        assert line in written
    assert logging.getLogger().handlers == root_handlers
    assert (sys.stdout, sys.stderr) == (stdout, stderr)


def signal_self(signum: int) -> None:
    """Send `signum` to this process and give its Python handler the chance to run."""
    os.kill(os.getpid(), signum)
    signal.sigtimedwait([], 0)


def test_sigterm_stops_like_ctrl_c() -> None:
    before = signal.getsignal(signal.SIGTERM)  # not always SIG_DFL: earlier tests' libraries set one
    with sigterm_as_interrupt(), pytest.raises(Terminated, match="SIGTERM"):
        signal_self(signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) == before


def test_clean_up_is_not_interrupted_by_ctrl_c_or_sigterm() -> None:
    out = io.StringIO()
    finished = False
    # What the process had before (SIG_IGN for SIGINT when the session was started in the background).
    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    with uninterrupted(Console(file=out), "stopping the local stack"):
        signal_self(signal.SIGINT)
        signal_self(signal.SIGTERM)
        finished = True
    assert finished
    assert out.getvalue().count("still stopping the local stack") == 2
    assert (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)) == before

"""The demo's produce stage: `fraudlake produce` as its own process, sized to the demo's time span.

The rest of the lake path (sink, lake, lake_to_clickhouse) runs through the lake harness,
``fraudlake.local.roundtrip.harness``; only producing differs from `fraudlake lake run`, which sends its
transactions in-process.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fraudlake.local.stack.service import ServiceRecord


def produce(
    kafka: ServiceRecord,
    namespace: str,
    pipeline: str,
    rows: int,
    seed: int,
    days: int,
    log: Path,
    state_dir: Path,
    fraud_rate: float,
) -> None:
    """`fraudlake produce` as its own process (the producer is its own component, like in production)."""
    state_file = state_dir / f"producer-{namespace}.{pipeline}.json"
    today = datetime.now(UTC).date()
    users = demo_users(rows, days)
    argv = [
        sys.executable,
        "-m",
        "fraudlake.cli",
        "produce",
        "--bootstrap",
        kafka.endpoints["bootstrap"],
        "--namespace",
        namespace,
        "--pipeline",
        pipeline,
        "--rows",
        str(rows),
        "--seed",
        str(seed),
        # Recent event times, so the model's training window and the agent's "this week" see them.
        "--start",
        (today - timedelta(days=days)).isoformat(),
        "--end",
        today.isoformat(),
        # A bank small enough that `rows` cover about the whole span (a model needs months).
        "--users",
        str(users),
        "--fraud-rate",
        str(fraud_rate),
        "--state-file",
        str(state_file),
        "--progress",
    ]
    if state_file.exists():
        # A rerun continues (or, when complete, skips) the recorded run instead of sending the same
        # data again; other --rows/--seed need `--clean`.
        argv.append("--resume")
    with log.open("ab") as out:
        # The progress bar goes to the terminal; the summary lines also land in the log.
        proc = subprocess.run(argv, stdout=out, stderr=None, env=os.environ.copy(), check=False)
    if proc.returncode != 0:
        raise RuntimeError(
            f"the producer exited with {proc.returncode}; see {log} "
            "(after changing --rows or --seed, rerun the demo with --clean)"
        )


def demo_users(rows: int, days: int) -> int:
    """Users whose transactions reach `rows` a little before `days` end (the generator stops at
    the row budget; `--end today` only guards against event times in the future)."""
    from fraudlake.common.card_token import load_token_key
    from fraudlake.producer.entities import load_cards, load_users
    from fraudlake.producer.population import users_for_span

    return users_for_span(rows, 0.95 * days, load_users(), load_cards(load_token_key()))

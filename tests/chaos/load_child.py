"""One `lake_to_clickhouse` run (dag.test()) in its own process: the loader the fault matrix kills.

    python tests/chaos/load_child.py --stack-dir DIR --pipeline NAME --start ISO --end ISO
    (ClickHouse's DSN in $CHAOS_CLICKHOUSE_DSN)

Exit 0 when the run succeeded, 1 when it ended otherwise.
"""

from __future__ import annotations

import argparse
import os
import sys
from datetime import datetime
from pathlib import Path

from fraudlake.lake import loader
from fraudlake.lake.runtime import Interval
from fraudlake.local.roundtrip import harness
from fraudlake.local.stack import manager
from fraudlake.local.stack.service import ServiceRecord


def main() -> int:
    parser = argparse.ArgumentParser()
    for option in ("--stack-dir", "--pipeline", "--start", "--end"):
        parser.add_argument(option, required=True)
    args = parser.parse_args()
    services = manager.load_endpoints(Path(args.stack_dir))
    services["clickhouse"] = ServiceRecord(
        "clickhouse", endpoints={"dsn": os.environ["CHAOS_CLICKHOUSE_DSN"]}
    )
    lake = harness.local_lake(services, args.pipeline)
    # One object per INSERT (the default batches up to 64): the run's rows arrive in steps, so a
    # kill at 10/50/90% of them lands between and inside inserts rather than before or after one.
    init = loader.LakeLoader.__init__
    assert init.__defaults__ is not None
    assert len(init.__defaults__) == 3, init.__defaults__
    init.__defaults__ = (None, 1, loader.BATCH_ROWS)  # (rules, batch_objects, batch_rows)
    interval = Interval(datetime.fromisoformat(args.start), datetime.fromisoformat(args.end))
    outcome = harness.run_lake_dag(lake, interval)
    print(f"lake_to_clickhouse ended {outcome.state}: {outcome.task_states}", flush=True)
    return 0 if outcome.state == "success" else 1


if __name__ == "__main__":
    sys.exit(main())

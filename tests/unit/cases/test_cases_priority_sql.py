"""The queue's priority computed by ClickHouse (chDB) equals fraudlake.cases.logic.priority.

chDB allows one engine per process, so the engine runs in a child process, as test_api_tracing does."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np

from fraudlake.cases import logic

POINTS = [(0.0, 0.0), (1.0, 10_000.0), (0.9, 900.0), (0.31, 12.5), (0.5, 1e9), (0.77, 3.0), (-0.2, -10.0)]

CHILD = """
import json, sys
import chdb
from fraudlake.cases.logic import priority_sql
points = json.loads(sys.argv[1])
rows = " UNION ALL ".join(
    f"SELECT {i} AS i, {priority_sql(f'toFloat32({s})', f'toFloat64({a})')} AS p"
    for i, (s, a) in enumerate(points)
)
sql = f"SELECT groupArray(p) FROM (SELECT * FROM ({rows}) ORDER BY i)"
print(chdb.query(sql, "JSONCompact").bytes().decode())
"""


def test_sql_priority_matches_python() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(POINTS)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    (in_sql,) = json.loads(done.stdout)["data"][0]
    # Float32 scores, as the tables store them.
    assert in_sql == [logic.priority(float(np.float32(s)), a) for s, a in POINTS]

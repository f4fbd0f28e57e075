"""Every DAG file in dags/ imports cleanly and stays cheap to parse (no heavy top-level imports)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from fraudlake.local.stack.airflow_home import DAGS_FOLDER

pytestmark = pytest.mark.integration  # no services, but importing Airflow takes ~10-50 s

# Parse in a fresh interpreter: DagBag needs Airflow configured, and the check that the DAG file
# does not import heavy modules needs a process that has not imported them already.
_PARSE = """
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(sys.argv[1])
# Not boto3: the image carries apache-airflow-providers-amazon (S3 task logs), and the first Asset a DAG
# declares makes Airflow register every provider's asset-URI handlers, whose S3 one imports boto3.
heavy = sorted(m for m in ("pandas", "torch", "xgboost", "chdb", "clickhouse_connect", "pyarrow")
               if m in sys.modules)
print(json.dumps({"dags": sorted(bag.dag_ids), "errors": bag.import_errors, "heavy": heavy}))
"""


def test_every_dag_imports_without_errors_and_without_heavy_modules(tmp_path: Path) -> None:
    import json

    env = {
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS_FOLDER),
        "PATH": "/usr/bin:/bin",
    }
    done = subprocess.run(
        [sys.executable, "-c", _PARSE, str(DAGS_FOLDER)], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["errors"] == {}
    assert "lake_to_clickhouse" in result["dags"]
    assert "model_drift" in result["dags"]
    assert "shadow_gate" in result["dags"]
    assert result["heavy"] == []

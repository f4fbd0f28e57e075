"""The scoring service never imports torch (DESIGN §7/§8: the API image has none)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from api_kit import API_KEY

from fraudlake.ml.registry import LocalStore, ModelRegistry

pytestmark = pytest.mark.unit

# Runs in a fresh interpreter: builds the module-level app from the environment, loads the model,
# scores one transaction and a batch, and reports what got imported.
SCRIPT = """
import json, sys
from fastapi.testclient import TestClient
import fraudlake.api.main as main
imported_before_app = "torch" in sys.modules
txn = json.loads(sys.argv[1])
with TestClient(main.app) as client:
    auth = {"X-API-Key": sys.argv[2]}
    single = client.post("/v1/score", json=txn, headers=auth).status_code
    body = {"transactions": [txn], "reasons": "all"}
    batch = client.post("/v1/score/batch", json=body, headers=auth).status_code
print(json.dumps({"single": single, "batch": batch, "torch_at_import": imported_before_app,
                  "torch": "torch" in sys.modules, "torch_geometric": "torch_geometric" in sys.modules}))
"""


def test_serving_a_score_never_imports_torch(
    tmp_path: Path, model_files: dict[str, bytes], transactions: list[dict[str, Any]]
) -> None:
    ModelRegistry(LocalStore(tmp_path), "models").publish(model_files)
    env = os.environ | {"FRAUDLAKE_API_KEYS": API_KEY, "FRAUDLAKE_MODEL_URI": f"file://{tmp_path}/models",
                        "FRAUDLAKE_LOG_LEVEL": "WARNING"}  # fmt: skip
    run = subprocess.run([sys.executable, "-c", SCRIPT, json.dumps(transactions[0]), API_KEY],
                         env=env, capture_output=True, text=True, timeout=300)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report == {"single": 200, "batch": 200, "torch_at_import": False, "torch": False,
                      "torch_geometric": False}  # fmt: skip

"""A small real fraud model for API tests and benchmarks: the producer's generator makes the data,
the model code (`fraudlake.ml.train`, `report.artifact_files`) trains it, exactly as in production.

Training takes minutes, so a model is cached under ~/.cache/fraudlake/test-model-<key>/, keyed on the
recipe, the feature spec version and the artifact's file list, and used only if the current model
code still loads it (`FraudModel`); otherwise it is retrained. (Keying on the training code itself
would retrain on every edit of it; what the API tests need is a real model in the current format.)
The cache is written to a temporary folder and renamed, so an interrupted run never looks complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pandas as pd

from fraudlake.local.stack.paths import cache_dir
from fraudlake.ml.artifact import MODEL_FILES, FraudModel, manifest, read_dir, write_dir
from fraudlake.ml.features import SPEC_VERSION

TOKEN_KEY = b"model-kit-token-key-not-a-secret"


@dataclass(frozen=True)
class ModelRecipe:
    """How big a world and how long a training run."""

    kit: int = 1  # version of this file's training recipe
    users: int = 120
    rows: int = 20_000
    seed: int = 3
    fraud_rate: float = 0.03
    xgb_rounds: int = 40
    gnn_epochs: int = 5
    gnn_dim: int = 8


SMALL = ModelRecipe()  # unit tests: a minute to train once, then cached
BENCH = ModelRecipe(
    users=400, rows=120_000, xgb_rounds=400, gnn_epochs=20, gnn_dim=4
)  # realistic tree count, the production GNN's size (`GnnConfig`)


def _cache_key(recipe: ModelRecipe) -> str:
    return hashlib.sha256(repr((recipe, SPEC_VERSION, MODEL_FILES)).encode()).hexdigest()[:16]


def _loadable(model_dir: Path) -> bool:
    try:
        FraudModel(read_dir(model_dir))
    except Exception:
        return False
    return True


def generated_frame(recipe: ModelRecipe) -> pd.DataFrame:
    """Transactions of the first `users` TabFormer users from the generator, prepared for training."""
    import pyarrow as pa
    import pyarrow.compute as pc

    from fraudlake.ml.data import prepare
    from fraudlake.producer.entities import load_cards, load_users
    from fraudlake.producer.fraud_config import FraudConfig
    from fraudlake.producer.generator import GeneratorConfig, TransactionGenerator

    users = load_users().slice(0, recipe.users)
    cards = load_cards(TOKEN_KEY)
    cards = cards.filter(pc.less(cards["user"], recipe.users))
    config = GeneratorConfig(
        seed=recipe.seed, start=date(2018, 1, 1), rows=recipe.rows, fraud=FraudConfig(rate=recipe.fraud_rate)
    )
    generator = TransactionGenerator(config, users=users, cards=cards, token_key=TOKEN_KEY)
    return prepare(pa.concat_tables(list(generator.chunks())).to_pandas())


def _train(frame: pd.DataFrame, recipe: ModelRecipe) -> dict[str, bytes]:
    from fraudlake.ml.features import DAY_MS, FeatureConfig
    from fraudlake.ml.graph import GnnConfig
    from fraudlake.ml.graph_data import GraphConfig
    from fraudlake.ml.report import artifact_files
    from fraudlake.ml.train import TrainConfig, XgbConfig, train

    # Short delays and horizons so that a few weeks of data are enough for every training period.
    config = TrainConfig(
        features=FeatureConfig(label_delay_ms=2 * DAY_MS),
        graph=GraphConfig(horizon_ms=3 * DAY_MS),
        gnn=GnnConfig(
            epochs=recipe.gnn_epochs, dim=recipe.gnn_dim, hidden=2 * recipe.gnn_dim, max_train_snapshots=3
        ),
        xgb=XgbConfig(rounds=recipe.xgb_rounds),
        bootstrap=5,
    )
    return artifact_files(train(frame, config), "generated (model_kit)")


def trained_model(recipe: ModelRecipe = SMALL) -> tuple[dict[str, bytes], pd.DataFrame]:
    """(artifact files, the prepared training frame) of the recipe, trained once per code version."""
    target = cache_dir("test-model", _cache_key(recipe))
    if not (target / "model" / "manifest.json").exists() or not _loadable(target / "model"):
        frame = generated_frame(recipe)
        files = _train(frame, recipe)
        tmp = target.with_name(f"{target.name}.tmp-{uuid.uuid4().hex[:8]}")
        write_dir(files, tmp / "model")
        frame.to_parquet(tmp / "frame.parquet")
        shutil.rmtree(target, ignore_errors=True)
        tmp.rename(target)
    return read_dir(target / "model"), pd.read_parquet(target / "frame.parquet")


def new_version(files: Mapping[str, bytes], suffix: str, review: float | None = None) -> dict[str, bytes]:
    """The same model published as another version (optionally with another review threshold):
    a genuinely different artifact for the registry, without a second training run."""
    body = json.loads(files["manifest.json"])
    out = {name: data for name, data in files.items() if name != "manifest.json"}
    if review is not None:
        decision = json.loads(out["decision.json"])
        decision["thresholds"]["review"]["value"] = review
        out["decision.json"] = json.dumps(decision).encode()
    headline = dict(body["headline"], test_auc_pr=body["headline"]["test_auc_pr"] + 1e-6)
    out["manifest.json"] = manifest(f"{body['version']}-{suffix}", out, headline)
    return out


def api_transaction(row: Mapping[str, Any], **overrides: Any) -> dict[str, Any]:
    """A prepared frame row as the JSON body of POST /v1/score."""
    ts = pd.Timestamp(row["event_ts"])
    body = {
        "txn_id": str(row["txn_id"]),
        "event_ts": ts.isoformat().replace("+00:00", "Z"),
        "user_id": str(row["user_id"]),
        "card_id": str(row["card_id"]),
        "merchant_id": str(row["merchant_id"]),
        "amount": float(row["amount"]),
        "use_chip": str(row["use_chip"]),
        "mcc": int(row["mcc"]),
        "merchant_state": row["merchant_state"] or None,
        "errors": row["errors"] or None,
    }
    return body | overrides


def frame_records(frame: pd.DataFrame, start: int = 0, stop: int | None = None) -> list[dict[str, Any]]:
    """Rows of the frame as API transactions, in time order."""
    return [api_transaction(r) for r in frame.iloc[start:stop].to_dict("records")]


def reversed_version(files: Mapping[str, bytes], suffix: str) -> dict[str, bytes]:
    """The model with its calibration turned upside down (probability 1 − p): it ranks transactions the
    other way round, a challenger that is worse beyond doubt."""
    out = {name: data for name, data in files.items() if name != "manifest.json"}
    decision = json.loads(out["decision.json"])
    decision["calibration"]["knots_y"] = [1.0 - y for y in decision["calibration"]["knots_y"]]
    out["decision.json"] = json.dumps(decision).encode()
    body = json.loads(files["manifest.json"])
    out["manifest.json"] = manifest(f"{body['version']}-{suffix}", out, body["headline"])
    return out

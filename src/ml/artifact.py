"""A model version as files, and the loaded model the API scores with (numpy + xgboost, no torch).

Files of one version (the layout under `s3://<bucket>/models/<version>/` and of a local artifact dir):

    manifest.json           version, sha256 of every other file, headline metrics (written last)
    xgboost.json            the served model, the training gate's choice (`fraudlake.ml.gate`): (b)
                            tabular, (b+) tabular + graph aggregates or (c) tabular + GraphSAGE
    xgboost_tabular.json    model (b): tabular features only (comparison, fallback)
    decision.json           isotonic calibration knots and the review/decline thresholds, each with
                            its basis (a precision target, or the review queue's capacity)
    feature_spec.json       feature names, descriptions, windows, label delay, graph config
    gnn_weights.npz         GraphSAGE layer weights, heads, input standardization
    embeddings.npz          per node type: ids, standardized inputs x, layer-1 states h1, embeddings h2,
                            the (b+) graph aggregates (`<type>/aggregates`); per card also its raw CPP
                            exposures (`card/exposure`)
    metrics.json            periods, test metrics of (a)/(b)/(c), intervals, decisions
    evaluation.json         test period: PR curve points of (a)/(b)/(b+)/(c), the served model's decision
                            table (caught/missed/false alarms per threshold); `schema_version` 1. Absent
                            from versions trained before it: `FraudModel.evaluation` is then None
    model_card.md           data window, metrics, limits
    pr_curves.png           precision-recall curves of (a)/(b)/(c) on the test period
    feature_importance.png  top features of (c)
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xgboost as xgb

from fraudlake.ml.aggregates import aggregate_columns, unseen_node
from fraudlake.ml.embed_numpy import GraphEmbedder, SageWeights
from fraudlake.ml.evaluate import Calibration, decisions
from fraudlake.ml.features import GRAPH_NODE_KINDS, SPEC_VERSION, FeatureConfig
from fraudlake.ml.graph_data import EXPOSURES, NODE_TYPES, new_node_features
from fraudlake.ml.online import OnlineFeatureState

MANIFEST = "manifest.json"
MODEL_FILES = (
    "xgboost.json",
    "xgboost_tabular.json",
    "decision.json",
    "feature_spec.json",
    "gnn_weights.npz",
    "embeddings.npz",
    "metrics.json",
    "evaluation.json",
    "model_card.md",
    "pr_curves.png",
    "feature_importance.png",
)


class ArtifactError(ValueError):
    """A model version is incomplete, corrupted or from an incompatible feature spec."""


def npz_bytes(arrays: Mapping[str, np.ndarray]) -> bytes:
    buf = io.BytesIO()
    # numpy's stub also has a keyword `allow_pickle: bool`, which mypy assumes a str-keyed mapping may fill.
    np.savez_compressed(buf, **arrays)  # type: ignore[arg-type]
    return buf.getvalue()


def read_npz(data: bytes) -> dict[str, np.ndarray]:
    with np.load(io.BytesIO(data), allow_pickle=False) as npz:
        return {k: npz[k] for k in npz.files}


def manifest(version: str, files: Mapping[str, bytes], headline: Mapping[str, Any]) -> bytes:
    """The manifest: written last, so a version without one is an interrupted upload."""
    body = {
        "version": version,
        "spec_version": SPEC_VERSION,
        "headline": dict(headline),
        "files": {name: hashlib.sha256(data).hexdigest() for name, data in sorted(files.items())},
    }
    return json.dumps(body, indent=2).encode()


def verify(files: Mapping[str, bytes]) -> dict[str, Any]:
    """Checked manifest of a complete version; ArtifactError on a missing or altered file."""
    if MANIFEST not in files:
        raise ArtifactError("no manifest.json: the version is incomplete")
    body = json.loads(files[MANIFEST])
    for name, digest in body["files"].items():
        if name not in files:
            raise ArtifactError(f"{body['version']}: {name} is missing")
        if hashlib.sha256(files[name]).hexdigest() != digest:
            raise ArtifactError(f"{body['version']}: {name} does not match its sha256 in the manifest")
    if body["spec_version"] != SPEC_VERSION:
        raise ArtifactError(
            f"{body['version']}: feature spec v{body['spec_version']}, this code has v{SPEC_VERSION}"
        )
    return dict(body)


def write_dir(files: Mapping[str, bytes], path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True)
    for name in sorted(files, key=lambda n: n == MANIFEST):  # manifest last
        (path / name).write_bytes(files[name])


def read_dir(path: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in Path(path).iterdir() if p.is_file()}


class FraudModel:
    """The loaded champion: features → graph columns → calibrated score → decision."""

    def __init__(self, files: Mapping[str, bytes]):
        meta = verify(files)
        self.version: str = meta["version"]
        self.spec: dict[str, Any] = json.loads(files["feature_spec.json"])
        self.metrics: dict[str, Any] = json.loads(files["metrics.json"])
        # Versions trained before evaluation.json existed load without it (the model report says so).
        self.evaluation: dict[str, Any] | None = (
            json.loads(files["evaluation.json"]) if "evaluation.json" in meta["files"] else None
        )
        self.feature_names = [f["name"] for f in self.spec["features"]]
        self.descriptions = {f["name"]: f["description"] for f in self.spec["features"]}
        self.feature_config = FeatureConfig(**self.spec["config"])
        self.booster = xgb.Booster()
        self.booster.load_model(bytearray(files["xgboost.json"]))
        self.booster.set_param({"nthread": 1})  # one request, one thread: no pool start-up per call
        decision = json.loads(files["decision.json"])
        self.calibration = Calibration(
            np.array(decision["calibration"]["knots_x"]), np.array(decision["calibration"]["knots_y"])
        )
        # An unreachable target precision is stored as null: that band never triggers.
        self.thresholds = {
            k: float("inf") if v["value"] is None else float(v["value"])
            for k, v in decision["thresholds"].items()
        }
        self.threshold_details: dict[str, dict[str, Any]] = decision["thresholds"]
        # The graph columns after the tabular ones: none, (b+) aggregates or (c) GraphSAGE.
        self.graph_kind: str = self.spec["graph_columns"]
        weights = SageWeights.from_arrays(read_npz(files["gnn_weights.npz"]))
        tables = read_npz(files["embeddings.npz"])
        self.embedder = GraphEmbedder(
            weights, *({k: tables[f"{k}/{part}"] for k in NODE_TYPES} for part in ("ids", "x", "h1", "h2"))
        )
        self._new_node = {kind: new_node_features(kind) for kind in NODE_TYPES}
        # A card the snapshot lacks visited no merchant in its edge window: exposure 0, as in training.
        self._card_exposure = tables["card/exposure"].astype(np.float64).tolist()
        self._no_exposure = [0.0] * len(EXPOSURES)
        self._aggregates = {k: tables[f"{k}/aggregates"] for k in NODE_TYPES}

    def new_feature_state(self) -> OnlineFeatureState:
        """Online feature state configured like the training run (windows, label delay)."""
        return OnlineFeatureState(self.feature_config)

    def graph_features(self, card_id: str, merchant_id: str, user_id: str) -> np.ndarray:
        """The served model's graph columns for one transaction (none for a tabular model)."""
        if self.graph_kind == "none":
            return np.zeros(0, dtype=np.float32)
        if self.graph_kind == "aggregates":
            return self.graph_aggregates(card_id, merchant_id, user_id)
        return self.graphsage_features(card_id, merchant_id, user_id)

    def graph_aggregates(self, card_id: str, merchant_id: str, user_id: str) -> np.ndarray:
        """(b+) columns from the last snapshot's table; a node it lacks has no history (zeros)."""
        ids = {"card": card_id, "merchant": merchant_id, "user": user_id}
        tables, rows = {}, {}
        for kind in GRAPH_NODE_KINDS:
            row = self.embedder.index[kind].get(str(ids[kind]))
            tables[kind] = self._aggregates[kind] if row is not None else unseen_node(kind)[None, :]
            rows[kind] = np.array([row if row is not None else 0])
        return aggregate_columns(tables, rows)[0]

    def graphsage_features(self, card_id: str, merchant_id: str, user_id: str) -> np.ndarray:
        """Graph columns (risks, the card's exposures, then embeddings) for one transaction.

        Known nodes read the last training snapshot; a node it lacks is embedded inductively as a new
        node linked by this transaction (card ↔ merchant, card ↔ user).
        """
        ids = {"card": card_id, "merchant": merchant_id, "user": user_id}
        risks, embeddings = [], []
        for kind in GRAPH_NODE_KINDS:
            found = self.embedder.lookup(kind, ids[kind])
            if found is None:
                # A new node, linked by this transaction: card ↔ merchant, card ↔ user.
                links = (
                    {"merchant": [merchant_id], "user": [user_id]} if kind == "card" else {"card": [card_id]}
                )
                embedding = self.embedder.embed(kind, self._new_node[kind], links)
                found = self.embedder.score(kind, embedding), embedding
            risk, embedding = found
            risks.append(risk)
            embeddings.append(embedding)
        card_row = self.embedder.index["card"].get(str(card_id))
        exposures = self._no_exposure if card_row is None else self._card_exposure[card_row]
        return np.concatenate([risks, exposures, *embeddings]).astype(np.float32)

    def score(self, x: np.ndarray) -> np.ndarray:
        """Calibrated fraud probabilities for rows of `feature_names` columns."""
        return self.calibration(self.booster.inplace_predict(np.asarray(x, dtype=np.float32)))

    def decide(self, probability: np.ndarray) -> np.ndarray:
        return decisions(probability, self.thresholds["review"], self.thresholds["decline"])

    def contributions(self, x: np.ndarray) -> np.ndarray:
        """Per-feature SHAP contributions (log-odds; last column is the bias) for reasons."""
        dm = xgb.DMatrix(np.asarray(x, dtype=np.float32), feature_names=self.feature_names)
        return self.booster.predict(dm, pred_contribs=True)

"""An immutable, ready-to-score model version, and the watcher that swaps it when the champion moves.

Everything a request needs is computed once at load (reason groups, column indices, warmed-up
booster). A request reads `ModelWatcher.current` once and uses that bundle to the end, so a reload
(an atomic reference swap) never changes the model under a request that is already running.
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import numpy as np
import xgboost as xgb

from fraudlake.common.background import BackgroundThread
from fraudlake.ml.artifact import FraudModel
from fraudlake.ml.features import FEATURE_NAMES
from fraudlake.ml.registry import ModelRegistry
from fraudlake.scoring.models import ModelInfo, Threshold
from fraudlake.scoring.trees import TreeEnsemble

log = logging.getLogger("fraudlake.api.model")
_EMBEDDING_COLUMN = re.compile(r"^graph_(\w+?)_(\d+)$")


@dataclass(frozen=True)
class ReasonGroups:
    """Model columns folded into the reasons an analyst reads: each tabular feature and graph risk is
    its own reason; the components of one node's embedding form a single reason."""

    names: tuple[str, ...]
    descriptions: tuple[str, ...]
    value_column: tuple[int, ...]  # column whose value a reason shows; -1: none (a whole embedding)
    matrix: np.ndarray  # (columns + bias) × reasons, 0/1: contributions @ matrix = per-reason sums

    @classmethod
    def build(cls, feature_names: list[str], descriptions: Mapping[str, str]) -> ReasonGroups:
        names: list[str] = []
        texts: list[str] = []
        value_column: list[int] = []
        column_group = []
        for i, name in enumerate(feature_names):
            embedding = _EMBEDDING_COLUMN.match(name)
            group = f"graph_{embedding.group(1)}_embedding" if embedding else name
            if group not in names:
                names.append(group)
                texts.append(
                    f"graph embedding of the {embedding.group(1)}: the shape of its neighbourhood of "
                    "cards, merchants and users (GraphSAGE)"
                    if embedding
                    else descriptions[name]
                )
                value_column.append(-1 if embedding else i)
            column_group.append(names.index(group))
        matrix = np.zeros((len(feature_names) + 1, len(names)), dtype=np.float32)  # bias row stays 0
        matrix[np.arange(len(feature_names)), column_group] = 1.0
        return cls(tuple(names), tuple(texts), tuple(value_column), matrix)


ReasonPolicy = Literal["all", "flagged", "none"]
WALK_MAX_ROWS = 16  # up to this many rows the numpy tree walk beats XGBoost's per-call overhead


@dataclass(frozen=True)
class Evaluation:
    """Scores of a matrix of rows, with the reasons of the rows the policy explains."""

    probabilities: np.ndarray
    decisions: np.ndarray
    explained: np.ndarray  # row indices that have reasons
    contributions: np.ndarray  # len(explained) × reasons, log-odds


@dataclass(frozen=True)
class ModelBundle:
    """One loaded model version with what scoring needs precomputed. Never mutated after `load`."""

    model: FraudModel
    info: ModelInfo
    reasons: ReasonGroups
    trees: TreeEnsemble | None  # the numpy evaluator of the booster (None: XGBoost only)
    uses_graph: bool

    @property
    def version(self) -> str:
        return self.model.version

    @property
    def feature_count(self) -> int:
        return len(self.model.feature_names)

    @classmethod
    def load(cls, model: FraudModel, source: str) -> ModelBundle:
        names = model.feature_names
        if tuple(names[: len(FEATURE_NAMES)]) != FEATURE_NAMES:
            raise ValueError(f"model {model.version} was trained on a different tabular feature list")
        bundle = cls(
            model=model,
            info=_model_info(model, source),
            reasons=ReasonGroups.build(names, model.descriptions),
            trees=TreeEnsemble.from_booster(model.booster),
            uses_graph=len(names) > len(FEATURE_NAMES),
        )
        bundle.warm_up()
        return bundle

    def warm_up(self) -> None:
        """First predictions allocate XGBoost's buffers: pay that at load, not on a request."""
        for rows in (1, WALK_MAX_ROWS + 1):
            x = np.zeros((rows, self.feature_count), dtype=np.float32)
            self.evaluate(x, "all")
            self.evaluate(x, "all", exact_reasons=True)

    def graph_columns(self, card_id: str, merchant_id: str, user_id: str) -> np.ndarray:
        return self.model.graph_features(card_id, merchant_id, user_id)

    def evaluate(self, x: np.ndarray, policy: ReasonPolicy, exact_reasons: bool = False) -> Evaluation:
        """Calibrated probabilities and decisions of rows of model inputs, and reasons for the rows the
        policy names (all, flagged = review/decline, none).

        Probabilities equal `FraudModel.score` bit for bit on either path. Reasons are XGBoost
        per-feature contributions (`pred_contribs`): path attributions (`approx_contribs`, from the
        numpy walk for a few rows), or exact TreeSHAP when `exact_reasons` (slower: milliseconds).
        """
        x = np.asarray(x, dtype=np.float32)
        walk = self.trees is not None and len(x) <= WALK_MAX_ROWS
        contributions = None
        if walk:
            assert self.trees is not None
            leaves, contributions = self.trees.walk(x, contributions=policy != "none" and not exact_reasons)
            raw = self.trees.probability(leaves)
        else:
            raw = self.model.booster.predict(xgb.DMatrix(x, nthread=1), validate_features=False)
        probabilities = self.model.calibration(raw)
        decisions = self.model.decide(probabilities)
        explained = _explained_rows(decisions, policy)
        if not len(explained):
            return Evaluation(probabilities, decisions, explained, np.zeros((0, len(self.reasons.names))))
        if contributions is None:
            dmatrix = xgb.DMatrix(x[explained], nthread=1)
            contributions = self.model.booster.predict(
                dmatrix, pred_contribs=True, approx_contribs=not exact_reasons, validate_features=False
            )
        else:
            contributions = contributions[explained]
        return Evaluation(probabilities, decisions, explained, contributions @ self.reasons.matrix)


def _explained_rows(decisions: np.ndarray, policy: ReasonPolicy) -> np.ndarray:
    if policy == "all":
        return np.arange(len(decisions))
    if policy == "flagged":
        return np.flatnonzero(decisions != "approve")
    return np.zeros(0, dtype=np.int64)


def _model_info(model: FraudModel, source: str) -> ModelInfo:
    periods: dict[str, Any] = model.metrics.get("periods", {})
    spans = list(periods.values())
    trained_on = {
        "start": min((p["start"] for p in spans), default=None),
        "end": max((p["end"] for p in spans), default=None),
        "rows": sum(p.get("rows", 0) for p in spans),
        "frauds": sum(p.get("frauds", 0) for p in spans),
    }
    finite = {k: (v if np.isfinite(v) else None) for k, v in model.thresholds.items()}
    review = model.threshold_details.get("review", {})
    gate: dict[str, Any] = model.metrics.get("gate", {})
    return ModelInfo(
        version=model.version,
        loaded_at=datetime.now(UTC),
        source=source,
        thresholds=Threshold(
            review=finite.get("review"),
            decline=finite.get("decline"),
            review_basis=review.get("basis", "precision") if finite.get("review") is not None else None,
            review_capacity=review.get("capacity"),
        ),
        trained_on=trained_on,
        periods=periods,
        metrics=model.metrics.get("test", {}),
        features=len(model.feature_names),
        served_model=model.metrics.get("served_model"),
        gate_reason=gate.get("reason"),
    )


class ModelWatcher(BackgroundThread):
    """Reads the registry's champion pointer at `start()` and every `poll_seconds`; loads a new champion
    in the background and swaps it in only once it is fully built and warm."""

    def __init__(
        self,
        make_registry: Callable[[], ModelRegistry],
        source: str,
        poll_seconds: float,
        on_change: Callable[[ModelBundle], None] = lambda _: None,
        on_error: Callable[[str], None] = lambda _: None,
        pointer: Callable[[ModelRegistry], dict[str, Any] | None] = lambda registry: registry.champion(),
        optional: bool = False,
    ):
        """`pointer` reads which version to serve (the champion by default). `optional`: no pointer means
        no model (a challenger that was ended), not "keep serving the last one" (a champion)."""
        self._pointer, self.optional = pointer, optional
        # The registry is opened on first use and again after a failure: an unreachable store at start
        # leaves the API alive and unready (`/readyz`), not crashed.
        self._make_registry = make_registry
        self._registry: ModelRegistry | None = None
        self.source, self.poll_seconds, self.on_change, self.on_error = (
            source,
            poll_seconds,
            on_change,
            on_error,
        )
        self.current: ModelBundle | None = None
        self.last_error: str | None = None
        self._loaded = threading.Event()
        self._check_lock = threading.Lock()
        super().__init__("model-watcher")

    def check_once(self) -> bool:
        """Load the champion if it differs from the served version; True when the model changed.

        Errors (store unreachable, corrupt version) are logged and leave the served model in place.
        """
        with self._check_lock:
            try:
                registry = self._registry = self._registry or self._make_registry()
                pointer = self._pointer(registry)
                if pointer is None:
                    if self.optional:
                        changed, self.current = self.current is not None, None
                        return changed
                    self.last_error = f"no champion pointer under {self.source}"
                    return False
                version = str(pointer["version"])
                if self.current is not None and self.current.version == version:
                    return False
                bundle = ModelBundle.load(registry.load(version), f"{self.source}/{version}")
            except Exception as exc:
                self._registry = None
                self.last_error = f"{type(exc).__name__}: {exc}"
                self.on_error(self.last_error)
                log.exception("model load failed; keeping the served model", extra={"source": self.source})
                return False
            previous = self.current
            self.on_change(bundle)  # the feature state follows before any request can see the new model
            self.current = bundle  # the atomic swap
            self.last_error = None
            self._loaded.set()
            log.info(
                "model loaded",
                extra={"model_version": version, "previous_version": previous.version if previous else None},
            )
            return True

    def wait_loaded(self, timeout: float) -> bool:
        return self._loaded.wait(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.check_once()
            self._stop.wait(self.poll_seconds)

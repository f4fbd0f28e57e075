"""The served XGBoost model evaluated in numpy for one or a few rows: the single-score hot path.

XGBoost's own predict has a fixed cost per call (building a DMatrix or its in-place proxy) of
several hundred microseconds on a small machine, about the whole budget of a request. Walking
the trees level by level in numpy, all trees at once, costs a few dozen array operations. The same
walk yields the path attributions XGBoost computes with `pred_contribs=True, approx_contribs=True`
(Saabas): each split on the path credits its feature with the change in the node's expected value.

Supported: `gbtree` with the `binary:logistic` objective and numerical splits (what training
produces), with each node's children stored side by side (as XGBoost allocates them).
`TreeEnsemble.from_booster` returns None for anything else and the caller uses XGBoost. Unit tests
hold margins and probabilities bit-equal, and contributions equal, to XGBoost's.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
from dataclasses import dataclass
from typing import Any

import numpy as np
import xgboost as xgb


@dataclass(frozen=True)
class TreeEnsemble:
    """All trees' nodes in flat arrays. From node i a row moves to `step[i] + go_right`: an inner
    node's step is its left child (the right one follows it); a leaf's step is itself and its
    threshold NaN, so it never moves and extra levels are no-ops."""

    roots: np.ndarray  # (trees,) node index of each tree's root
    step: np.ndarray  # left child, or the leaf itself
    lookup: np.ndarray  # split feature, + n_features where a missing value goes right; leaves: 2 × n_features
    threshold: np.ndarray  # float32: x >= threshold goes right (XGBoost: x < threshold goes left)
    value: np.ndarray  # float32 leaf values (0 for inner nodes)
    gain: np.ndarray  # a node's expected value (XGBoost's node mean) minus its parent's: a path's credit
    depth: int
    base_margin: np.float32
    n_features: int
    bias: float  # contributions' bias column: the base margin plus every tree's expected value

    @classmethod
    def from_booster(cls, booster: xgb.Booster) -> TreeEnsemble | None:
        """The booster's trees, or None when its model is not one this evaluator handles."""
        learner = json.loads(booster.save_raw("json"))["learner"]
        booster_model = learner["gradient_booster"]
        if learner["objective"]["name"] != "binary:logistic" or booster_model["name"] != "gbtree":
            return None
        trees = booster_model["model"]["trees"]
        if not trees or any(any(t["split_type"]) for t in trees):  # categorical splits
            return None
        if any(
            any(r != lc + 1 for lc, r in zip(t["left_children"], t["right_children"], strict=True) if lc >= 0)
            for t in trees
        ):
            return None
        if any(  # a missing value's stand-in (±inf) must fall on its default side of every split
            not np.isfinite(
                np.asarray(t["split_conditions"], dtype=np.float32)[np.asarray(t["left_children"]) >= 0]
            ).all()
            for t in trees
        ):
            return None
        params = learner["learner_model_param"]
        base_score = float(str(params["base_score"]).strip("[]"))
        base_margin = np.float32(np.log(base_score / (1.0 - base_score)))
        return cls._build(trees, base_margin, int(params["num_feature"]))

    @classmethod
    def _build(cls, trees: list[dict[str, Any]], base_margin: np.float32, n_features: int) -> TreeEnsemble:
        names = ("step", "lookup", "threshold", "value", "gain")
        parts: dict[str, list[np.ndarray]] = {name: [] for name in names}
        roots, offset, depth, expected = [], 0, 0, 0.0
        for tree in trees:
            left = np.asarray(tree["left_children"], dtype=np.int64)
            leaf = left < 0
            split = np.asarray(tree["split_conditions"], dtype=np.float32)
            parts["step"].append(np.where(leaf, np.arange(len(left)), left) + offset)
            feature = np.asarray(tree["split_indices"], dtype=np.int64)
            missing_right = ~np.asarray(tree["default_left"], dtype=bool)
            parts["lookup"].append(np.where(leaf, 2 * n_features, feature + missing_right * n_features))
            parts["threshold"].append(np.where(leaf, np.float32(np.nan), split))
            parts["value"].append(np.where(leaf, split, np.float32(0)))
            mean, tree_depth = _node_means(left, split, np.asarray(tree["sum_hessian"], dtype=np.float64))
            parts["gain"].append(_gains(left, mean))
            expected += mean[0]
            roots.append(offset)
            offset += len(left)
            depth = max(depth, tree_depth)
        flat = {name: np.concatenate(arrays) for name, arrays in parts.items()}
        roots_array = np.asarray(roots)
        return cls(
            roots=roots_array,
            depth=depth,
            base_margin=base_margin,
            n_features=n_features,
            bias=float(base_margin) + expected,
            **flat,
        )

    def walk(self, x: np.ndarray, contributions: bool) -> tuple[np.ndarray, np.ndarray | None]:
        """Leaf index per (row, tree), and per-feature path contributions (rows × features + 1) when asked.

        The last contribution column is the bias: the base margin plus every tree's expected value.
        A row is compared through two copies of its values, missing ones set to -inf in the first and
        +inf in the second; a node reads the copy that sends a missing value its default way
        (`lookup`), so the walk needs no missing-value test per level. Rows are flattened into one
        vector of (row, tree) positions, so one index addresses a row's value and its contribution
        slot. (One row, the single score, needs neither offsets nor flattening: one call per numpy
        operation is its cost.)
        """
        n_rows, n_trees, n = len(x), len(self.roots), self.n_features
        width = 2 * n + 1  # both copies, then the bias slot
        missing = np.isnan(x)
        rows = np.empty((n_rows, width), dtype=np.float32)
        rows[:, :n] = np.where(missing, _MINUS_INF, x)
        rows[:, n : 2 * n] = np.where(missing, _PLUS_INF, x)
        rows[:, -1] = 0  # the bias slot: leaves compare it with NaN, so they never move
        values = rows.ravel()
        if n_rows > 1:
            offsets = np.repeat(np.arange(n_rows) * width, n_trees)
            nodes = np.tile(self.roots, n_rows)
        else:
            nodes = self.roots
        path, visited = [], [nodes]
        for _ in range(self.depth):
            at = self.lookup[nodes] + offsets if n_rows > 1 else self.lookup[nodes]
            nodes = self.step[nodes] + (values[at] >= self.threshold[nodes])
            path.append(at)
            visited.append(nodes)
        leaves = nodes.reshape(n_rows, n_trees)
        if not contributions:
            return leaves, None
        # Each step credits the feature it split on with the change in expected value. A leaf's
        # self-loop credits the last slot, which is dropped. The two copies' credits are summed into
        # the first copy, and column n (the second copy's first slot, already summed) takes the bias.
        steps = self.gain[np.concatenate(visited[1:])]
        credit = np.bincount(np.concatenate(path), weights=steps, minlength=n_rows * width).reshape(
            n_rows, width
        )
        credit[:, :n] += credit[:, n : 2 * n]
        credit[:, n] = self.bias
        return leaves, credit[:, : n + 1]

    def margin(self, leaves: np.ndarray) -> np.ndarray:
        """Raw margins, summed like XGBoost: base margin first, then the trees in order, in float32."""
        terms = self.value[leaves]
        terms[:, 0] += self.base_margin  # the running sum's first step: base margin + first tree
        return np.cumsum(terms, axis=1, dtype=np.float32)[:, -1]

    def probability(self, leaves: np.ndarray) -> np.ndarray:
        """XGBoost's `predict` output for binary:logistic (float32 sigmoid of the margin)."""
        return np.array([_sigmoid(m) for m in self.margin(leaves).tolist()], dtype=np.float32)


_MINUS_INF, _PLUS_INF = np.float32(-np.inf), np.float32(np.inf)
_LIBM = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
_LIBM.expf.restype, _LIBM.expf.argtypes = ctypes.c_float, [ctypes.c_float]
_ONE, _EXP_CAP = np.float32(1), float(np.float32(88.7))


def _sigmoid(margin: float) -> np.float32:
    """XGBoost's Sigmoid of one float32 margin: 1 / (expf(min(-x, 88.7f)) + 1), in float32.

    glibc's expf is not correctly rounded (≤ 0.502 ulp), so neither numpy's float32 exp nor a float64
    exp rounded once always equals it: this calls the C library's expf itself. A few rows at a time,
    so plain numbers: numpy's cost per call would exceed the arithmetic.
    """
    return _ONE / (np.float32(_LIBM.expf(min(-margin, _EXP_CAP))) + _ONE)


def _gains(left: np.ndarray, mean: np.ndarray) -> np.ndarray:
    """Each node's mean minus its parent's (0 at the root)."""
    parent_mean = mean.copy()  # the root is its own reference
    inner = np.flatnonzero(left >= 0)
    parent_mean[left[inner]] = parent_mean[left[inner] + 1] = mean[inner]
    return mean - parent_mean


def _node_means(left: np.ndarray, split: np.ndarray, cover: np.ndarray) -> tuple[np.ndarray, int]:
    """Each node's cover-weighted mean leaf value (XGBoost's FillNodeMeanValues) and the tree depth."""
    mean = np.zeros(len(left), dtype=np.float64)
    depth = np.zeros(len(left), dtype=np.int64)
    order = [0]
    for node in order:  # breadth first: parents before children
        if left[node] >= 0:
            depth[left[node]] = depth[left[node] + 1] = depth[node] + 1
            order += [int(left[node]), int(left[node]) + 1]
    for node in reversed(order):  # children before parents
        if left[node] < 0:
            mean[node] = split[node]
        else:
            lc, rc = left[node], left[node] + 1
            mean[node] = (mean[lc] * cover[lc] + mean[rc] * cover[rc]) / cover[node]
    return mean, int(depth.max())

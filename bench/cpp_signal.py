"""Model-free common-point-of-purchase signal on a transactions file, for the test period of the
default time split (`fraudlake.ml.diagnostics`): is the compromised-merchant mechanism visible at all?

    uv run python bench/cpp_signal.py transactions.parquet
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from fraudlake.ml import data
from fraudlake.ml.diagnostics import cpp_signal
from fraudlake.ml.graph import graph_columns
from fraudlake.ml.train import TrainConfig, split_bounds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", type=Path)
    parser.add_argument("--period", default="test", choices=("fit", "valid", "test"))
    args = parser.parse_args()
    config = TrainConfig()
    cols = data.columns(data.read_file(args.path))
    graph, _ = graph_columns(cols)
    lo, hi = split_bounds(cols["event_ms"], config.split)[args.period]
    rows = np.arange(lo, hi)
    result = {
        mode: cpp_signal(graph, rows, config.features, config.graph, oracle=mode == "oracle")
        for mode in ("known_labels", "oracle")
    }
    print(json.dumps({"file": str(args.path), "period": args.period, **result}, indent=2))


if __name__ == "__main__":
    main()

"""The drift report table (`clickhouse/160_model_drift.sql`): rows in, the latest run out, and the
verdict on it. Light on purpose (no pandas, no model code): the operator and the API import it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clickhouse_connect.driver.client import Client

TABLE = "model_drift"
COLUMNS: tuple[str, ...] = (
    "pipeline",
    "run_id",
    "computed_at",
    "model_version",
    "feature",
    "psi",
    "level",
    "reference_rows",
    "recent_rows",
    "reference_start",
    "reference_end",
    "recent_start",
    "recent_end",
    "alert_rate",
    "flagged_precision",
    "flagged_labelled",
)
SCORE = "score"  # the report's row for the model's output beside its inputs


@dataclass(frozen=True)
class Verdict:
    """Whether the latest report finds the model's inputs and score stable, and which drift."""

    healthy: bool
    drifting: tuple[str, ...]
    computed_at: datetime
    model_version: str

    @property
    def message(self) -> str:
        when = self.computed_at.strftime("%Y-%m-%dT%H:%M:%SZ")
        if self.healthy:
            return f"no drift against model {self.model_version}'s training window (report {when})"
        return (
            f"drifting against model {self.model_version}'s training window: "
            f"{', '.join(self.drifting)} (report {when})"
        )


def write(client: Client, database: str, rows: Sequence[Sequence[Any]]) -> None:
    client.insert(f"{_identifier(database)}.{TABLE}", [list(r) for r in rows], column_names=list(COLUMNS))


def latest(client: Client, database: str, pipeline: str | None) -> list[dict[str, Any]]:
    """The rows of the pipeline's most recent report (empty when there is none yet); `pipeline` None:
    the most recent report in the database, whichever pipeline's (a database serves one pipeline)."""
    table = f"{_identifier(database)}.{TABLE}"
    where = "pipeline = {pipeline:String}" if pipeline is not None else "1"
    result = client.query(
        f"SELECT {', '.join(COLUMNS)} FROM {table} WHERE {where} AND computed_at = "
        f"(SELECT max(computed_at) FROM {table} WHERE {where}) "
        # A rerun of the same interval appends its rows again, stamped alike: one row per column.
        "ORDER BY feature, run_id DESC LIMIT 1 BY feature",
        parameters={"pipeline": pipeline} if pipeline is not None else {},
    )
    return [dict(zip(COLUMNS, row, strict=True)) for row in result.result_rows]


def verdict(rows: Sequence[Mapping[str, Any]]) -> Verdict | None:
    """Healthy unless a column is drifting; None without a report. Columns with too few rows to judge
    do not count either way (a quiet night is not drift)."""
    if not rows:
        return None
    drifting = sorted((r for r in rows if r["level"] == "drifting"), key=lambda r: -(r["psi"] or 0.0))
    first = rows[0]
    return Verdict(
        healthy=not drifting,
        drifting=tuple(r["feature"] for r in drifting),
        computed_at=first["computed_at"],
        model_version=str(first["model_version"]),
    )


def _identifier(name: str) -> str:
    if not name.replace("_", "").isalnum() or not name[:1].isalpha():
        raise ValueError(f"invalid database name {name!r}")
    return name

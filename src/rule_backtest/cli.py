"""`fraudlake rules backtest`: the API's rule backtest from the command line, straight on ClickHouse.

Rule sets come from a YAML or JSON file: a list of rules in the shape of `spec.rules`, or a whole
FraudPipeline (its `spec.rules` are read).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from fraudlake.pipeline.spec import Rule

console = Console(stderr=True)
rules_app = typer.Typer(help="Window rules: backtest a rule set on history.", no_args_is_help=True)


def read_rules(path: Path) -> list[Rule]:
    """The rules in `path`: a YAML/JSON list of rules, or a FraudPipeline whose spec.rules are taken."""
    import yaml

    document: Any = yaml.safe_load(path.read_text())
    if isinstance(document, dict):
        document = (document.get("spec") or {}).get("rules")
    if not isinstance(document, list):
        raise typer.BadParameter(f"{path}: neither a list of rules nor a FraudPipeline with spec.rules")
    return [Rule.model_validate(rule) for rule in document]


def _time(value: str) -> datetime:
    at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _table(title: str, rows: list[tuple[str, Any]]) -> Table:
    table = Table(title=title)
    for column in ("rule", "alerts", "frauds caught", "false alarms", "frauds missed", "precision"):
        table.add_column(column)
    for name, o in rows:
        precision = "—" if o.precision is None else f"{o.precision:.3f}"
        counts = (o.alerts, o.frauds_caught, o.false_alarms, o.frauds_missed)
        table.add_row(name, *(f"{n:,}" for n in counts), precision)
    return table


@rules_app.command("backtest")
def backtest(
    rules: Annotated[Path, typer.Option(help="The candidate rules (YAML/JSON list, or a FraudPipeline).")],
    start: Annotated[str, typer.Option(help="First event time (ISO 8601; UTC unless given).")],
    end: Annotated[str, typer.Option(help="End of the range (exclusive).")],
    dsn: Annotated[
        str,
        typer.Option(envvar="FRAUDLAKE_CLICKHOUSE_DSN", help="ClickHouse DSN: chdb:///path or http(s)://…"),
    ],
    database: Annotated[str, typer.Option(help="The pipeline's ClickHouse database.")] = "fraudlake",
    current: Annotated[
        Path | None, typer.Option(help="The rules in force, to compare with (same formats).")
    ] = None,
) -> None:
    """What the candidate rules would have done over [start, end): tables on stderr, JSON on stdout."""
    from fraudlake.clickhouse.client import connect
    from fraudlake.rule_backtest import runner

    candidate = read_rules(rules)
    in_force = read_rules(current) if current is not None else None
    client = connect(dsn)
    try:
        result = runner.backtest(client, database, candidate, _time(start), _time(end), in_force)
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    finally:
        client.close()
    console.print(
        f"{result.transactions:,} transactions, {result.frauds:,} frauds ({result.analyst_labels:,} "
        f"labelled by analysts, {result.chargeback_labels:,} by chargebacks)"
    )
    for title, outcome in (("candidate", result.candidate), ("in force", result.current)):
        if outcome is not None:
            rows = [(r.rule.name, r.outcome) for r in outcome.rules] + [("(set)", outcome.total)]
            console.print(_table(title, rows))
    if result.change is not None:
        c = result.change
        console.print(
            f"change: {c.alerts:+,} alerts, {c.frauds_caught:+,} frauds caught, "
            f"{c.false_alarms:+,} false alarms"
        )
    typer.echo(json.dumps(asdict(result), default=_json_default))


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Rule):
        return value.model_dump(by_alias=True)
    raise TypeError(type(value).__name__)

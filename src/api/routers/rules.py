"""POST /v1/rules/backtest: what a candidate rule set would have done over the pipeline's history.

The rules have the shape of `FraudPipeline.spec.rules` (camelCase, as in the resource) and are
evaluated in ClickHouse with the online windows (`fraudlake.rule_backtest`): per rule and for the set,
alerts, frauds caught, false alarms, frauds missed, precision; with the rules in force, the change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Annotated, ClassVar, TypeVar

from fastapi import APIRouter, Depends, Request
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, model_validator

from fraudlake.api.errors import ApiError, error_responses
from fraudlake.pipeline.spec import Rule

if TYPE_CHECKING:
    from clickhouse_connect.driver.client import Client

    from fraudlake.rule_backtest.runner import Backtest, Outcome, SetOutcome

router = APIRouter(prefix="/v1/rules", tags=["rules"])
T = TypeVar("T")
MAX_RULES = 20
MAX_RANGE = timedelta(days=366)


class BacktestUnavailableError(ApiError):
    status_code, code = 503, "backtest_unavailable"
    description = "No ClickHouse DSN configured, or ClickHouse did not answer: no history to backtest on."
    headers: ClassVar[dict[str, str] | None] = {"Retry-After": "30"}


class RuleBacktestRequest(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{
            "start": "2026-11-01T00:00:00Z", "end": "2026-12-01T00:00:00Z",
            "rules": [{"name": "spend_burst_10m", "type": "SpendBurst", "windowMinutes": 10, "minCount": 3}],
            "current_rules": [{"name": "spend_burst_10m", "type": "SpendBurst", "windowMinutes": 10,
                               "minCount": 2}],
        }]},
    )  # fmt: skip

    start: AwareDatetime = Field(description="First event time of the range (inclusive).")
    end: AwareDatetime = Field(description="End of the range (exclusive); at most 366 days after start.")
    rules: list[Rule] = Field(
        min_length=1, max_length=MAX_RULES, description="The candidate set, as in spec.rules."
    )
    current_rules: list[Rule] | None = Field(
        default=None,
        max_length=MAX_RULES,
        description="The rules in force (the pipeline's spec.rules), to compare with; unset: no comparison.",
    )

    @model_validator(mode="after")
    def _check(self) -> RuleBacktestRequest:
        if self.end <= self.start:
            raise ValueError("end must be after start")
        if self.end - self.start > MAX_RANGE:
            raise ValueError(f"the range may span at most {MAX_RANGE.days} days")
        for rules in (self.rules, self.current_rules or []):
            names = [rule.name for rule in rules]
            if len(set(names)) != len(names):
                raise ValueError("rule names must be unique within a set")
        return self


class RuleOutcomeOut(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: int = Field(description="Transactions it fires on (a set: any of its rules).")
    frauds_caught: int
    false_alarms: int = Field(description="Alerts on transactions that are not fraud.")
    frauds_missed: int = Field(description="Frauds of the range it does not fire on.")
    precision: float | None = Field(description="frauds_caught / alerts; null without alerts.")
    recall: float | None = Field(description="frauds_caught / frauds; null without frauds.")


class RuleResult(RuleOutcomeOut):
    rule: Rule


class RuleSetResult(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[RuleResult] = Field(description="The enabled rules (disabled rules never fire).")
    total: RuleOutcomeOut = Field(description="The set: a transaction alerts once, whichever rules fire.")


class RuleSetChange(BaseModel):
    model_config = ConfigDict(extra="forbid")

    alerts: int = Field(description="Candidate alerts minus the current rules' alerts.")
    frauds_caught: int
    false_alarms: int
    added_alerts: int = Field(description="Transactions only the candidate set alerts on.")
    added_frauds_caught: int = Field(description="Frauds among them.")
    dropped_alerts: int = Field(description="Transactions only the current rules alert on.")
    dropped_frauds_caught: int = Field(
        description="Frauds among them: caught today, missed by the candidate."
    )


class RuleBacktestResponse(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: datetime
    end: datetime
    transactions: int = Field(description="Transactions of the range.")
    frauds: int = Field(description="Frauds of the range: the label when there is one, else is_fraud.")
    analyst_labels: int = Field(description="Transactions whose truth is an analyst's disposition.")
    chargeback_labels: int = Field(description="Transactions whose truth is a chargeback (no disposition).")
    candidate: RuleSetResult
    current: RuleSetResult | None = None
    change: RuleSetChange | None = None


class BacktestAccess:
    """Runs a function of a clickhouse-connect client on the configured database, in a worker thread
    (clickhouse-connect blocks); ClickHouse failures become 503 `backtest_unavailable`."""

    def __init__(self, dsn: str, database: str):
        self.dsn, self.database = dsn, database

    async def run(self, work: Callable[[Client, str], T]) -> T:
        return await asyncio.to_thread(self._run, work)

    def _run(self, work: Callable[[Client, str], T]) -> T:
        from clickhouse_connect.driver.exceptions import ClickHouseError

        from fraudlake.clickhouse.client import InvalidDsnError, connect

        try:
            client = connect(self.dsn)
        except (ClickHouseError, InvalidDsnError, OSError) as exc:
            raise BacktestUnavailableError(f"cannot reach ClickHouse: {_first_line(exc)}") from None
        try:
            return work(client, self.database)
        except (ClickHouseError, OSError) as exc:
            raise BacktestUnavailableError(f"ClickHouse failed the backtest: {_first_line(exc)}") from None
        finally:
            client.close()


async def backtest_access(request: Request) -> BacktestAccess:
    """The pipeline database's history; 503 without a ClickHouse DSN. A dependency: tests replace it."""
    settings = request.app.state.services.settings
    if settings.clickhouse_dsn is None:
        raise BacktestUnavailableError("FRAUDLAKE_CLICKHOUSE_DSN is unset: no history to backtest on")
    return BacktestAccess(settings.clickhouse_dsn.get_secret_value(), settings.clickhouse_database)


History = Annotated[BacktestAccess, Depends(backtest_access)]


@router.post(
    "/backtest",
    response_model=RuleBacktestResponse,
    responses=error_responses(422, BacktestUnavailableError),
    summary="Backtest a rule set on the history: alerts, frauds caught, false alarms, vs the rules in force.",
)
async def backtest_rules(body: RuleBacktestRequest, history: History) -> RuleBacktestResponse:
    from fraudlake.rule_backtest.runner import backtest

    start, end = body.start.astimezone(UTC), body.end.astimezone(UTC)
    result = await history.run(
        lambda client, database: backtest(client, database, body.rules, start, end, body.current_rules)
    )
    return response(result)


def response(result: Backtest) -> RuleBacktestResponse:
    """The API's shape of a backtest."""
    change = result.change
    return RuleBacktestResponse(
        start=result.start,
        end=result.end,
        transactions=result.transactions,
        frauds=result.frauds,
        analyst_labels=result.analyst_labels,
        chargeback_labels=result.chargeback_labels,
        candidate=_set(result.candidate),
        current=_set(result.current) if result.current is not None else None,
        change=RuleSetChange(**vars(change)) if change is not None else None,
    )


def _set(outcome: SetOutcome) -> RuleSetResult:
    return RuleSetResult(
        rules=[RuleResult(rule=r.rule, **_counts(r.outcome).model_dump()) for r in outcome.rules],
        total=_counts(outcome.total),
    )


def _counts(outcome: Outcome) -> RuleOutcomeOut:
    return RuleOutcomeOut(
        alerts=outcome.alerts,
        frauds_caught=outcome.frauds_caught,
        false_alarms=outcome.false_alarms,
        frauds_missed=outcome.frauds_missed,
        precision=outcome.precision,
        recall=outcome.recall,
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__

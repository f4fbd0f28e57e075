"""The offline answerer: deterministic routing of a question to the tools and an extractive answer.

Used when no LLM is configured (no AWS credentials) or Bedrock is unavailable. It recognises the
questions analysts ask most — top merchants or cards by fraud in a period, fraud totals, a named
card / merchant / alert, scoring a transaction, fraud rings, the schema, or a raw SELECT — answers
them with guarded SQL and indexed documents, and says plainly that no language model wrote it.
Every figure in an answer comes from a cited query or document.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from fraudlake.agent.search import CARD_ID, HEX_ID, MERCHANT_ID
from fraudlake.agent.sql_guard import SqlRejectedError
from fraudlake.agent.tools import AnalystTools, ToolUnavailableError, excerpt
from fraudlake.agent.wording import count, merchant_place, money, percent

log = logging.getLogger(__name__)

OFFLINE_LABEL = (
    "[offline answer: no language model is configured; figures are taken directly from the cited data]"
)
TOP_N = 5

# Period filters are relative to the latest loaded event (the data's clock), not to now().
TOP_MERCHANTS_SQL = """
SELECT merchant_id, any(merchant_city) AS merchant_city, any(merchant_state) AS merchant_state,
       any(mcc) AS mcc, countIf(is_fraud) AS fraud_txns, uniqExactIf(card_id, is_fraud) AS fraud_cards,
       round(sumIf(amount, is_fraud), 2) AS fraud_amount, count() AS txns
FROM transactions FINAL {period}
GROUP BY merchant_id HAVING fraud_txns > 0
ORDER BY fraud_txns DESC, fraud_cards DESC, fraud_amount DESC, merchant_id LIMIT {top}
"""
TOP_CARDS_SQL = """
SELECT card_id, any(user_id) AS user_id, countIf(is_fraud) AS fraud_txns,
       uniqExactIf(merchant_id, is_fraud) AS fraud_merchants,
       round(sumIf(amount, is_fraud), 2) AS fraud_amount
FROM transactions FINAL {period}
GROUP BY card_id HAVING fraud_txns > 0
ORDER BY fraud_txns DESC, fraud_amount DESC, card_id LIMIT {top}
"""
SUMMARY_SQL = """
SELECT count() AS txns, countIf(is_fraud) AS fraud_txns, round(sumIf(amount, is_fraud), 2) AS fraud_amount,
       uniqExactIf(card_id, is_fraud) AS fraud_cards, uniqExactIf(merchant_id, is_fraud) AS fraud_merchants
FROM transactions FINAL {period}
"""
ALERT_STATUS_SQL = (
    "SELECT status, count() AS alerts FROM alerts FINAL {period} GROUP BY status ORDER BY alerts DESC"
)
SHARED_MERCHANTS_SQL = """
SELECT merchant_id, uniqExactIf(card_id, is_fraud) AS fraud_cards, countIf(is_fraud) AS fraud_txns
FROM transactions FINAL {period}
GROUP BY merchant_id HAVING fraud_cards >= 2
ORDER BY fraud_cards DESC, fraud_txns DESC, merchant_id LIMIT {top}
"""
ENTITY_SQL = """
SELECT {column}, count() AS txns, countIf(is_fraud) AS fraud_txns,
       round(sumIf(amount, is_fraud), 2) AS fraud_amount,
       min(event_ts) AS first_seen, max(event_ts) AS last_seen
FROM transactions FINAL WHERE {column} IN ({ids}) GROUP BY {column} ORDER BY {column}
"""
ALERT_SQL = """
SELECT alert_id, txn_id, card_id, merchant_id, event_ts, source, score, severity, status
FROM alerts FINAL WHERE alert_id IN ({ids}) OR txn_id IN ({ids}) ORDER BY event_ts
"""

_WINDOWS: tuple[tuple[re.Pattern[str], int | None], ...] = (
    (re.compile(r"\b(today|last 24 hours|past day)\b"), 1),
    (re.compile(r"\b(this|past|last) week\b|\blast 7 days\b|\bweekly\b"), 7),
    (re.compile(r"\b(this|past|last) month\b|\blast 30 days\b"), 30),
    (re.compile(r"\b(all time|ever|overall|in total|so far)\b"), None),
)
_LAST_N = re.compile(r"\b(?:last|past) (\d{1,3}) (day|week|month)s?\b")
_UNIT_DAYS = {"day": 1, "week": 7, "month": 30}
# Questions that are SQL statements go to the guard, which runs a SELECT and explains any refusal.
_STATEMENT = re.compile(
    r"^\s*\(?\s*(?:select\s|with\s+\w+\s+as\s*\(|insert\s+into\s|delete\s+from\s|update\s+[\w.]+\s+set\s"
    r"|(?:create|drop|attach|detach)\s+(?:or\s+replace\s+)?(?:temporary\s+)?(?:table|database|view|dictionary"
    r"|user|role|function|materialized)\b|(?:alter|truncate|optimize|rename|exchange|check)\s+tables?\s"
    r"|kill\s+(?:query|mutation)\b|system\s+[a-z]+|(?:grant|revoke)\s|backup\s|restore\s|set\s+\w+\s*="
    r"|use\s+\w+\s*;?\s*$|show\s+(?:tables|databases|create|processlist|grants|settings|columns)\b"
    r"|explain\s+(?:select|with|syntax|plan|pipeline|ast|estimate)\b"
    r"|(?:describe|desc|explain)\s+(?:table\s+)?[\w.]+\s*;?\s*$)",
    re.IGNORECASE,
)
_RANKING = re.compile(r"\b(most|top|highest|worst|riskiest|which|biggest|largest|rank)\b")
_FRAUD = re.compile(r"\b(fraud\w*|risk\w*|suspicious|compromis\w*|flagged|alerts?)\b")


@dataclass(frozen=True)
class Intent:
    """What a question asks for: the route, the period in days (None: all data) and named ids."""

    route: str
    days: int | None = None
    ids: tuple[str, ...] = ()


def route(question: str) -> Intent:
    """Classify `question` (pure keyword and pattern rules, first match wins)."""
    text = question.strip()
    lowered = text.lower()
    days = period_days(lowered)
    if _STATEMENT.match(lowered):
        return Intent("sql")
    txn_ids = tuple(HEX_ID.findall(text))
    if re.search(r"\bscore\b", lowered) and txn_ids:
        return Intent("score", ids=txn_ids)
    if txn_ids and re.search(r"\b(alert|case)\b", lowered):
        return Intent("alert", ids=txn_ids)
    cards, merchants = tuple(CARD_ID.findall(text)), tuple(MERCHANT_ID.findall(text))
    if cards:
        return Intent("card", days, cards)
    if merchants:
        return Intent("merchant", days, merchants)
    if re.search(r"\bring\b|\brings\b|\bcollu", lowered):
        return Intent("rings", days)
    ranking = _RANKING.search(lowered) and _FRAUD.search(lowered)
    if ranking and re.search(r"\b(merchants?|stores?|shops?|sellers?)\b", lowered):
        return Intent("top_merchants", days)
    if ranking and re.search(r"\bcards?\b", lowered):
        return Intent("top_cards", days)
    if re.search(r"\b(how many|how much|fraud rate|number of|count|total|summary|overview)\b", lowered):
        return Intent("summary", days)
    if re.search(r"\b(tables?|columns?|schema|fields?|where is .* stored)\b", lowered):
        return Intent("schema")
    return Intent("search", days)


def period_days(lowered: str) -> int | None:
    match = _LAST_N.search(lowered)
    if match:
        return int(match.group(1)) * _UNIT_DAYS[match.group(2)]
    for pattern, days in _WINDOWS:
        if pattern.search(lowered):
            return days
    return None


class OfflineAnswerer:
    """Answers with the tools it is given; the tools record the citations."""

    def __init__(self, tools: AnalystTools) -> None:
        self.tools = tools

    def answer(self, question: str) -> str:
        intent = route(question)
        handler: Callable[[Intent, str], str] = getattr(self, f"_{intent.route}")
        try:
            body = handler(intent, question)
        except SqlRejectedError as exc:
            body = f"That query was refused: {exc}."
        except (ToolUnavailableError, LookupError, ValueError) as exc:
            body = f"I cannot answer that here: {exc}."
        except Exception as exc:  # the database or the index failed: say so instead of failing the chat
            log.exception("offline answer failed")
            body = f"The data sources failed while answering ({type(exc).__name__}: {str(exc)[:300]})."
        return f"{OFFLINE_LABEL}\n\n{body}"

    # --- routes ----------------------------------------------------------------------------

    def _top_merchants(self, intent: Intent, question: str) -> str:
        rows = self._rows(TOP_MERCHANTS_SQL, intent.days)
        period = self._period_words(intent.days)
        if not rows:
            return f"No fraudulent transactions {period}."
        cited = {hit.id for hit in self.tools.documents([f"merchant:{row['merchant_id']}" for row in rows])}
        ranked = []
        for rank, row in enumerate(rows, 1):
            place = merchant_place(row["merchant_city"], row["merchant_state"], row["mcc"])
            doc = f" [merchant:{row['merchant_id']}]" if f"merchant:{row['merchant_id']}" in cited else ""
            ranked.append(
                f"{rank}. Merchant {row['merchant_id']}{place}: "
                f"{count(row['fraud_txns'], 'fraudulent transaction')} on "
                f"{count(row['fraud_cards'], 'card')}, {money(row['fraud_amount'])} "
                f"({percent(row['fraud_txns'], row['txns'])} of its {row['txns']} transactions){doc}"
            )
        return markdown_blocks(
            [f"Merchants linked to the most fraud {period}:"],
            ranked,
            ["Ranked by fraudulent transactions, then distinct cards, then fraud amount [SQL]."],
        )

    def _top_cards(self, intent: Intent, question: str) -> str:
        rows = self._rows(TOP_CARDS_SQL, intent.days)
        period = self._period_words(intent.days)
        if not rows:
            return f"No fraudulent transactions {period}."
        cited = {hit.id for hit in self.tools.documents([f"card:{row['card_id']}" for row in rows])}
        ranked = []
        for rank, row in enumerate(rows, 1):
            doc = f" [card:{row['card_id']}]" if f"card:{row['card_id']}" in cited else ""
            ranked.append(
                f"{rank}. Card {row['card_id']} (user {row['user_id']}): "
                f"{count(row['fraud_txns'], 'fraudulent transaction')} "
                f"at {count(row['fraud_merchants'], 'merchant')}, {money(row['fraud_amount'])}{doc}"
            )
        return markdown_blocks([f"Cards with the most fraud {period}:"], ranked)

    def _summary(self, intent: Intent, question: str) -> str:
        row = self._rows(SUMMARY_SQL, intent.days)[0]
        alerts = self._rows(ALERT_STATUS_SQL, intent.days, table="alerts")
        alert_words = ", ".join(f"{a['alerts']} {a['status']}" for a in alerts) or "none"
        return (
            f"{_sentence_case(self._period_words(intent.days))}: {count(row['txns'], 'transaction')}, "
            f"{row['fraud_txns']} fraudulent ({percent(row['fraud_txns'], row['txns'])}) "
            f"totalling {money(row['fraud_amount'])} on "
            f"{row['fraud_cards']} cards at {row['fraud_merchants']} merchants. Alerts: {alert_words} [SQL]."
        )

    def _card(self, intent: Intent, question: str) -> str:
        return self._entity(intent, question, "card", "card_id")

    def _merchant(self, intent: Intent, question: str) -> str:
        return self._entity(intent, question, "merchant", "merchant_id")

    def _entity(self, intent: Intent, question: str, kind: str, column: str) -> str:
        ids = ", ".join(f"'{value}'" for value in intent.ids[:TOP_N])
        rows = self.tools.query(ENTITY_SQL.format(column=column, ids=ids)).as_dicts()
        lines = [
            f"{kind.capitalize()} {row[column]}: {count(row['txns'], 'transaction')} "
            f"from {_minute(row['first_seen'])} to {_minute(row['last_seen'])}, "
            f"{row['fraud_txns']} fraudulent ({money(row['fraud_amount'])}) [SQL]."
            for row in rows
        ] or [f"No transactions for {kind} {', '.join(intent.ids)} in the pipeline database [SQL]."]
        return markdown_blocks(lines, self._documents_lines(question, kinds=("any",)))

    def _alert(self, intent: Intent, question: str) -> str:
        ids = ", ".join(f"'{value}'" for value in intent.ids[:TOP_N])
        rows = self.tools.query(ALERT_SQL.format(ids=ids)).as_dicts()
        lines = [
            f"Alert {row['alert_id']}: card {row['card_id']} at merchant {row['merchant_id']} on "
            f"{_minute(row['event_ts'])}, {row['source']} score {float(row['score']):.2f}, "
            f"severity {row['severity']}, "
            f"status {row['status']} [SQL]."
            for row in rows
        ] or ["No alert with that id [SQL]."]
        return markdown_blocks(lines, self._documents_lines(question, kinds=("alert",)))

    def _score(self, intent: Intent, question: str) -> str:
        scored = self.tools.score_transaction(intent.ids[0])
        reasons = "; ".join(_reason_words(r) for r in scored.get("reasons", [])[:3]) or "none given"
        return (
            f"Transaction {intent.ids[0]} scores {float(scored['score']):.3f} "
            f"({scored.get('decision', '?')}) with "
            f"model {scored.get('model_version', '?')}. Top reasons: {reasons}."
        )

    def _rings(self, intent: Intent, question: str) -> str:
        rows = self._rows(SHARED_MERCHANTS_SQL, intent.days)
        lines = [f"Merchants where several defrauded cards converge {self._period_words(intent.days)} [SQL]:"]
        lines += [
            f"- Merchant {r['merchant_id']}: {r['fraud_cards']} cards, {r['fraud_txns']} frauds" for r in rows
        ]
        return markdown_blocks(lines, self._documents_lines(question, kinds=("alert",)))

    def _schema(self, intent: Intent, question: str) -> str:
        hits = self.tools.search_cases(question, kind="table", k=3)
        if not hits:
            return "No table documentation is indexed yet."
        return "Relevant tables:\n" + "\n".join(f"- [{hit.id}] {excerpt(hit.text, 400)}" for hit in hits)

    def _sql(self, intent: Intent, question: str) -> str:
        result = self.tools.query(question)
        header = " | ".join(result.columns)
        body = "\n".join(" | ".join(str(v) for v in row) for row in result.rows[: TOP_N * 4])
        more = f"\n(first {TOP_N * 4} of {len(result.rows)} rows)" if len(result.rows) > TOP_N * 4 else ""
        return f"Query result [SQL]:\n{header}\n{body}{more}"

    def _search(self, intent: Intent, question: str) -> str:
        lines = self._documents_lines(question, kinds=("any",))
        return "\n".join(lines) if lines else "I found nothing relevant in the indexed cases."

    # --- helpers ---------------------------------------------------------------------------

    def _documents_lines(self, question: str, kinds: tuple[str, ...]) -> list[str]:
        try:
            hits = self.tools.search_cases(question, kind=kinds[0], k=3)
        except ToolUnavailableError:
            return []
        if not hits:
            return []
        return ["Most relevant indexed documents:"] + [f"- [{hit.id}] {excerpt(hit.text)}" for hit in hits]

    def _rows(self, template: str, days: int | None, table: str = "transactions") -> list[dict[str, Any]]:
        """Rows of `template` with its {period} filter for the last `days` of `table` (None: all)."""
        period = (
            ""
            if days is None
            else f"WHERE event_ts > (SELECT max(event_ts) FROM {table}) - INTERVAL {int(days)} DAY"
        )
        return self.tools.query(template.format(period=period, top=TOP_N)).as_dicts()

    def _period_words(self, days: int | None) -> str:
        latest = self.tools.query(
            "SELECT max(event_ts) AS latest, min(event_ts) AS earliest FROM transactions"
        )
        row = latest.as_dicts()[0] if latest.rows else {}
        end = _minute(row.get("latest"))
        if days is None:
            return f"in all loaded data ({_minute(row.get('earliest'))} to {end})"
        return f"in the {count(days, 'day')} up to {end} (the latest transaction loaded)"


def markdown_blocks(*blocks: list[str]) -> str:
    """Lines grouped into Markdown blocks: a blank line between blocks, so text after a list is its own
    paragraph (a line right after a list item would continue that item when the UI renders Markdown)."""
    return "\n\n".join("\n".join(block) for block in blocks if block)


def _sentence_case(text: str) -> str:
    return text[:1].upper() + text[1:]


def _minute(value: Any) -> str:
    text = str(value or "?").replace("T", " ")
    return text[:16] + " UTC" if len(text) >= 16 else text


def _reason_words(reason: Any) -> str:
    if isinstance(reason, dict):
        name = reason.get("description") or reason.get("feature") or "?"
        contribution = reason.get("contribution")
        return f"{name} ({float(contribution):+.2f})" if contribution is not None else str(name)
    return str(reason)

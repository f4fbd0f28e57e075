"""The agent's three tools — case search, guarded SQL, transaction scoring — and the citations they leave.

One :class:`AnalystTools` is bound to one chat turn: every document retrieved, query run and score
computed is recorded in its :class:`Citations`, which the answer returns as its sources. The LLM
sees the same tools as LlamaIndex ``FunctionTool``s whose errors come back as text (a refused query
is something the model can fix, not a crash); the offline answerer calls the methods directly.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from fraudlake.agent.search import CaseSearch, Hit
from fraudlake.agent.sql_guard import ReadOnlySqlRunner, SqlRejectedError, SqlResult

# Scores one transaction in the platform's schema; returns at least score, decision, model_version
# and reasons. The API passes its in-process scorer; nothing here imports the model.
TransactionScorer = Callable[[Mapping[str, Any]], Mapping[str, Any]]

TXN_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
SCORED_FIELDS = (
    "txn_id", "event_ts", "user_id", "card_id", "merchant_id", "amount", "use_chip", "mcc",
    "merchant_state", "merchant_name", "merchant_city", "zip", "errors",
)  # fmt: skip
_CITED_ROWS = 20  # rows of a query kept in its citation (the whole result goes to the answerer)
_EXCERPT = 280
KIND_CHOICES = ("any", "alert", "merchant", "card", "table")


class ToolUnavailableError(RuntimeError):
    """The tool's backend is not configured in this deployment (e.g. no ChromaDB, no model)."""


@dataclass(frozen=True)
class DocumentCitation:
    id: str
    kind: str
    excerpt: str


@dataclass(frozen=True)
class SqlCitation:
    sql: str
    columns: list[str]
    rows: list[list[Any]]
    row_count: int
    truncated: bool


@dataclass(frozen=True)
class ScoreCitation:
    txn_id: str
    score: float
    decision: str
    model_version: str


@dataclass
class Citations:
    """Sources of one answer, in the order they were used, without repeats."""

    documents: list[DocumentCitation] = field(default_factory=list)
    sql: list[SqlCitation] = field(default_factory=list)
    scores: list[ScoreCitation] = field(default_factory=list)

    def add_documents(self, hits: Sequence[Hit]) -> None:
        known = {doc.id for doc in self.documents}
        for hit in hits:
            if hit.id not in known:
                self.documents.append(DocumentCitation(hit.id, hit.kind, excerpt(hit.text)))
                known.add(hit.id)

    def add_sql(self, result: SqlResult) -> None:
        self.sql.append(
            SqlCitation(
                result.sql, result.columns, result.rows[:_CITED_ROWS], len(result.rows), result.truncated
            )
        )

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class AnalystTools:
    """The tools for one chat turn (see the module docstring)."""

    def __init__(
        self,
        sql: ReadOnlySqlRunner,
        search: CaseSearch | None = None,
        scorer: TransactionScorer | None = None,
        citations: Citations | None = None,
    ) -> None:
        self.sql = sql
        self.search = search
        self.scorer = scorer
        self.citations = citations if citations is not None else Citations()

    @property
    def database(self) -> str:
        return self.sql.database

    def search_cases(self, query: str, kind: str = "any", k: int = 5) -> list[Hit]:
        """Documents for `query` (kind: any, alert, merchant, card or table), cited."""
        if self.search is None:
            raise ToolUnavailableError("case search is not configured (no ChromaDB URL)")
        if kind not in KIND_CHOICES:
            raise ValueError(f"kind must be one of {', '.join(KIND_CHOICES)}")
        hits = self.search.search(query, k=max(1, min(k, 10)), kinds=None if kind == "any" else [kind])
        self.citations.add_documents(hits)
        return hits

    def documents(self, doc_ids: Sequence[str]) -> list[Hit]:
        """The indexed documents with these ids (those that exist), cited; [] without ChromaDB."""
        if self.search is None:
            return []
        hits = self.search.get(doc_ids)
        self.citations.add_documents(hits)
        return hits

    def query(self, sql: str) -> SqlResult:
        """Run one guarded read-only SELECT, cited. Raises SqlRejectedError or the database's error."""
        result = self.sql.run(sql)
        self.citations.add_sql(result)
        return result

    def score_transaction(self, txn_id: str) -> dict[str, Any]:
        """Score a stored transaction with the serving model: its row is read with guarded SQL."""
        if self.scorer is None:
            raise ToolUnavailableError("no model is loaded in this service, so transactions cannot be scored")
        if not TXN_ID.match(txn_id):
            raise ValueError("txn_id must be 1-64 characters of letters, digits and ._:-")
        found = self.query(
            f"SELECT {', '.join(SCORED_FIELDS)} FROM transactions FINAL WHERE txn_id = '{txn_id}' LIMIT 1"
        )
        if not found.rows:
            raise LookupError(f"no transaction {txn_id} in {self.database}.transactions")
        scored = dict(self.scorer(found.as_dicts()[0]))
        self.citations.scores.append(
            ScoreCitation(
                txn_id,
                float(scored["score"]),
                str(scored.get("decision", "")),
                str(scored.get("model_version", "")),
            )
        )
        return scored

    def llama_tools(self) -> list[Any]:
        """The tools as LlamaIndex FunctionTools for an LLM (errors returned as text)."""
        from llama_index.core.tools import FunctionTool

        def search_cases(query: str, kind: str = "any") -> str:
            """Semantic search over indexed fraud cases (alerts), merchant and card risk profiles and
            table documentation. kind: any, alert, merchant, card or table. Cite results by their id."""
            return _tool_text(lambda: hits_text(self.search_cases(query, kind)))

        def run_sql(sql: str) -> str:
            """Run ONE read-only ClickHouse SELECT over the pipeline's tables (transactions, alerts,
            predictions, cards, users, rule views). Use FINAL on ReplacingMergeTree tables; a LIMIT is
            added. Returns the rows as JSON."""
            return _tool_text(lambda: sql_text(self.query(sql)))

        def score_transaction(txn_id: str) -> str:
            """Score a stored transaction by its txn_id with the serving fraud model: score, decision,
            reasons."""
            return _tool_text(lambda: json.dumps(self.score_transaction(txn_id), default=str))

        return [FunctionTool.from_defaults(fn=fn) for fn in (search_cases, run_sql, score_transaction)]


def hits_text(hits: Sequence[Hit]) -> str:
    if not hits:
        return "No matching documents."
    return "\n".join(f"[{hit.id}] {hit.text}" for hit in hits)


def sql_text(result: SqlResult) -> str:
    more = " (truncated at the row limit)" if result.truncated else ""
    return json.dumps({"sql": result.sql, "rows": result.as_dicts()}, default=str) + more


def excerpt(text: str, limit: int = _EXCERPT) -> str:
    return text if len(text) <= limit else text[: limit - 1].rsplit(" ", 1)[0] + "…"


def _tool_text(call: Callable[[], str]) -> str:
    try:
        return call()
    except SqlRejectedError as exc:
        return f"Query refused: {exc}"
    except (ToolUnavailableError, LookupError, ValueError) as exc:
        return f"Tool error: {exc}"
    except Exception as exc:  # the database's own errors (timeouts, unknown columns) go back to the model
        return f"Tool error ({type(exc).__name__}): {str(exc)[:500]}"

"""The agent as a long-lived service object: built from settings, heavy parts created on first use.

The API creates one :class:`AgentService` at start-up at no cost: the ClickHouse read-only client,
the Chroma client, the embedding model (MiniLM loads torch) and the LLM client are all created on
the first chat, SQL or notification request, so scoring never waits for any of them.
"""

from __future__ import annotations

import asyncio
import threading
from functools import cached_property
from typing import Any

from fraudlake.agent.case_summary import CaseBrief, summarise_case
from fraudlake.agent.chat import FraudAnalystAgent, SessionStore
from fraudlake.agent.embeddings import Embedder
from fraudlake.agent.indexing import EmbeddingModelMismatchError, chroma_client, open_collection
from fraudlake.agent.notification import Notification, draft_notification
from fraudlake.agent.search import CaseSearch
from fraudlake.agent.settings import AgentSettings
from fraudlake.agent.sql_guard import ReadOnlySqlRunner, SqlLimits, SqlResult
from fraudlake.agent.tools import AnalystTools, ToolUnavailableError, TransactionScorer
from fraudlake.cases.store import CaseDetail


class AgentUnavailableError(RuntimeError):
    """The deployment lacks what the agent needs at all (no ClickHouse DSN)."""


class AgentService:
    """Chat, guarded SQL, notifications and case summaries over one pipeline database (thread-safe).

    `llm` / `embedder` override the providers chosen from `settings` (tests pass stubbed Bedrock
    objects); `scorer` is the API's in-process scoring function, or None when no model is loaded.
    """

    def __init__(
        self,
        settings: AgentSettings,
        scorer: TransactionScorer | None = None,
        *,
        llm: Any | None = None,
        embedder: Embedder | None = None,
        use_llm: bool | None = None,
    ) -> None:
        self.settings = settings
        self.scorer = scorer
        self._llm = llm
        self._embedder = embedder
        self._use_llm = use_llm
        self._collection: Any = None
        self._lock = threading.Lock()
        self.sessions = SessionStore(settings.agent_session_turns, settings.agent_sessions)

    # --- the entry points ---------------------------------------------------------------------

    async def chat(self, message: str, session_id: str | None = None) -> Any:
        """One chat turn (see FraudAnalystAgent.achat); the first one builds the agent off the event loop."""
        agent = await asyncio.to_thread(lambda: self.agent)
        return await agent.achat(message, session_id)

    def run_sql(self, sql: str) -> SqlResult:
        """The UI's SQL playground: the same guard and read-only session as the agent's tool."""
        return self.sql_runner.run(sql)

    def notification(self, alert_id: str) -> Notification:
        """Draft the customer notification of one alert (raises AlertNotFoundError)."""
        return draft_notification(self.tools(), alert_id, self.llm, self.provider)

    def case_summary(self, detail: CaseDetail) -> CaseBrief:
        """Summarise one case from its detail (`CaseStore.case`) for the analyst; reads nothing more."""
        return summarise_case(detail, self.llm, self.provider)

    # --- lazily built parts -------------------------------------------------------------------

    @property
    def llm_enabled(self) -> bool:
        if self._use_llm is None:
            from fraudlake.agent.llm import use_bedrock_llm

            self._use_llm = self._llm is not None or use_bedrock_llm(self.settings)
        return self._use_llm

    @property
    def provider(self) -> str:
        return f"bedrock:{self.settings.bedrock_model_id}" if self.llm_enabled else "offline"

    @cached_property
    def llm(self) -> Any | None:
        if not self.llm_enabled:
            return None
        if self._llm is None:
            from fraudlake.agent.llm import bedrock_converse_llm

            self._llm = bedrock_converse_llm(self.settings)
        return self._llm

    @cached_property
    def sql_runner(self) -> ReadOnlySqlRunner:
        if self.settings.clickhouse_dsn is None:
            raise AgentUnavailableError("the agent needs ClickHouse: set FRAUDLAKE_CLICKHOUSE_DSN")
        limits = SqlLimits(
            max_rows=self.settings.agent_sql_max_rows,
            max_execution_seconds=self.settings.agent_sql_timeout_seconds,
        )
        return ReadOnlySqlRunner(
            self.settings.clickhouse_dsn.get_secret_value(), self.settings.clickhouse_database, limits
        )

    @cached_property
    def embedder(self) -> Embedder:
        if self._embedder is None:
            from fraudlake.agent.llm import embedder_from_settings

            self._embedder = embedder_from_settings(self.settings)
        return self._embedder

    @cached_property
    def search(self) -> CaseSearch | None:
        if not self.settings.chroma_url:
            return None
        return CaseSearch(self._case_collection, self.embedder)

    @cached_property
    def agent(self) -> FraudAnalystAgent:
        if self.llm is not None:
            import llama_index.core.agent.workflow  # noqa: F401  (import once here, not on the event loop)
        return FraudAnalystAgent(
            self.tools, self.llm, self.sessions, self.settings.agent_max_tool_calls, self.provider
        )

    def tools(self) -> AnalystTools:
        """Fresh tools (and citations) for one request."""
        return AnalystTools(self.sql_runner, self.search, self.scorer)

    def _case_collection(self) -> Any:
        with self._lock:
            if self._collection is None:
                name = self.settings.collection_name()
                try:
                    client = chroma_client(str(self.settings.chroma_url))
                    self._collection = open_collection(client, name, self.embedder, create=False)
                except EmbeddingModelMismatchError as exc:
                    raise ToolUnavailableError(str(exc)) from exc
                except Exception as exc:  # missing collection, server down: the index is not usable yet
                    raise ToolUnavailableError(
                        f"the case index {name!r} is not available ({type(exc).__name__}: {str(exc)[:200]}); "
                        "run the index_to_chroma DAG"
                    ) from exc
            return self._collection

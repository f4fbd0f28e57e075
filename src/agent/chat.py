"""The fraud-analyst agent: one chat turn = question in, answer with its sources out.

With an LLM (Bedrock Converse, Claude) the turn runs LlamaIndex's ``FunctionAgent`` over the three
tools of :mod:`fraudlake.agent.tools`; without one — or when Bedrock fails after its retries — the
:class:`~fraudlake.agent.offline.OfflineAnswerer` answers and the result says ``offline``. Either
way the citations are what the tools actually returned (document ids, the SQL that ran, scores),
never what the model claims.

Sessions keep the last few user/assistant turns in memory per process (least recently used
sessions are dropped); a restarted or second replica starts the conversation afresh.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from fraudlake.agent.offline import OfflineAnswerer
from fraudlake.agent.tools import AnalystTools, Citations

log = logging.getLogger(__name__)

SYSTEM_PROMPT = """You are a senior fraud analyst's assistant for a card-fraud detection platform.
Answer from the tools, never from memory:
- search_cases: semantic search over indexed fraud cases (alerts), merchant and card risk profiles and the
  documentation of the pipeline's tables;
- run_sql: one read-only ClickHouse SELECT over the pipeline database {database} (tables: transactions,
  alerts, predictions, cards, users and the rule views). Use FINAL on transactions, alerts, cards, users
  and predictions. Time periods such as "this week" are relative to the latest transaction loaded:
  event_ts > (SELECT max(event_ts) FROM transactions) - INTERVAL 7 DAY;
- score_transaction: score a stored transaction with the serving model.
Be concise and precise. Cite every document you use by its id in square brackets, e.g. [merchant:123],
and say "[SQL]" after figures that come from a query. If the tools cannot answer, say so."""

# A tool-calling turn may not run forever: at most this many LLM calls per question.
DEFAULT_MAX_STEPS = 6


@dataclass
class AgentAnswer:
    """One chat turn's result, the API response's content."""

    session_id: str
    answer: str
    offline: bool
    provider: str
    citations: Citations = field(default_factory=Citations)
    notes: list[str] = field(default_factory=list)


class SessionStore:
    """The last `turns` (user, assistant) pairs of up to `max_sessions` sessions; thread-safe."""

    def __init__(self, turns: int = 10, max_sessions: int = 1000) -> None:
        self.turns = turns
        self.max_sessions = max_sessions
        self._sessions: OrderedDict[str, deque[tuple[str, str]]] = OrderedDict()
        self._lock = threading.Lock()

    def history(self, session_id: str) -> list[tuple[str, str]]:
        with self._lock:
            turns = self._sessions.get(session_id)
            if turns is None:
                return []
            self._sessions.move_to_end(session_id)
            return list(turns)

    def append(self, session_id: str, question: str, answer: str) -> None:
        with self._lock:
            turns = self._sessions.setdefault(session_id, deque(maxlen=self.turns))
            turns.append((question, answer))
            self._sessions.move_to_end(session_id)
            while len(self._sessions) > self.max_sessions:
                self._sessions.popitem(last=False)


class FraudAnalystAgent:
    """Answers chat turns; `tools_factory` makes fresh tools (and citations) for every turn.

    `llm` is a LlamaIndex function-calling LLM (``BedrockConverse``) or None for offline answers.
    """

    def __init__(
        self,
        tools_factory: Callable[[], AnalystTools],
        llm: Any | None = None,
        sessions: SessionStore | None = None,
        max_steps: int = DEFAULT_MAX_STEPS,
        provider: str = "offline",
    ) -> None:
        self.tools_factory = tools_factory
        self.llm = llm
        self.sessions = sessions or SessionStore()
        self.max_steps = max_steps
        self.provider = provider if llm is not None else "offline"

    async def achat(self, message: str, session_id: str | None = None) -> AgentAnswer:
        """Answer `message` in the session (a new one when None); never raises for LLM outages."""
        session_id = session_id or uuid.uuid4().hex
        history = self.sessions.history(session_id)
        answer = None
        if self.llm is not None:
            tools = self.tools_factory()
            try:
                text = await self._llm_answer(tools, message, history)
                answer = AgentAnswer(session_id, text, False, self.provider, tools.citations)
            except Exception as exc:  # Bedrock throttled past its retries, denied, timed out …
                log.warning("LLM turn failed, answering offline: %s", exc)
                note = (
                    f"The language model was unavailable ({type(exc).__name__}); this is the offline answer."
                )
                answer = await asyncio.to_thread(self._offline_answer, session_id, message)
                answer.notes.append(note)
        if answer is None:
            answer = await asyncio.to_thread(self._offline_answer, session_id, message)
        self.sessions.append(session_id, message, answer.answer)
        return answer

    def chat(self, message: str, session_id: str | None = None) -> AgentAnswer:
        """Synchronous :meth:`achat` for callers without an event loop (CLI, tests)."""
        return asyncio.run(self.achat(message, session_id))

    def _offline_answer(self, session_id: str, message: str) -> AgentAnswer:
        tools = self.tools_factory()
        text = OfflineAnswerer(tools).answer(message)
        return AgentAnswer(session_id, text, True, "offline", tools.citations)

    async def _llm_answer(self, tools: AnalystTools, message: str, history: list[tuple[str, str]]) -> str:
        from llama_index.core.agent.workflow import FunctionAgent
        from llama_index.core.llms import ChatMessage

        agent = FunctionAgent(
            tools=tools.llama_tools(),
            llm=self.llm,
            system_prompt=SYSTEM_PROMPT.format(database=tools.database),
            streaming=False,
        )
        chat_history = [
            message
            for question, answer in history
            for message in (
                ChatMessage(role="user", content=question),
                ChatMessage(role="assistant", content=answer),
            )
        ]
        handler: Any = agent.run(user_msg=message, chat_history=chat_history, max_iterations=self.max_steps)
        output = await handler
        return str(output.response.content or "").strip()

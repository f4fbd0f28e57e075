"""What one reconcile step found and did, as plain data the handlers turn into status and Events."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from fraudlake.operator.conditions import Condition


@dataclass
class Event:
    """A Kubernetes Event to post on the FraudPipeline."""

    type: str  # Normal or Warning
    reason: str
    message: str


@dataclass
class StepResult:
    """Outcome of reconciling one kind of child (topics, connector, tables or the scorer).

    `waiting` names a dependency that is not there yet (retry later); `permanent` is a spec problem
    that retrying cannot fix (the user must change the spec). `status` holds the status fields the
    step owns (e.g. ``topics`` and ``topicsReady``).
    """

    condition: Condition
    status: dict[str, Any] = field(default_factory=dict)
    events: list[Event] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    waiting: str | None = None
    permanent: str | None = None


@dataclass(frozen=True)
class Known:
    """Children the pipeline's status already lists: creating one of these again is a repair (drift),
    whichever handler or timer notices it."""

    topics: frozenset[str] = frozenset()
    topic_ids: Mapping[str, str] = field(default_factory=dict)  # KafkaTopic name -> accepted topic id
    connector: str = ""
    tables: frozenset[str] = frozenset()
    scorer: str = ""

    @classmethod
    def from_status(cls, status: Mapping[str, Any] | None) -> Known:
        status = status or {}
        return cls(
            topics=frozenset(status.get("topics") or ()),
            # A merge patch removes a key with null: such a topic has no accepted id any more.
            topic_ids={name: str(id_) for name, id_ in (status.get("topicIds") or {}).items() if id_},
            connector=str(status.get("connector") or ""),
            tables=frozenset(status.get("tables") or ()),
            scorer=str(status.get("scorer") or ""),
        )

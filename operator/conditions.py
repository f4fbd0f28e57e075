"""Status conditions in Strimzi's shape: ``{type, status, reason, message, lastTransitionTime}``.

Pure helpers: build conditions, merge them into the previous list (keeping ``lastTransitionTime``
when a condition's status did not change, as Kubernetes conventions ask), derive ``Ready`` from the
parts, and read a Strimzi child's readiness from its own status.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from fraudlake.pipeline.status import CONDITION_TYPES, PARTS, READY

Condition = dict[str, str]


def now() -> str:
    """The current time as Kubernetes writes it (UTC, seconds, 'Z')."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def condition(type_: str, ok: bool | None, reason: str, message: str = "") -> Condition:
    """A condition without its transition time; `ok` None means Unknown."""
    status = "Unknown" if ok is None else ("True" if ok else "False")
    return {"type": type_, "status": status, "reason": reason, "message": message}


def merge(
    previous: Iterable[Mapping[str, Any]] | None,
    updates: Iterable[Condition],
    at: str,
    remove: Iterable[str] = (),
) -> list[Condition]:
    """`previous` with `updates` applied by type and `remove` types dropped, in canonical order.

    A condition whose status is unchanged keeps its lastTransitionTime; a changed or new one gets `at`.
    """
    by_type: dict[str, Condition] = {c["type"]: dict(c) for c in previous or () if "type" in c}
    for update in updates:
        old = by_type.get(update["type"]) or {}
        unchanged = old.get("status") == update["status"] and old.get("lastTransitionTime")
        stamp = old["lastTransitionTime"] if unchanged else at
        by_type[update["type"]] = {**update, "lastTransitionTime": stamp}
    for type_ in remove:
        by_type.pop(type_, None)
    ordered = [by_type.pop(t) for t in CONDITION_TYPES if t in by_type]
    return ordered + [by_type[t] for t in sorted(by_type)]


def ready_from_parts(conditions: Sequence[Mapping[str, Any]]) -> Condition:
    """Ready: True when every part is True; otherwise False with the first failing part's reason."""
    by_type = {c["type"]: c for c in conditions}
    for part in PARTS:
        current = by_type.get(part)
        if current is None:
            return condition(READY, False, "Reconciling", f"{part} not yet reported")
        if current["status"] != "True":
            return condition(
                READY, False, current.get("reason") or f"{part}False", current.get("message", "")
            )
    return condition(READY, True, "Ready", "topics, lake sink, ClickHouse tables and scorer are ready")


def find(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> Mapping[str, Any] | None:
    return next((c for c in conditions or () if c.get("type") == type_), None)


def is_true(conditions: Iterable[Mapping[str, Any]] | None, type_: str) -> bool:
    found = find(conditions, type_)
    return bool(found and found.get("status") == "True")


def strimzi_readiness(obj: Mapping[str, Any]) -> tuple[bool, str]:
    """Whether a Strimzi resource is Ready for its current generation, and why not.

    Strimzi sets ``status.observedGeneration`` to the generation it reconciled and a Ready
    condition; readiness of an older generation says nothing about the current spec.
    """
    status = obj.get("status") or {}
    generation = (obj.get("metadata") or {}).get("generation")
    ready = find(status.get("conditions"), READY)
    if ready is None:
        return False, "not reconciled by Strimzi yet"
    if generation is not None and status.get("observedGeneration", 0) < generation:
        return False, f"Strimzi has not reconciled generation {generation} yet"
    if ready.get("status") != "True":
        return False, ready.get("message") or ready.get("reason") or "not ready"
    return True, ""

"""The agent's summary of a case for the analyst deciding it: what happened, why it was flagged, what
links it to other cases, and a next step that follows from those facts.

The facts are read from the case's detail as the cases store returns it (`CaseStore.case`: the case,
its alerts and flagged decisions with their reasons and rules, the card's recent transactions, the
linked cases and the actions so far), never from anywhere else. With an LLM they are the whole of the
prompt; without one, or when Bedrock fails, a fixed template writes the same four parts from the same
facts, and the result says which. A flagged transaction is a suspicion: neither path calls a case
fraud unless an analyst confirmed it.
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from fraudlake.agent.wording import count, listing, money, timestamp
from fraudlake.cases.store import CaseAction, CaseDetail, CaseSummary
from fraudlake.scoring.card_status import CARD_STATUS_RULE

log = logging.getLogger(__name__)

TOP_REASONS = 3
USUAL_MIN_TRANSACTIONS = 3  # fewer other transactions say nothing about the card's usual amounts
HIGH_PRIORITY = 70  # from here the next step is to reach the cardholder before deciding

CASE_SUMMARY_PROMPT = """You assist a fraud analyst at a card-issuing bank. Summarise one fraud case for
the analyst who will decide it, using only the facts given: add no number, name, date, merchant or cause
that is not in them. Write four short paragraphs, each starting with its label: "What happened:" (how
many transactions were flagged, when, their amounts and merchants), "Why it was flagged:" (the main
reasons and rules in plain words, and the card's status if given), "Links:" (the linked cases, or that
there are none) and "Suggested next step:" (one step that follows from the facts). A flagged transaction
is a suspicion, not a finding: never state that fraud is certain or confirmed unless the facts say an
analyst confirmed it. Plain text, at most 180 words."""

STATUS_WORDS = {
    "open": "open",
    "escalated": "escalated",
    "confirmed_fraud": "confirmed as fraud by an analyst",
    "not_fraud": "closed as not fraud by an analyst",
}
ACTION_WORDS = {
    "confirm_fraud": "confirmed fraud",
    "not_fraud": "closed as not fraud",
    "escalate": "escalated",
}


@dataclass(frozen=True)
class LinkedCase:
    case_id: str
    same_card: bool  # else it shares a merchant
    day: str
    status: str
    priority: int


@dataclass(frozen=True)
class CaseFacts:
    """What a summary may state, read from one case's detail."""

    case_id: str
    card_id: str
    day: str  # the case's UTC day, YYYY-MM-DD
    status: str
    priority: int
    flagged: int  # distinct flagged transactions
    first_at: datetime
    last_at: datetime
    amounts: list[float]  # the flagged transactions' known amounts, in time order
    merchants: list[tuple[str, int]]  # merchant, flagged transactions there; most first
    top_score: float
    by_model: bool
    rules: list[tuple[str, str]]  # rule, what it saw (first message); the card status rule excluded
    reasons: list[str]  # the model's top reasons in words
    card_status: str | None  # why the bank stopped the card, when it has
    usual: tuple[int, float] | None  # the card's other recent transactions: how many, median amount
    linked: list[LinkedCase]
    actions: list[CaseAction] = field(default_factory=list)

    @property
    def confirmed_links(self) -> list[LinkedCase]:
        return [c for c in self.linked if c.status == "confirmed_fraud"]


@dataclass
class CaseBrief:
    """A case's summary: `text` by the LLM or the offline template (`offline`), with its facts."""

    case_id: str
    text: str
    offline: bool
    provider: str
    facts: list[str]
    notes: list[str] = field(default_factory=list)


def summarise_case(detail: CaseDetail, llm: Any | None = None, provider: str = "offline") -> CaseBrief:
    """The summary of `detail`: by `llm` when given (the template when it fails, with a note)."""
    facts = case_facts(detail)
    lines = fact_lines(facts)
    notes = []
    if llm is not None:
        try:
            return CaseBrief(facts.case_id, _llm_summary(llm, lines), False, provider, lines)
        except Exception as exc:  # Bedrock unavailable: the template still serves the analyst
            log.warning("LLM case summary failed, using the template: %s", exc)
            notes.append(
                f"The language model was unavailable ({type(exc).__name__}); this is the offline template."
            )
    return CaseBrief(facts.case_id, template_summary(facts), True, "offline", lines, notes)


# --- the facts -------------------------------------------------------------------------------------


def case_facts(detail: CaseDetail) -> CaseFacts:
    """The facts of `detail`: flagged transactions from its alerts and decisions (amounts from the
    decisions, else from the card's transactions), reasons and rules from the decisions."""
    case = detail.summary
    flagged: dict[str, dict[str, Any]] = {}
    for row in [*detail.alerts, *detail.decisions]:
        seen = flagged.setdefault(str(row.get("txn_id")), {})
        for key in ("event_ts", "merchant_id", "amount"):
            if seen.get(key) is None and row.get(key) is not None:
                seen[key] = row[key]
    known = {str(t.get("txn_id")): t for t in detail.transactions}
    for txn_id, seen in flagged.items():
        if seen.get("amount") is None and known.get(txn_id, {}).get("amount") is not None:
            seen["amount"] = known[txn_id]["amount"]
    in_order = sorted(flagged.values(), key=lambda t: str(t.get("event_ts") or ""))
    merchants = Counter(str(t["merchant_id"]) for t in in_order if t.get("merchant_id"))
    others = [
        float(t["amount"]) for i, t in known.items() if i not in flagged and t.get("amount") is not None
    ]
    rules, card_status = _rules(detail)
    return CaseFacts(
        case_id=case.case_id,
        card_id=case.card_id,
        day=f"{case.window_start:%Y-%m-%d}",
        status=case.status,
        priority=case.priority,
        flagged=max(case.alerts, len(flagged)),
        first_at=case.first_at,
        last_at=case.last_at,
        amounts=[float(t["amount"]) for t in in_order if t.get("amount") is not None],
        merchants=merchants.most_common() or [(m, 0) for m in detail.merchants],
        top_score=case.max_score,
        by_model="model" in case.sources or any(a.get("source") == "model" for a in detail.alerts),
        rules=rules,
        reasons=_top_reasons(detail.decisions),
        card_status=card_status,
        usual=(len(others), statistics.median(others)) if len(others) >= USUAL_MIN_TRANSACTIONS else None,
        linked=[_linked(case, other) for other in detail.linked],
        actions=list(detail.actions),
    )


def _rules(detail: CaseDetail) -> tuple[list[tuple[str, str]], str | None]:
    """The rules fired (name, what it saw) and the card's status, from the decisions' rules and the
    alerts' messages (`<verdict>; <rule>: <message>; …`, the verdict of a stopped card being
    `<status>: declined (…)`)."""
    found: dict[str, str] = {}

    def keep(rule: str, message: str) -> None:
        if rule and not found.get(rule):
            found[rule] = message

    for decision in detail.decisions:
        for hit in decision.get("rules_fired") or []:
            if isinstance(hit, dict):
                keep(str(hit.get("rule") or ""), str(hit.get("message") or ""))
    for alert in detail.alerts:
        source = str(alert.get("source") or "")
        verdict, *hits = str(alert.get("message") or "").split("; ")
        if source == f"rule:{CARD_STATUS_RULE}":
            keep(CARD_STATUS_RULE, verdict.split(": declined", 1)[0])
        for hit in hits:
            rule, _, message = hit.partition(": ")
            if message:
                keep(rule, message)
        if source.startswith("rule:"):
            keep(source[5:], "")
    card_status = found.pop(CARD_STATUS_RULE, None)
    if card_status == "":
        card_status = "card stopped by the bank"
    return list(found.items()), card_status


def _top_reasons(decisions: list[dict[str, Any]]) -> list[str]:
    """The reasons that pushed the flagged decisions' scores up most often (then most strongly)."""
    seen: Counter[str] = Counter()
    strongest: dict[str, float] = {}
    for decision in decisions:
        for reason in decision.get("reasons") or []:
            if not isinstance(reason, dict):
                continue
            name = str(reason.get("description") or reason.get("feature") or "")
            contribution = reason.get("contribution")
            if not name or (contribution is not None and float(contribution) <= 0):
                continue  # a reason that lowered the score explains no flag
            seen[name] += 1
            strongest[name] = max(strongest.get(name, 0.0), float(contribution or 0.0))
    ranked = sorted(seen, key=lambda n: (-seen[n], -strongest[n], n))[:TOP_REASONS]
    return [f"{n} ({strongest[n]:+.2f})" if strongest[n] else n for n in ranked]


def _linked(case: CaseSummary, other: CaseSummary) -> LinkedCase:
    day = f"{other.window_start:%Y-%m-%d}"
    return LinkedCase(other.case_id, other.card_id == case.card_id, day, other.status, other.priority)


# --- in words --------------------------------------------------------------------------------------


def fact_lines(facts: CaseFacts) -> list[str]:
    """The facts as 'Label: value' lines: the LLM's whole prompt, and what the response cites."""
    lines = [
        ("Case", f"{facts.case_id} (card {facts.card_id}, UTC day {facts.day})"),
        ("Status", f"{STATUS_WORDS.get(facts.status, facts.status)}; priority {facts.priority} of 100"),
        ("Flagged transactions", f"{facts.flagged}, {_span(facts)}"),
        ("Flagged amounts", _amounts(facts)),
        ("Merchants of the flagged transactions", _merchants(facts)),
        ("Flagged by", _flagged_by(facts)),
        ("The model's top reasons", "; ".join(facts.reasons)),
        ("Rules fired", "; ".join(f"{r}: {m}" if m else r for r, m in facts.rules)),
        ("Card status in the bank's records", facts.card_status),
        ("The card's other recent transactions", _usual(facts)),
        ("Linked cases", "; ".join(_link_words(c) for c in facts.linked) or "none"),
        ("Actions so far", "; ".join(_action_words(a) for a in facts.actions) or "none"),
    ]
    return [f"{label}: {value}" for label, value in lines if value]


def template_summary(facts: CaseFacts) -> str:
    """The offline summary: four labelled paragraphs filled with the facts."""
    happened = (
        f"What happened: {count(facts.flagged, 'transaction')} on card {facts.card_id} "
        f"{'was' if facts.flagged == 1 else 'were'} flagged {_span(facts)}"
    )
    if facts.amounts:
        happened += f", {'amount' if len(facts.amounts) == 1 else 'amounts'} {_amounts(facts)}"
    if len(facts.merchants) == 1:
        happened += f", at merchant {_merchants(facts)}"
    elif facts.merchants:
        happened += f", at {count(len(facts.merchants), 'merchant')}: {_merchants(facts)}"
    happened += "."
    if facts.usual:
        others, median = facts.usual
        happened += f" The card's {count(others, 'other recent transaction')}: median {money(median)}."

    why = f"Why it was flagged: {_flagged_by(facts)}."
    if facts.reasons:
        why += f" The model's top reasons: {'; '.join(facts.reasons)}."
    if facts.rules:
        why += " Rules fired: " + "; ".join(f"{r} ({m})" if m else r for r, m in facts.rules) + "."
    if facts.card_status:
        why += f" The bank's records show the card as stopped: {facts.card_status}."

    if facts.linked:
        same = [c for c in facts.linked if c.same_card]
        other_days = "another day" if len(same) == 1 else "other days"
        parts = [f"{count(len(same), 'case')} of the same card on {other_days}"] if same else []
        if len(same) < len(facts.linked):
            parts.append(f"{count(len(facts.linked) - len(same), 'case')} sharing a merchant")
        links = f"Links: {' and '.join(parts)}: {listing([_link_words(c) for c in facts.linked])}."
    else:
        links = "Links: no other case of this card or its merchants within a week."
    if facts.actions:
        links += f" Actions so far: {'; '.join(_action_words(a) for a in facts.actions)}."

    return "\n\n".join([happened, why, links, f"Suggested next step: {next_step(facts)}"])


def next_step(facts: CaseFacts) -> str:
    """One step that follows from the facts; only an analyst's disposition makes fraud a finding."""
    decided = next((a for a in reversed(facts.actions) if a.action != "escalate"), None)
    who = f" ({decided.actor}, {timestamp(decided.at)})" if decided else ""
    if facts.status == "confirmed_fraud":
        step = f"An analyst confirmed this case as fraud{who}: make sure the card is blocked and reissued"
        return step + (", and review the linked cases for the same pattern." if facts.linked else ".")
    if facts.status == "not_fraud":
        return f"An analyst closed this case as not fraud{who}: nothing further unless new alerts arrive."
    if facts.card_status:
        return (
            f"The bank has already stopped the card ({facts.card_status}): verify with the cardholder "
            "whether the flagged transactions were theirs, then close the case accordingly."
        )
    confirmed = facts.confirmed_links
    if any(c.same_card for c in confirmed):
        return (
            "A case of this card on another day was confirmed as fraud by an analyst: contact the "
            "cardholder about these transactions and consider blocking the card meanwhile."
        )
    if confirmed:
        return (
            "A case sharing a merchant was confirmed as fraud by an analyst: contact the cardholder to "
            "verify these transactions, and review the shared merchant's other cases as a possible "
            "point of compromise."
        )
    if facts.priority >= HIGH_PRIORITY or facts.status == "escalated":
        return (
            "Contact the cardholder to verify the flagged transactions before deciding; consider a "
            "temporary block while waiting for an answer."
        )
    return (
        "Compare the flagged transactions with the card's usual activity: if they fit it, close the case "
        "as not fraud; otherwise contact the cardholder."
    )


def _span(facts: CaseFacts) -> str:
    first, last = timestamp(facts.first_at), timestamp(facts.last_at)
    if first == last:
        return f"at {first}"
    return f"on {facts.day} between {first[11:16]} and {last[11:]}"


def _amounts(facts: CaseFacts) -> str:
    if not facts.amounts:
        return ""
    shown = listing([money(a) for a in facts.amounts])
    if len(facts.amounts) == 1:
        return shown
    known = "" if len(facts.amounts) >= facts.flagged else f"; {len(facts.amounts)} of {facts.flagged} known"
    return f"{shown} (total {money(sum(facts.amounts))}, largest {money(max(facts.amounts))}{known})"


def _merchants(facts: CaseFacts) -> str:
    """The merchants, with how many flagged transactions each when some had more than one."""
    counted = any(n > 1 for _, n in facts.merchants)
    return listing([f"{m} ({n})" if counted else m for m, n in facts.merchants])


def _flagged_by(facts: CaseFacts) -> str:
    parts = [f"the model (highest score {facts.top_score:.3f})"] if facts.by_model else []
    names = [r for r, _ in facts.rules] + ([CARD_STATUS_RULE] if facts.card_status else [])
    if names:
        parts.append(f"{'rule' if len(names) == 1 else 'rules'} {', '.join(names)}")
    return " and ".join(parts) or f"a flagged decision (highest score {facts.top_score:.3f})"


def _usual(facts: CaseFacts) -> str:
    if facts.usual is None:
        return ""
    return f"{facts.usual[0]} up to the case's day, median amount {money(facts.usual[1])}"


def _link_words(case: LinkedCase) -> str:
    why = "same card" if case.same_card else "shares a merchant"
    return f"{case.case_id} ({why}, {case.day}, {STATUS_WORDS.get(case.status, case.status)})"


def _action_words(action: CaseAction) -> str:
    note = f' (note: "{action.note}")' if action.note else ""
    what = ACTION_WORDS.get(action.action, action.action)
    return f"{what} by {action.actor} at {timestamp(action.at)}{note}"


def _llm_summary(llm: Any, lines: list[str]) -> str:
    from llama_index.core.llms import ChatMessage

    response = llm.chat(
        [
            ChatMessage(role="system", content=CASE_SUMMARY_PROMPT),
            ChatMessage(role="user", content="Case facts:\n" + "\n".join(lines)),
        ]
    )
    text = str(response.message.content or "").strip()
    if not text:
        raise ValueError("the language model returned an empty summary")
    return text

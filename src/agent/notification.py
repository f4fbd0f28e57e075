"""Customer notifications drafted from an alert: the seed's fraud-analyst prompt, or a formal template.

The alert's facts (date, amount, merchant, card brand and last four digits, the customer's name)
are read with guarded SQL, so the draft can only state what the database holds, and the SQL is
returned with it. The full card number never exists in the platform, and the draft never asks the
customer for card details. Without an LLM, or when Bedrock fails, the offline template is used and
the result says so.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from typing import Any

from fraudlake.agent.tools import TXN_ID, AnalystTools, SqlCitation
from fraudlake.agent.wording import money

log = logging.getLogger(__name__)

ANALYST_PROMPT = """You are a fraud analyst at a card-issuing bank. Draft a formal, courteous notification
to the cardholder about a transaction our fraud system flagged. Use only the facts given. State the date,
merchant and amount, explain that the transaction was flagged as possibly fraudulent and what the
customer should do: confirm or deny it through the phone number on the back of the card or the bank's
app. Never ask for the card number, PIN, security code or passwords, never include links, and never
state that fraud is certain. Sign as "Fraud Prevention Team". Reply with a first line
"Subject: <subject>", a blank line, then the letter."""

_FACTS_SQL = """
SELECT a.alert_id AS alert_id, a.txn_id AS txn_id, a.card_id AS card_id, a.user_id AS user_id,
       a.merchant_id AS merchant_id, a.event_ts AS event_ts, a.score AS score, a.severity AS severity,
       a.status AS status, t.amount AS amount, t.merchant_city AS merchant_city,
       t.merchant_state AS merchant_state, t.use_chip AS use_chip, c.card_brand AS card_brand,
       c.card_last4 AS card_last4, u.person AS person
FROM alerts AS a FINAL
LEFT JOIN (SELECT txn_id, amount, merchant_city, merchant_state, use_chip FROM transactions FINAL
           WHERE txn_id IN (SELECT txn_id FROM alerts FINAL WHERE alert_id = '{alert_id}')) AS t
       ON t.txn_id = a.txn_id
LEFT JOIN (SELECT card_id, card_brand, card_last4 FROM cards FINAL) AS c ON c.card_id = a.card_id
LEFT JOIN (SELECT user_id, person FROM users FINAL) AS u ON u.user_id = a.user_id
WHERE a.alert_id = '{alert_id}'
LIMIT 1
"""


class AlertNotFoundError(LookupError):
    """No alert with that id in the pipeline database."""


@dataclass
class Notification:
    alert_id: str
    subject: str
    body: str
    offline: bool
    provider: str
    sql: list[SqlCitation] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def alert_facts(tools: AnalystTools, alert_id: str) -> dict[str, Any]:
    """The alert joined with its transaction, card and customer; raises AlertNotFoundError."""
    if not TXN_ID.match(alert_id):
        raise AlertNotFoundError(
            f"no alert {alert_id!r}: ids are 1-64 characters of letters, digits and ._:-"
        )
    rows = tools.query(_FACTS_SQL.format(alert_id=alert_id)).as_dicts()
    if not rows:
        raise AlertNotFoundError(f"no alert {alert_id} in {tools.database}.alerts")
    return rows[0]


def draft_notification(
    tools: AnalystTools, alert_id: str, llm: Any | None = None, provider: str = "offline"
) -> Notification:
    """The notification for `alert_id`: by `llm` when given (falling back to the template on errors)."""
    facts = alert_facts(tools, alert_id)
    notes = []
    if llm is not None:
        try:
            subject, body = _llm_letter(llm, facts)
            return Notification(alert_id, subject, body, False, provider, tools.citations.sql)
        except Exception as exc:  # Bedrock unavailable: the template still serves the analyst
            log.warning("LLM notification failed, using the template: %s", exc)
            notes.append(
                f"The language model was unavailable ({type(exc).__name__}); this is the offline template."
            )
    subject, body = template_letter(facts)
    return Notification(alert_id, subject, body, True, "offline", tools.citations.sql, notes)


def fact_lines(facts: dict[str, Any]) -> list[str]:
    """The facts the letter may state, as 'Label: value' lines (empty values left out)."""
    lines = [
        ("Customer", facts.get("person")),
        ("Card", _card_words(facts)),
        ("Date", _when(facts.get("event_ts"))),
        ("Merchant", _merchant_words(facts)),
        ("Amount", money(facts["amount"]) if facts.get("amount") not in (None, "") else None),
        ("Reference", facts["alert_id"]),
    ]
    return [f"{label}: {value}" for label, value in lines if value]


def template_letter(facts: dict[str, Any]) -> tuple[str, str]:
    """The offline notification: a fixed formal letter filled with the alert's facts."""
    card = _card_words(facts) or "your card"
    details = "\n".join(f"    {line}" for line in fact_lines(facts) if not line.startswith("Customer"))
    name = facts.get("person") or "Cardholder"
    subject = f"Please confirm a recent transaction on {card}"
    body = (
        f"Dear {name},\n\n"
        f"Our fraud monitoring flagged the following transaction on {card} as possibly unauthorised:\n\n"
        f"{details}\n\n"
        "If you made this transaction, no action is needed beyond confirming it. If you did not, please "
        "contact us immediately using the phone number on the back of your card or through our mobile app, "
        "so that we can protect your account and issue a replacement card.\n\n"
        "For your security, we will never ask you for your full card number, PIN, security code or "
        "passwords, and this message contains no links.\n\n"
        "Sincerely,\nFraud Prevention Team"
    )
    return subject, body


def _llm_letter(llm: Any, facts: dict[str, Any]) -> tuple[str, str]:
    from llama_index.core.llms import ChatMessage

    response = llm.chat(
        [
            ChatMessage(role="system", content=ANALYST_PROMPT),
            ChatMessage(role="user", content="Flagged transaction:\n" + "\n".join(fact_lines(facts))),
        ]
    )
    text = str(response.message.content or "").strip()
    match = re.match(r"^\s*Subject:\s*(.+?)\s*\n+(.*)$", text, re.DOTALL)
    if not match:
        return f"Please confirm a recent transaction ({facts['alert_id']})", text
    return match.group(1), match.group(2).strip()


def _card_words(facts: dict[str, Any]) -> str | None:
    if not facts.get("card_last4"):
        return None
    brand = f"{facts['card_brand']} " if facts.get("card_brand") else ""
    return f"your {brand}card ending in {facts['card_last4']}"


def _merchant_words(facts: dict[str, Any]) -> str:
    city = facts.get("merchant_city")
    where = "online" if city == "ONLINE" else ", ".join(p for p in (city, facts.get("merchant_state")) if p)
    return f"merchant {facts['merchant_id']}" + (f" ({where})" if where else "")


def _when(value: Any) -> str | None:
    if not value:
        return None
    text = str(value).replace("T", " ")
    return text[:16] + " UTC"

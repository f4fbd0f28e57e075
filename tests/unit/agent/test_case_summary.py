"""The case summary's facts and offline template: facts in, sentences out (counts, times, amounts,
merchants, reasons, rules, links, a next step), and no fraud stated as a finding unless an analyst
confirmed it. The LLM path is tested against Bedrock's real shapes in test_bedrock.py."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from case_kit import ALERTS, DAY, DECISIONS, case_detail, summary

from fraudlake.agent.case_summary import case_facts, fact_lines, summarise_case, template_summary
from fraudlake.cases.store import CaseAction

pytestmark = pytest.mark.unit
ACTED_AT = datetime(2026, 4, 8, 10, 0, tzinfo=UTC)
STOPPED_ALERT = {"source": "rule:card_status", "message": "card blocked (lost): declined (model v7 0.2)"}
# Wording that would state fraud as a finding.
CERTAIN = re.compile(
    r"\bconfirmed\b|\bis fraud\b|\bwas fraud\b|\bfraudulent\b|\bstolen card\b", re.IGNORECASE
)


def _parts(text: str) -> dict[str, str]:
    """The template's four paragraphs by label."""
    return dict(p.split(": ", 1) for p in text.split("\n\n"))


def test_what_happened_counts_times_amounts_and_merchants() -> None:
    happened = _parts(template_summary(case_facts(case_detail())))["What happened"]
    assert happened.startswith(
        "3 transactions on card 7-0 were flagged on 2026-04-07 between 09:12 and 21:40 UTC"
    )
    # t3's amount comes from the card's transactions: its alert (a rule's) has no decision row.
    assert "amounts $1,800.00, $600.00, $45.50 (total $2,445.50, largest $1,800.00)" in happened
    assert "at 2 merchants: m-41 (2), m-77 (1)" in happened
    assert "The card's 5 other recent transactions: median $40.00." in happened


def test_why_it_was_flagged_names_reasons_and_rules_in_words() -> None:
    why = _parts(template_summary(case_facts(case_detail())))["Why it was flagged"]
    assert why.startswith("the model (highest score 0.930) and rule burst.")
    # Reasons ranked by how many flagged decisions they pushed up, then by strength; a reason that
    # lowered the score (the merchant category's fraud rate) explains nothing.
    assert (
        "The model's top reasons: amount relative to the card's mean (+1.80); card transactions in the "
        "previous 10 minutes (+0.90); first purchase of the card at this merchant (+0.70)." in why
    )
    assert "fraud rate of the merchant category" not in why
    assert "Rules fired: burst (4 transactions totalling $2,445.50 in 10 minutes)." in why


def test_links_and_actions() -> None:
    escalated = CaseAction("case-20260407-7-0", "escalate", "escalated", "big ticket", "Ana Lyst", ACTED_AT)
    links = _parts(template_summary(case_facts(case_detail("escalated", actions=[escalated]))))["Links"]
    assert links.startswith("1 case of the same card on another day and 1 case sharing a merchant:")
    assert "case-20260405-7-0 (same card, 2026-04-05, closed as not fraud by an analyst)" in links
    assert "case-20260406-9-1 (shares a merchant, 2026-04-06, open)" in links
    assert 'Actions so far: escalated by Ana Lyst at 2026-04-08 10:00 UTC (note: "big ticket").' in links
    alone = _parts(template_summary(case_facts(case_detail(linked=[]))))["Links"]
    assert alone == "no other case of this card or its merchants within a week."


def test_no_fraud_is_stated_unless_an_analyst_confirmed_it() -> None:
    for detail in (case_detail(), case_detail(linked=[]), case_detail(priority=20), case_detail("escalated")):
        brief = summarise_case(detail)
        assert not CERTAIN.search(brief.text), brief.text
        assert not CERTAIN.search("\n".join(brief.facts))

    confirmed = CaseAction("case-20260407-7-0", "confirm_fraud", "confirmed_fraud", "", "Ana Lyst", ACTED_AT)
    text = template_summary(case_facts(case_detail("confirmed_fraud", actions=[confirmed])))
    assert _parts(text)["Suggested next step"] == (
        "An analyst confirmed this case as fraud (Ana Lyst, 2026-04-08 10:00 UTC): make sure the card is "
        "blocked and reissued, and review the linked cases for the same pattern."
    )


@pytest.mark.parametrize(
    ("status", "priority", "linked_status", "same_card", "step"),
    [
        (
            "open",
            88,
            "open",
            True,
            "Contact the cardholder to verify the flagged transactions before deciding",
        ),
        ("escalated", 30, "open", True, "Contact the cardholder to verify"),
        ("open", 30, "open", True, "Compare the flagged transactions with the card's usual activity"),
        (
            "open",
            30,
            "confirmed_fraud",
            True,
            "A case of this card on another day was confirmed as fraud by an",
        ),
        (
            "open",
            30,
            "confirmed_fraud",
            False,
            "review the shared merchant's other cases as a possible point",
        ),
        ("not_fraud", 88, "open", True, "An analyst closed this case as not fraud: nothing further unless"),
    ],
)
def test_the_next_step_follows_from_the_facts(
    status: str, priority: int, linked_status: str, same_card: bool, step: str
) -> None:
    other = summary(card="7-0" if same_card else "9-1", day=DAY.replace(day=3), status=linked_status)
    text = template_summary(case_facts(case_detail(status, linked=[other], priority=priority)))
    assert step in _parts(text)["Suggested next step"]


@pytest.mark.parametrize(
    "stopped",
    [
        # The stream scorer's decision carries the card status rule ...
        {"decisions": [*DECISIONS, {"txn_id": "t3", "amount": 45.5, "reasons": [], "rules_fired": [
            {"rule": "card_status", "type": "CardStatus", "message": "card blocked (lost)"}]}]},
        # ... an alert of the API's sink only its message.
        {"alerts": [*ALERTS[:2], ALERTS[2] | STOPPED_ALERT]},
    ],
)  # fmt: skip
def test_a_stopped_card_is_said_and_leads_the_next_step(stopped: dict[str, object]) -> None:
    facts = case_facts(case_detail(**stopped))
    assert facts.card_status == "card blocked (lost)"
    parts = _parts(template_summary(facts))
    assert "The bank's records show the card as stopped: card blocked (lost)." in parts["Why it was flagged"]
    assert "card_status" in parts["Why it was flagged"]
    assert parts["Suggested next step"].startswith(
        "The bank has already stopped the card (card blocked (lost))"
    )
    assert "Card status in the bank's records: card blocked (lost)" in fact_lines(facts)


def test_unknown_amounts_are_said_to_be_unknown() -> None:
    text = template_summary(case_facts(case_detail(decisions=[], transactions=DECISIONS[:2])))
    happened = _parts(text)["What happened"]
    assert "amounts $1,800.00, $600.00 (total $2,400.00, largest $1,800.00; 2 of 3 known)" in happened
    bare = _parts(template_summary(case_facts(case_detail(decisions=[], transactions=[]))))
    assert "$" not in bare["What happened"]
    assert bare["Why it was flagged"].startswith("the model (highest score 0.930) and rule burst.")


def test_the_offline_brief_cites_its_facts() -> None:
    brief = summarise_case(case_detail())
    assert (brief.case_id, brief.offline, brief.provider, brief.notes) == (
        "case-20260407-7-0", True, "offline", [],
    )  # fmt: skip
    assert brief.text.startswith("What happened: 3 transactions")
    assert brief.facts[:3] == [
        "Case: case-20260407-7-0 (card 7-0, UTC day 2026-04-07)",
        "Status: open; priority 88 of 100",
        "Flagged transactions: 3, on 2026-04-07 between 09:12 and 21:40 UTC",
    ]
    assert "Flagged amounts: $1,800.00, $600.00, $45.50 (total $2,445.50, largest $1,800.00)" in brief.facts
    assert "Actions so far: none" in brief.facts


def test_one_transaction_at_one_merchant_reads_simply() -> None:
    alone = case_detail(alerts=ALERTS[:1], decisions=DECISIONS[:1], linked=[])
    facts = case_facts(alone)
    assert facts.flagged == 3  # the rollup's count stands when fewer rows were read
    single = replace(facts, flagged=1, first_at=facts.first_at, last_at=facts.first_at)
    happened = _parts(template_summary(single))["What happened"]
    assert happened.startswith(
        "1 transaction on card 7-0 was flagged at 2026-04-07 09:12 UTC, amount $1,800.00, at merchant m-41."
    )

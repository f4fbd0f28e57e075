"""Topic incarnations: a topic the pipeline had is never replaced by a new one without consent."""

from __future__ import annotations

from typing import Any

import pytest

from fraudlake.operator.incarnations import Verdict, accepted_tokens, is_stale, judge
from fraudlake.pipeline import naming

pytestmark = pytest.mark.unit

TOPIC = "fraudlake.ns.demo.transactions"
OLD, NEW = "oldAAAAAAAAAAAAAAAAAAA", "newAAAAAAAAAAAAAAAAAAA"


def kafka_topic(topic_id: str | None) -> dict[str, Any]:
    status = {"topicName": TOPIC} | ({"topicId": topic_id} if topic_id else {})
    return {"metadata": {"name": TOPIC}, "status": status}


def test_a_new_topic_is_created_and_its_first_id_recorded() -> None:
    assert judge(TOPIC, None, had_topic=False, recorded_id="", accepted=frozenset()).verdict is Verdict.CREATE
    first = judge(TOPIC, kafka_topic(NEW), had_topic=True, recorded_id="", accepted=frozenset())
    assert (first.verdict, first.topic_id) == (Verdict.KEEP, NEW)
    same = judge(TOPIC, kafka_topic(OLD), had_topic=True, recorded_id=OLD, accepted=frozenset())
    assert (same.verdict, same.topic_id) == (Verdict.KEEP, OLD)
    # Strimzi has not reported the id yet: keep what was recorded.
    unreported = judge(TOPIC, kafka_topic(None), had_topic=True, recorded_id=OLD, accepted=frozenset())
    assert (unreported.verdict, unreported.topic_id) == (Verdict.KEEP, OLD)


def test_a_topic_back_with_another_id_is_refused_until_the_old_id_is_accepted() -> None:
    refused = judge(TOPIC, kafka_topic(NEW), had_topic=True, recorded_id=OLD, accepted=frozenset({NEW}))
    assert (refused.verdict, refused.topic_id) == (Verdict.REFUSE, OLD)  # the old id stays recorded
    assert OLD in refused.message
    assert NEW in refused.message
    assert f"{naming.ACCEPT_TOPIC_RECREATION_ANNOTATION}={OLD}" in refused.message
    adopted = judge(TOPIC, kafka_topic(NEW), had_topic=True, recorded_id=OLD, accepted=frozenset({OLD}))
    assert (adopted.verdict, adopted.topic_id) == (Verdict.ADOPT, NEW)


def test_a_gone_topic_is_recreated_only_when_its_incarnation_is_given_up() -> None:
    refused = judge(TOPIC, None, had_topic=True, recorded_id=OLD, accepted=frozenset())
    assert (refused.verdict, refused.topic_id) == (Verdict.REFUSE, OLD)
    assert f"{naming.ACCEPT_TOPIC_RECREATION_ANNOTATION}={OLD}" in refused.message
    recreated = judge(TOPIC, None, had_topic=True, recorded_id=OLD, accepted=frozenset({OLD}))
    assert (recreated.verdict, recreated.topic_id) == (Verdict.RECREATE, "")  # its new id comes later
    # No id was ever recorded (a pipeline reconciled before ids were): the topic's name stands in.
    legacy = judge(TOPIC, None, had_topic=True, recorded_id="", accepted=frozenset())
    assert legacy.verdict is Verdict.REFUSE
    assert f"={TOPIC}" in legacy.message
    assert judge(TOPIC, None, True, "", frozenset({TOPIC})).verdict is Verdict.RECREATE


def test_the_annotation_lists_comma_separated_incarnations() -> None:
    meta = {"annotations": {naming.ACCEPT_TOPIC_RECREATION_ANNOTATION: f" {OLD}, {TOPIC} ,"}}
    assert accepted_tokens(meta) == {OLD, TOPIC}
    assert accepted_tokens({}) == frozenset()


def test_the_sink_stops_for_a_topic_that_is_not_its_accepted_incarnation() -> None:
    assert not is_stale(kafka_topic(OLD), OLD)
    assert not is_stale(kafka_topic(None), OLD)  # not reported yet: nothing known against it
    assert is_stale(kafka_topic(NEW), OLD)
    assert is_stale(None, OLD)

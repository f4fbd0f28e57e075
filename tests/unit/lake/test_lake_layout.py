"""Object names carry the topic's incarnation (Kafka topic id), so a recreated topic's objects are
distinct from the old topic's even at the same partition and offset."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from fraudlake.lake.layout import LEGACY_TOPIC_ID, UnexpectedObjectNameError, parse_object

pytestmark = pytest.mark.unit

AT = datetime(2026, 1, 1, tzinfo=UTC)
TOPIC = "fraudlake.ns.demo.transactions"


def parse(key: str):
    return parse_object("lake", key, '"etag"', 10, AT)


def test_the_topic_id_folder_is_the_incarnation() -> None:
    old = parse(f"lake/raw/{TOPIC}/AAAAAAAAAAEAAAAAAAAAAg/0000000000-00000000000000000000.parquet")
    new = parse(f"lake/raw/{TOPIC}/Zm9v-YmFy_xAAAAAAAAAAg/0000000000-00000000000000000000.parquet")
    assert old is not None
    assert new is not None
    assert (old.topic, old.topic_id, old.partition, old.start_offset) == (
        TOPIC,
        "AAAAAAAAAAEAAAAAAAAAAg",
        0,
        0,
    )
    assert new.topic_id == "Zm9v-YmFy_xAAAAAAAAAAg"
    assert old.key != new.key
    assert old.file_name == new.file_name


def test_objects_named_before_the_topic_id_parse_as_the_legacy_incarnation() -> None:
    legacy = parse(f"lake/raw/{TOPIC}/0000000003-00000000000000000050.parquet")
    assert legacy is not None
    assert (legacy.topic_id, legacy.partition, legacy.start_offset) == (LEGACY_TOPIC_ID, 3, 50)


def test_a_parquet_key_the_loader_cannot_place_is_an_error() -> None:
    with pytest.raises(UnexpectedObjectNameError, match="topic id"):
        parse(f"lake/raw/{TOPIC}/not an id/0-0.parquet")
    assert parse("lake/raw/x/_SUCCESS") is None

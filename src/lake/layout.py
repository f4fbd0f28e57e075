"""The lake's object layout: ``<prefix>/raw/<topic>/<topic id>/<partition>-<start offset>.parquet``.

The sink names each object after the topic's incarnation (Kafka's topic id), the Kafka partition
and the first offset it holds (`fraudlake.lake.connector.object_name_template`), so an object key
alone tells the loader which topic incarnation and partition its rows come from. The topic id is
what keeps a recreated topic apart: it restarts at offset 0, and by name and offsets alone its
objects would overwrite, and be mistaken for, the old incarnation's.

Objects written before the topic id was in the layout (``<topic>/<partition>-<offset>.parquet``)
still parse, with the empty topic id: one legacy incarnation per topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

# Both numbers are zero-padded by the template; accept any width so hand-made objects parse too.
# Kafka prints a topic id as URL-safe base64 (22 characters); accept any such token.
_OBJECT_NAME = re.compile(
    r"^(?:(?P<topic_id>[A-Za-z0-9_-]+)/)?(?P<partition>\d+)-(?P<start_offset>\d+)\.parquet$"
)
LEGACY_TOPIC_ID = ""  # objects named before the layout carried the topic id


class UnexpectedObjectNameError(ValueError):
    """A key under the raw prefix that is not ``<topic>/<topic id>/<partition>-<offset>.parquet``."""


@dataclass(frozen=True)
class LakeObject:
    """One Parquet object as listed: where it is, which version (etag), which topic incarnation
    (`topic_id`, Kafka's id of the topic) and which Kafka partition."""

    key: str
    etag: str
    size: int
    last_modified: datetime
    topic: str
    partition: int
    start_offset: int
    topic_id: str = LEGACY_TOPIC_ID

    @property
    def file_name(self) -> str:
        return self.key.rsplit("/", 1)[-1]


def raw_prefix(lake_prefix: str) -> str:
    """``<prefix>/raw/``: where the sink writes (same rule as the connector's file.name.template)."""
    return f"{lake_prefix.strip('/')}/raw/"


def topic_prefix(lake_prefix: str, topic: str) -> str:
    return f"{raw_prefix(lake_prefix)}{topic}/"


def parse_object(
    lake_prefix: str, key: str, etag: str, size: int, last_modified: datetime
) -> LakeObject | None:
    """The LakeObject for `key`, or None for keys that are not Parquet objects of the sink.

    Raises UnexpectedObjectNameError for a ``.parquet`` key under the raw prefix whose name does not
    carry (topic id,) partition and offset: the loader could not place its rows, and skipping it silently
    would lose data.
    """
    prefix = raw_prefix(lake_prefix)
    if not key.startswith(prefix) or not key.endswith(".parquet"):
        return None
    topic, _, name = key[len(prefix) :].partition("/")
    match = _OBJECT_NAME.match(name)
    if not topic or match is None:
        raise UnexpectedObjectNameError(
            f"s3 object {key!r} is not named <topic>/<topic id>/<partition>-<start offset>.parquet "
            f"under {prefix!r}"
        )
    return LakeObject(
        key=key,
        etag=etag.strip('"'),
        size=size,
        last_modified=last_modified,
        topic=topic,
        partition=int(match["partition"]),
        start_offset=int(match["start_offset"]),
        topic_id=match["topic_id"] or LEGACY_TOPIC_ID,
    )

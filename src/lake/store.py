"""The lake's object store (MinIO locally, S3 in production): listing for a data interval, and the
URLs ClickHouse's ``s3()`` table function reads the same objects through.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from fraudlake.clickhouse.migrations import sql_string
from fraudlake.lake.layout import LakeObject, parse_object, topic_prefix


@dataclass(frozen=True)
class LakeStore:
    """Where the lake lives and how to reach it.

    `endpoint_url` is the S3 API root (``http://127.0.0.1:9000`` for MinIO: path-style); None means
    AWS S3 in `region`. Without keys, boto3 and ClickHouse use their environment credentials
    (IRSA on EKS).
    """

    bucket: str
    prefix: str
    endpoint_url: str | None = None
    region: str = "us-east-1"
    access_key: str | None = None
    secret_key: str | None = None

    def __repr__(self) -> str:  # keep the secret out of logs and tracebacks
        return (
            f"LakeStore(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint_url={self.endpoint_url!r})"
        )

    def client(self) -> Any:
        """A boto3 S3 client for this store (path-style addressing when an endpoint is set)."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(s3={"addressing_style": "path" if self.endpoint_url else "auto"}),
        )

    def http_root(self) -> str:
        """Path-style URL of the bucket, as ClickHouse's s3() wants it."""
        root = (self.endpoint_url or f"https://s3.{self.region}.amazonaws.com").rstrip("/")
        return f"{root}/{self.bucket}"

    def object_url(self, key: str) -> str:
        return f"{self.http_root()}/{key}"

    def s3_table_function(self, url: str, input_format: str = "Parquet") -> str:
        """``s3(url, [key, secret,] format)`` with every argument quoted.

        `url` may name several objects of one folder as a brace list (``…/{a.parquet,b.parquet}``).
        """
        args = [sql_string(url)]
        if self.access_key and self.secret_key:
            args += [sql_string(self.access_key), sql_string(self.secret_key)]
        args.append(sql_string(input_format))
        return f"s3({', '.join(args)})"

    def list_objects(self, topics: Iterable[str], start: datetime, end: datetime) -> list[LakeObject]:
        """Parquet objects of `topics` whose last write falls in [start, end), oldest first.

        The interval is on the object's Last-Modified: every object lands in exactly one interval,
        and an object the sink rewrites (a replay) shows up again in the interval of its rewrite.
        """
        found = [
            obj for topic in topics for obj in self._list_topic(topic) if start <= obj.last_modified < end
        ]
        return sorted(found, key=lambda obj: (obj.last_modified, obj.key))

    def _list_topic(self, topic: str) -> Iterator[LakeObject]:
        paginator = self.client().get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=topic_prefix(self.prefix, topic)):
            for item in page.get("Contents", []):
                obj = parse_object(self.prefix, item["Key"], item["ETag"], item["Size"], item["LastModified"])
                if obj is not None:
                    yield obj

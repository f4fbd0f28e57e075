"""The local MinIO is a real S3 endpoint for both the MinIO SDK and boto3 (path-style)."""

from __future__ import annotations

import io
import urllib.request
import uuid
from typing import Any

import boto3
import pytest
from botocore.config import Config
from minio import Minio

from fraudlake.local.stack.service import ServiceRecord

pytestmark = pytest.mark.integration


@pytest.fixture
def bucket() -> str:
    return f"itest-{uuid.uuid4().hex[:8]}"


def minio_client(minio: ServiceRecord) -> Minio:
    host = minio.endpoints["url"].removeprefix("http://")
    creds = minio.credentials
    return Minio(host, access_key=creds["access_key"], secret_key=creds["secret_key"], secure=False)


def s3_client(minio: ServiceRecord) -> Any:  # boto3 clients are generated at run time
    return boto3.client(
        "s3",
        endpoint_url=minio.endpoints["url"],
        aws_access_key_id=minio.credentials["access_key"],
        aws_secret_access_key=minio.credentials["secret_key"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def test_minio_sdk_put_get_list(minio: ServiceRecord, bucket: str) -> None:
    mc = minio_client(minio)
    mc.make_bucket(bucket)
    payload = b"txn_id,amount\n1,9.99\n"
    mc.put_object(bucket, "raw/transactions/part-0.csv", io.BytesIO(payload), len(payload))
    response = mc.get_object(bucket, "raw/transactions/part-0.csv")
    try:
        assert response.read() == payload
    finally:
        response.close()
        response.release_conn()
    listed = [o.object_name for o in mc.list_objects(bucket, prefix="raw/", recursive=True)]
    assert listed == ["raw/transactions/part-0.csv"]


def test_boto3_path_style_put_get_list(minio: ServiceRecord, bucket: str) -> None:
    s3 = s3_client(minio)
    s3.create_bucket(Bucket=bucket)
    for i in range(3):
        s3.put_object(Bucket=bucket, Key=f"lake/raw/cards/{i}.parquet", Body=f"part {i}".encode())
    listed = s3.list_objects_v2(Bucket=bucket, Prefix="lake/raw/")
    assert [o["Key"] for o in listed["Contents"]] == [f"lake/raw/cards/{i}.parquet" for i in range(3)]
    assert s3.get_object(Bucket=bucket, Key="lake/raw/cards/1.parquet")["Body"].read() == b"part 1"


def test_objects_written_by_one_client_are_read_by_the_other(minio: ServiceRecord, bucket: str) -> None:
    s3 = s3_client(minio)
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="models/champion.json", Body=b'{"auc_pr": 0.9}')
    stat = minio_client(minio).stat_object(bucket, "models/champion.json")
    assert stat.size == len(b'{"auc_pr": 0.9}')


def test_wrong_secret_is_refused(minio: ServiceRecord) -> None:
    bad = Minio(
        minio.endpoints["url"].removeprefix("http://"),
        access_key=minio.credentials["access_key"],
        secret_key="not-the-secret",
        secure=False,
    )
    with pytest.raises(Exception, match="SignatureDoesNotMatch"):
        bad.list_buckets()


def test_console_answers(minio: ServiceRecord) -> None:
    with urllib.request.urlopen(minio.endpoints["console"], timeout=5) as resp:  # noqa: S310 - loopback
        assert resp.status == 200

"""Model registry in the object store: versioned directories and a `champion` pointer.

Layout: `s3://<bucket>/<models_prefix>/<version>/<file>` (files: `fraudlake.ml.artifact`) and
`s3://<bucket>/<models_prefix>/champion.json` = {"version", "test_auc_pr", "promoted_at"}.

A version is uploaded file by file with its manifest last, so a reader never trusts a half-written
version. The champion pointer moves only when the candidate has a working review threshold (one that
flags fraud on validation: a model that approves everything is never served) and its test AUC-PR is
strictly higher than the champion's (a missing or unreadable champion counts as none). The API reads through
`load_champion` (numpy + xgboost, no torch).

`challenger.json` names a version the stream scorers score in shadow beside the champion; the shadow
gate (fraudlake.model_monitoring.promotion) promotes it on the shadow period's labels or ends the challenge.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraudlake.ml.artifact import MANIFEST, ArtifactError, FraudModel, verify

CHAMPION = "champion.json"
CHALLENGER = "challenger.json"  # a version scored in shadow beside the champion; {"version": null}: none


class ModelStoreSettings(BaseSettings):
    """Where models live (FRAUDLAKE_* environment variables; in Kubernetes from a Secret or IRSA)."""

    model_config = SettingsConfigDict(env_prefix="FRAUDLAKE_", populate_by_name=True)

    s3_endpoint: str | None = None  # e.g. http://127.0.0.1:9000 (MinIO); None: AWS S3
    s3_access_key: str | None = None  # None: credentials from the AWS environment / IRSA
    s3_secret_key: SecretStr | None = None
    # The bucket's region: FRAUDLAKE_S3_REGION, else the AWS_REGION / AWS_DEFAULT_REGION that EKS sets in
    # pods with an IAM role for their service account (a wrong region fails every request).
    s3_region: str = Field(
        default="us-east-1",
        validation_alias=AliasChoices("FRAUDLAKE_S3_REGION", "AWS_REGION", "AWS_DEFAULT_REGION"),
    )
    lake_bucket: str = "fraudlake"
    models_prefix: str = "models"


class ObjectStore(Protocol):
    """The four operations the registry needs from S3."""

    def put(self, key: str, data: bytes) -> None: ...
    def get(self, key: str) -> bytes | None: ...  # None when the object does not exist
    def list(self, prefix: str) -> list[str]: ...


class MemoryStore:
    """In-process store for tests."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}

    def put(self, key: str, data: bytes) -> None:
        self.objects[key] = bytes(data)

    def get(self, key: str) -> bytes | None:
        return self.objects.get(key)

    def list(self, prefix: str) -> list[str]:
        return sorted(k for k in self.objects if k.startswith(prefix))


class LocalStore:
    """A directory laid out like the bucket (offline runs, `fraudlake train --out`)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_bytes(data)
        tmp.replace(path)  # readers never see half a file

    def get(self, key: str) -> bytes | None:
        path = self.root / key
        return path.read_bytes() if path.is_file() else None

    def list(self, prefix: str) -> list[str]:
        return sorted(
            str(p.relative_to(self.root))
            for p in self.root.rglob("*")
            if p.is_file() and str(p.relative_to(self.root)).startswith(prefix)
        )


class MinioStore:
    """S3 / MinIO through the `minio` client; the first write creates the bucket if it is missing.

    Nothing is asked of the bucket itself at start: a reader (the API, the scorer) may hold only
    GetObject and a prefix-scoped ListBucket, which S3 refuses for HeadBucket. A missing bucket reads
    as an empty store.
    """

    def __init__(self, settings: ModelStoreSettings):
        from minio import Minio
        from minio.credentials import ChainedProvider, EnvAWSProvider, IamAwsProvider

        endpoint = settings.s3_endpoint or "https://s3.amazonaws.com"
        secure = endpoint.startswith("https://")
        host = endpoint.removeprefix("https://").removeprefix("http://").rstrip("/")
        if settings.s3_access_key:
            secret = settings.s3_secret_key.get_secret_value() if settings.s3_secret_key else None
            self.client = Minio(
                host, settings.s3_access_key, secret, secure=secure, region=settings.s3_region
            )
        else:
            provider = ChainedProvider([EnvAWSProvider(), IamAwsProvider()])
            self.client = Minio(host, credentials=provider, secure=secure, region=settings.s3_region)
        self.bucket = settings.lake_bucket

    def put(self, key: str, data: bytes) -> None:
        from minio.error import S3Error

        try:
            self.client.put_object(self.bucket, key, io.BytesIO(data), len(data))
        except S3Error as exc:
            if exc.code != "NoSuchBucket":
                raise
            self.client.make_bucket(self.bucket)
            self.client.put_object(self.bucket, key, io.BytesIO(data), len(data))

    def get(self, key: str) -> bytes | None:
        from minio.error import S3Error

        try:
            resp = self.client.get_object(self.bucket, key)
        except S3Error as exc:
            if exc.code in ("NoSuchKey", "NoSuchBucket"):
                return None
            raise
        try:
            return resp.read()
        finally:
            resp.close()
            resp.release_conn()

    def list(self, prefix: str) -> list[str]:
        from minio.error import S3Error

        try:
            return sorted(
                o.object_name for o in self.client.list_objects(self.bucket, prefix, recursive=True)
            )
        except S3Error as exc:
            if exc.code == "NoSuchBucket":
                return []
            raise


@dataclass(frozen=True)
class PublishOutcome:
    version: str
    uri: str
    promoted: bool
    reason: str
    previous_champion: dict[str, Any] | None


class ModelRegistry:
    def __init__(self, store: ObjectStore, prefix: str = "models", uri_base: str = ""):
        self.store, self.prefix = store, prefix.strip("/")
        self.uri_base = uri_base  # e.g. s3://fraudlake, only for messages

    def _key(self, *parts: str) -> str:
        return "/".join([self.prefix, *parts])

    def upload(self, files: Mapping[str, bytes]) -> str:
        """Upload one version (manifest last); returns the version."""
        version = verify(files)["version"]
        for name in sorted(files, key=lambda n: n == MANIFEST):
            self.store.put(self._key(version, name), files[name])
        return str(version)

    def champion(self) -> dict[str, Any] | None:
        raw = self.store.get(self._key(CHAMPION))
        return json.loads(raw) if raw else None

    def publish(self, files: Mapping[str, bytes]) -> PublishOutcome:
        """Upload the version, then move the champion pointer if it beats the champion's test AUC-PR."""
        return self.promote(self.upload(files))

    def promote(self, version: str) -> PublishOutcome:
        """The champion gate for an uploaded version: promote only on a strictly higher test AUC-PR."""
        raw = self.store.get(self._key(version, MANIFEST))
        if raw is None:
            raise ArtifactError(f"no complete model version {version!r} under {self.prefix}/")
        headline = json.loads(raw)["headline"].get("test_auc_pr")
        candidate = float("nan") if headline is None else float(headline)
        current = self.champion()
        uri = f"{self.uri_base}/{self._key(version)}/"
        if math.isnan(candidate):
            return PublishOutcome(version, uri, False, "candidate has no test AUC-PR", current)
        if not review_works(self.store.get(self._key(version, "decision.json"))):
            return PublishOutcome(version, uri, False, "candidate has no working review threshold", current)
        if current is not None and current["version"] == version:
            return PublishOutcome(version, uri, True, "already the champion", current)
        if current is not None and not candidate > float(current["test_auc_pr"]):
            reason = (
                f"test AUC-PR {candidate:.4f} does not beat champion {current['version']} "
                f"({current['test_auc_pr']:.4f})"
            )
            return PublishOutcome(version, uri, False, reason, current)
        pointer = {"version": version, "test_auc_pr": candidate, "promoted_at": datetime.now(UTC).isoformat()}
        self.store.put(self._key(CHAMPION), json.dumps(pointer).encode())
        reason = (
            "first model" if current is None else f"beats {current['version']} ({current['test_auc_pr']:.4f})"
        )
        return PublishOutcome(version, uri, True, f"promoted: test AUC-PR {candidate:.4f}, {reason}", current)

    def challenger(self) -> dict[str, Any] | None:
        """The version scored in shadow beside the champion, or None."""
        raw = self.store.get(self._key(CHALLENGER))
        pointer = json.loads(raw) if raw else None
        return pointer if pointer and pointer.get("version") else None

    def set_challenger(self, version: str, reason: str) -> None:
        """Shadow `version` beside the champion (scorers pick it up at their next poll)."""
        if self.store.get(self._key(version, MANIFEST)) is None:
            raise ArtifactError(f"no complete model version {version!r} under {self.prefix}/")
        pointer = {"version": version, "reason": reason, "since": datetime.now(UTC).isoformat()}
        self.store.put(self._key(CHALLENGER), json.dumps(pointer).encode())

    def end_challenge(self, outcome: str) -> None:
        """No challenger any more (the object stays, saying why: stores here have no delete)."""
        pointer = {"version": None, "ended": outcome, "at": datetime.now(UTC).isoformat()}
        self.store.put(self._key(CHALLENGER), json.dumps(pointer).encode())

    def promote_challenger(self, version: str, reason: str) -> None:
        """Make the challenger the champion on the shadow gate's evidence, and end the challenge."""
        current = self.challenger()
        if current is None or current["version"] != version:
            raise ArtifactError(f"{version!r} is not the challenger")
        raw = self.store.get(self._key(version, MANIFEST))
        headline = json.loads(raw or b"{}").get("headline", {}).get("test_auc_pr")
        pointer = {
            "version": version,
            # What the next publish must beat; every artifact has it (0 only for a hand-made one).
            "test_auc_pr": float(headline or 0.0),
            "promoted_at": datetime.now(UTC).isoformat(),
            "basis": "shadow",
            "reason": reason,
        }
        self.store.put(self._key(CHAMPION), json.dumps(pointer).encode())
        self.end_challenge(f"promoted: {reason}")

    def versions(self) -> list[str]:
        """Complete versions (those with a manifest), oldest first."""
        keys = self.store.list(self.prefix + "/")
        return sorted(k.split("/")[-2] for k in keys if k.endswith("/" + MANIFEST))

    def files(self, version: str) -> dict[str, bytes]:
        keys = self.store.list(self._key(version) + "/")
        if not keys:
            raise ArtifactError(f"no model version {version!r} under {self.prefix}/")
        return {k.rsplit("/", 1)[1]: self.store.get(k) or b"" for k in keys}

    def load(self, version: str) -> FraudModel:
        return FraudModel(self.files(version))

    def load_champion(self) -> FraudModel | None:
        """The champion model, or None when no model was ever promoted."""
        pointer = self.champion()
        return None if pointer is None else self.load(pointer["version"])


def review_works(decision_json: bytes | None) -> bool:
    """A version's review band is on and caught fraud on validation (`evaluate.Threshold.working`)."""
    if not decision_json:
        return False
    review = json.loads(decision_json).get("thresholds", {}).get("review") or {}
    return (
        review.get("value") is not None and bool(review.get("reachable")) and (review.get("recall") or 0) > 0
    )


def registry_from_settings(settings: ModelStoreSettings | None = None) -> ModelRegistry:
    settings = settings or ModelStoreSettings()
    return ModelRegistry(MinioStore(settings), settings.models_prefix, f"s3://{settings.lake_bucket}")


def load_champion(settings: ModelStoreSettings | None = None) -> FraudModel | None:
    """The API's entry point: the current champion from the configured object store."""
    return registry_from_settings(settings).load_champion()

"""Operator settings from the environment (FRAUDLAKE_OPERATOR_*), loaded once per process.

The scorer's settings are what every pipeline's scorer Deployment shares (the Helm chart's `scorer`
values); each pipeline's spec.scoring may override the image and resources.
"""

from __future__ import annotations

import functools
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """Timings of the reconcile loop and the scorer's defaults; the defaults suit a real cluster, tests
    shorten the timings."""

    model_config = SettingsConfigDict(env_prefix="FRAUDLAKE_OPERATOR_")

    drift_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often the drift timer re-checks children."
    )
    model_health_interval_seconds: float = Field(
        default=300.0,
        gt=0,
        description="How often the ModelHealthy condition is re-read from the latest drift report (the "
        "model_drift DAG writes one an hour).",
    )
    retry_delay_seconds: float = Field(
        default=10.0, gt=0, description="Retry delay while waiting for a dependency."
    )
    request_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of kopf's own API requests."
    )
    metrics_port: int = Field(
        default=9090,
        ge=0,
        le=65535,
        description="Port of the operator's Prometheus /metrics (apart from Kopf's liveness endpoint); "
        "0 binds any free port (tests, several local operators side by side).",
    )

    scorer_image: str = Field(
        default="ghcr.io/fraudlake/fraudlake-scorer:0.1.0",
        description="Image of the scorer pods (Dockerfile.scorer), unless spec.scoring.image overrides it.",
    )
    scorer_image_pull_policy: Literal["Always", "IfNotPresent", "Never"] = "IfNotPresent"
    scorer_resources: dict[str, dict[str, str]] = Field(
        default={"requests": {"cpu": "250m", "memory": "512Mi"}, "limits": {"cpu": "1", "memory": "1Gi"}},
        description="Default requests and limits (JSON); spec.scoring.resources overrides key by key.",
    )
    scorer_model_uri: str = Field(
        default="s3://fraudlake-lake/models/",
        description="The model registry the scorers read (s3://bucket/prefix), like the API's "
        "FRAUDLAKE_MODEL_URI.",
    )
    scorer_s3_endpoint: str | None = Field(
        default=None, description="S3-compatible endpoint of the registry (MinIO); unset: AWS S3."
    )
    scorer_env_secret: str | None = Field(
        default=None,
        description="Secret in each pipeline's namespace whose keys become the scorer's environment "
        "(e.g. FRAUDLAKE_S3_ACCESS_KEY/_SECRET_KEY for MinIO); unset: none (IRSA on EKS).",
    )
    scorer_service_account_annotations: dict[str, str] = Field(
        default_factory=dict,
        description="Annotations of each scorer ServiceAccount (JSON), e.g. the IRSA role that reads "
        "the models.",
    )
    scorer_metrics_port: int = Field(default=9100, ge=1024, le=65535, description="Prometheus /metrics port.")
    scorer_otlp_endpoint: str | None = Field(
        default=None,
        pattern=r"^https?://[^\s/]+",
        description="OpenTelemetry collector (OTLP/HTTP) the scorers send traces to; unset: no tracing.",
    )


@functools.cache
def operator_settings() -> OperatorSettings:
    return OperatorSettings()

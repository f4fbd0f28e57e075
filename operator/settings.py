"""Operator settings from the environment (FRAUDLAKE_OPERATOR_*), loaded once per process."""

from __future__ import annotations

import functools

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class OperatorSettings(BaseSettings):
    """Timings of the reconcile loop; the defaults suit a real cluster, tests shorten them."""

    model_config = SettingsConfigDict(env_prefix="FRAUDLAKE_OPERATOR_")

    drift_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often the drift timer re-checks children."
    )
    retry_delay_seconds: float = Field(
        default=10.0, gt=0, description="Retry delay while waiting for a dependency."
    )
    request_timeout_seconds: float = Field(
        default=30.0, gt=0, description="Timeout of kopf's own API requests."
    )


@functools.cache
def operator_settings() -> OperatorSettings:
    return OperatorSettings()

"""The API's one settings object (environment variables `FRAUDLAKE_*`; in Kubernetes from a Secret).

Loaded and validated once per process, before the app serves (`create_app`): a bad value of any part
(the API's own, the model store's, the agent's) stops the start with one message per bad setting,
naming its variable; a required secret (the API keys) has no default and rejects placeholders such
as `changeme`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, field_validator
from pydantic_settings import NoDecode, SettingsConfigDict

from fraudlake.agent.settings import AgentSettings
from fraudlake.api.ratelimit import AGENT, NOTIFICATION, SQL, Rate
from fraudlake.ml.registry import ModelStoreSettings
from fraudlake.pipeline.spec import SEED_RULES, Rule

MIN_KEY_LENGTH = 16
IN_CLUSTER = "in-cluster"  # FRAUDLAKE_KUBECONFIG value: the pod's service account
_PLACEHOLDER_MARKERS = (
    "changeme",
    "change-me",
    "change_me",
    "placeholder",
    "replace-me",
    "replaceme",
    "your-",
    "your_",
    "xxxx",
    "todo",
    "<",
    ">",
    "${",
)
_PLACEHOLDER_VALUES = {"secret", "password", "apikey", "api-key", "admin", "test", "minioadmin"}


def is_placeholder(value: str) -> bool:
    """True for values that look like a template's stand-in rather than a real secret."""
    lowered = value.strip().lower()
    return lowered in _PLACEHOLDER_VALUES or any(marker in lowered for marker in _PLACEHOLDER_MARKERS)


class ApiSettings(ModelStoreSettings, AgentSettings):
    """Everything the scoring service reads from its environment.

    Composes the model store's settings (`FRAUDLAKE_S3_*`, `FRAUDLAKE_LAKE_BUCKET`,
    `FRAUDLAKE_MODELS_PREFIX`) and the agent's (`FRAUDLAKE_CHROMA_*`, `FRAUDLAKE_LLM_PROVIDER`,
    `FRAUDLAKE_BEDROCK_*`, `FRAUDLAKE_AGENT_*` …), so the process has exactly one settings object and
    the agent gets it as is. `clickhouse_dsn` and `clickhouse_database` are shared with the agent.
    """

    model_config = SettingsConfigDict(env_prefix="FRAUDLAKE_", extra="ignore")

    # Required secret, no default: comma-separated keys (several keys allow rotation without downtime).
    # FRAUDLAKE_API_KEY (one key, the Helm chart's name) is accepted too.
    api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        validation_alias=AliasChoices("FRAUDLAKE_API_KEYS", "FRAUDLAKE_API_KEY", "api_keys")
    )
    # Where the champion pointer lives: s3://bucket/prefix or file:///dir/prefix (a directory laid out
    # like the bucket). Unset: s3://<lake_bucket>/<models_prefix>.
    model_uri: str | None = None
    model_poll_seconds: float = Field(15.0, gt=0)  # how often the champion pointer is re-read
    # Start-up waits this long for the first model before serving (then serves unready: /readyz 503).
    startup_model_wait_seconds: float = Field(30.0, ge=0)
    max_body_bytes: int = Field(2 * 1024 * 1024, ge=1024)  # larger request bodies get 413
    reasons: int = Field(5, ge=1, le=20)  # reasons per scored transaction
    # Reasons from exact TreeSHAP instead of path attributions: same ranking idea, milliseconds slower.
    exact_reasons: bool = False
    seen_txn_ids: int = Field(200_000, ge=1000)  # remembered ids, so a transaction enters the state once
    rules: list[Rule] = Field(default_factory=lambda: list(SEED_RULES))  # the pipeline's window rules
    # Optional Kafka: the transactions topic feeds the feature state, flagged scores go to alerts.
    kafka_bootstrap: str | None = None
    transactions_topic: str | None = None
    alerts_topic: str | None = None
    kafka_group_id: str | None = None  # default: one group per process (every replica needs every txn)
    # The CDC topics of the bank's cards table (comma-separated): a stopped card is declined.
    card_status_topics: Annotated[list[str], NoDecode] = Field(default_factory=list)
    # Optional ClickHouse: cold start of the feature state, and the predictions table.
    clickhouse_dsn: SecretStr | None = None
    clickhouse_database: str = Field("fraudlake", pattern=r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
    cold_start_max_rows: int = Field(0, ge=0)  # 0: no cold start from ClickHouse
    write_predictions: bool = False
    # With write_predictions: the registry's challenger scores each request in shadow, off the response
    # path, into `predictions` (role shadow) for the shadow gate.
    shadow_challenger: bool = True
    sink_queue_size: int = Field(10_000, ge=10)  # scores waiting for the background writers
    sink_batch_size: int = Field(500, ge=1)
    # Optional Kubernetes API, read by GET /v1/pipelines (FraudPipeline resources and their status):
    # `in-cluster` (the pod's service account) or a kubeconfig file. Unset: no pipelines endpoint (503).
    kubeconfig: str | None = None
    # Only this namespace's pipelines are read (a namespaced Role suffices); unset: all namespaces.
    pipelines_namespace: str | None = Field(None, pattern=r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
    # Per-API-key rate limits of the routes that cost money or share one runner (the scoring routes are
    # never limited): sustained requests a minute and the burst allowed at once, per route group.
    # /v1/agent/* (a Bedrock call each), /v1/sql (one serialised runner), /v1/alerts/{id}/notification.
    rate_limit_agent_per_minute: float = Field(20.0, gt=0, allow_inf_nan=False)
    rate_limit_agent_burst: int = Field(5, ge=1)
    rate_limit_sql_per_minute: float = Field(60.0, gt=0, allow_inf_nan=False)
    rate_limit_sql_burst: int = Field(10, ge=1)
    rate_limit_notification_per_minute: float = Field(20.0, gt=0, allow_inf_nan=False)
    rate_limit_notification_burst: int = Field(5, ge=1)
    log_level: str = "INFO"
    # OpenTelemetry collector (OTLP/HTTP, e.g. http://otel-collector:4318): requests, ClickHouse calls and
    # alert produces become spans. Unset: tracing off.
    otlp_endpoint: str | None = Field(None, pattern=r"^https?://[^\s/]+")

    @field_validator("api_keys", "card_status_topics", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("api_keys")
    @classmethod
    def _real_keys(cls, keys: list[SecretStr]) -> list[SecretStr]:
        if not keys:
            raise ValueError("set FRAUDLAKE_API_KEYS to one or more comma-separated keys")
        for i, key in enumerate(keys):
            text = key.get_secret_value()
            if len(text) < MIN_KEY_LENGTH:
                raise ValueError(f"API key #{i + 1} is shorter than {MIN_KEY_LENGTH} characters")
            if is_placeholder(text):
                raise ValueError(f"API key #{i + 1} looks like a placeholder; set a real key")
        return keys

    @field_validator("s3_secret_key")
    @classmethod
    def _real_s3_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and is_placeholder(value.get_secret_value()):
            raise ValueError("looks like a placeholder; set the real secret key (from a Secret)")
        return value

    @field_validator("clickhouse_dsn")
    @classmethod
    def _real_dsn_password(cls, value: SecretStr | None) -> SecretStr | None:
        password = urlsplit(value.get_secret_value()).password if value is not None else None
        if password is not None and is_placeholder(password):
            raise ValueError("the DSN's password looks like a placeholder; set the real one (from a Secret)")
        return value

    @field_validator("model_uri")
    @classmethod
    def _known_scheme(cls, value: str | None) -> str | None:
        if value is not None and urlsplit(value).scheme not in ("s3", "file", ""):
            raise ValueError("use s3://bucket/prefix or file:///path/prefix")
        return value

    @field_validator("kubeconfig")
    @classmethod
    def _kubeconfig_exists(cls, value: str | None) -> str | None:
        if value in (None, IN_CLUSTER) or Path(value).expanduser().is_file():
            return value
        raise ValueError(f"set `{IN_CLUSTER}` or the path of a kubeconfig file; no file at {value}")

    def rate_limits(self) -> dict[str, Rate]:
        """The rate of each limited route group (`fraudlake.api.ratelimit.GROUPS`)."""
        return {
            AGENT: Rate(self.rate_limit_agent_per_minute, self.rate_limit_agent_burst),
            SQL: Rate(self.rate_limit_sql_per_minute, self.rate_limit_sql_burst),
            NOTIFICATION: Rate(self.rate_limit_notification_per_minute, self.rate_limit_notification_burst),
        }

    def model_location(self) -> tuple[str, str, str]:
        """(scheme 's3' | 'file', bucket or root directory, prefix) of the model registry."""
        if self.model_uri is None:
            return "s3", self.lake_bucket, self.models_prefix
        parts = urlsplit(self.model_uri)
        if parts.scheme == "s3":
            return "s3", parts.netloc, parts.path.strip("/") or "models"
        path = Path(parts.path if parts.scheme == "file" else self.model_uri).resolve()
        return "file", str(path.parent), path.name


class SettingsError(RuntimeError):
    """The environment does not configure a runnable API (one line per bad setting, secrets hidden)."""


def load_settings(**overrides: Any) -> ApiSettings:
    """Read the settings once; a bad environment raises SettingsError without echoing any value."""
    from pydantic import ValidationError

    try:
        return ApiSettings(**overrides)
    except ValidationError as exc:
        lines = [f"{_env_name(err['loc'])}: {err['msg']}" for err in exc.errors(include_input=False)]
        raise SettingsError("invalid API settings: " + "; ".join(lines)) from None


def _env_name(loc: tuple[Any, ...]) -> str:
    name = str(loc[0]) if loc else "settings"
    return name if name.startswith("FRAUDLAKE_") else f"FRAUDLAKE_{name.upper()}"

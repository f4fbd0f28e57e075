"""What the agent reads from its environment (``FRAUDLAKE_*``), shared by the API and the indexing DAG.

Like the model store's settings, this is a part of the API's one settings object
(``fraudlake.api.settings.ApiSettings(ModelStoreSettings, AgentSettings)``, validated when the API
starts, not at its first chat); the field names it shares with the API (``clickhouse_dsn``,
``clickhouse_database``) mean the same there. Providers default to ``auto``:
Bedrock when AWS credentials are configured (keys, a profile, or IRSA's web identity in EKS),
otherwise the offline answerer and the packaged MiniLM embeddings.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from fraudlake.agent.embeddings import TITAN_V2

DEFAULT_CLAUDE = "anthropic.claude-3-5-haiku-20241022-v1:0"


class AgentSettings(BaseSettings):
    """The agent's data sources, model providers and limits."""

    model_config = SettingsConfigDict(env_prefix="FRAUDLAKE_", extra="ignore")

    clickhouse_dsn: SecretStr | None = None  # chdb:///path locally, http(s)://… in production
    clickhouse_database: str = "fraudlake"
    chroma_url: str | None = None  # http://host:port of the ChromaDB server; None: no case search
    chroma_collection: str | None = None  # default: fraudlake_<database>
    llm_provider: Literal["auto", "bedrock", "offline"] = "auto"
    embeddings_provider: Literal["auto", "bedrock", "local"] = "auto"
    aws_region: str = "us-east-1"
    aws_profile: str | None = None  # None: the default chain (env keys, IRSA web identity, …)
    bedrock_endpoint_url: str | None = None  # a VPC interface endpoint, if the cluster uses one
    bedrock_model_id: str = DEFAULT_CLAUDE  # Converse model id or inference profile
    bedrock_embedding_model_id: str = TITAN_V2
    bedrock_embedding_dimensions: Literal[256, 512, 1024] = 1024
    bedrock_max_retries: int = Field(default=4, ge=1, le=10)
    agent_sql_max_rows: int = Field(default=200, ge=1, le=10_000)
    agent_sql_timeout_seconds: int = Field(default=10, ge=1, le=300)
    agent_max_tool_calls: int = Field(default=6, ge=1, le=20)
    agent_session_turns: int = Field(default=10, ge=1, le=100)  # user+assistant pairs kept per session
    agent_sessions: int = Field(default=1000, ge=1)  # sessions kept in memory (least recently used dropped)
    agent_case_days: int = Field(default=30, ge=1, le=365)  # how far back indexed cases and profiles reach

    def collection_name(self) -> str:
        return self.chroma_collection or collection_for(self.clickhouse_database)


def collection_for(database: str) -> str:
    """The Chroma collection of one pipeline database."""
    return f"fraudlake_{database}"

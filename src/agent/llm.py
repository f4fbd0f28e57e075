"""Model providers: Bedrock (Converse for Claude, InvokeModel for Titan embeddings) or the offline pair.

``auto`` picks Bedrock only when AWS credentials are configured without asking the network: static
keys, a profile, SSO/process credentials or IRSA's web-identity token in EKS. The EC2 instance
metadata provider is skipped on purpose — probing 169.254.169.254 off AWS only adds a timeout —
so a node-role-only deployment sets ``FRAUDLAKE_LLM_PROVIDER=bedrock`` explicitly.

Retries: the Converse client has botocore retries off because LlamaIndex's Bedrock Converse
integration retries throttling and 5xx itself (tenacity, exponential back-off); the Titan client
uses botocore's standard retry mode since nothing retries above it.
"""

from __future__ import annotations

import logging
from typing import Any

from fraudlake.agent.embeddings import Embedder, MiniLMEmbedder, TitanEmbedder
from fraudlake.agent.settings import AgentSettings

log = logging.getLogger(__name__)

# Skipped when detecting credentials: each would reach out to the network before answering.
_NETWORK_CREDENTIAL_PROVIDERS = ("iam-role",)


def aws_credentials_configured(profile: str | None = None) -> bool:
    """Whether the AWS default chain (minus instance metadata) resolves credentials, offline."""
    import botocore.session
    from botocore.exceptions import BotoCoreError

    try:
        session = botocore.session.Session(profile=profile)
        resolver = session.get_component("credential_provider")
        for name in _NETWORK_CREDENTIAL_PROVIDERS:
            resolver.remove(name)  # a no-op when the chain has no such provider
        return resolver.load_credentials() is not None
    except BotoCoreError as exc:  # e.g. a profile that does not exist
        log.warning("AWS credentials not usable: %s", exc)
        return False


def use_bedrock_llm(settings: AgentSettings) -> bool:
    if settings.llm_provider == "auto":
        return aws_credentials_configured(settings.aws_profile)
    return settings.llm_provider == "bedrock"


def use_bedrock_embeddings(settings: AgentSettings) -> bool:
    if settings.embeddings_provider == "auto":
        return aws_credentials_configured(settings.aws_profile)
    return settings.embeddings_provider == "bedrock"


def bedrock_runtime_client(settings: AgentSettings, max_attempts: int = 1) -> Any:
    """A boto3 ``bedrock-runtime`` client for the configured region, profile and endpoint."""
    import boto3
    from botocore.config import Config

    session = boto3.Session(profile_name=settings.aws_profile, region_name=settings.aws_region)
    config = Config(
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=10,
        read_timeout=120,
        user_agent_extra="fraudlake-agent",
    )
    return session.client("bedrock-runtime", endpoint_url=settings.bedrock_endpoint_url, config=config)


def bedrock_converse_llm(settings: AgentSettings, client: Any | None = None) -> Any:
    """LlamaIndex's Bedrock Converse LLM (tool calling) on `client` or a client from `settings`."""
    from llama_index.llms.bedrock_converse import BedrockConverse

    return BedrockConverse(
        model=settings.bedrock_model_id,
        client=client if client is not None else bedrock_runtime_client(settings),
        region_name=settings.aws_region,
        temperature=0.0,
        max_tokens=1024,
        max_retries=settings.bedrock_max_retries,
        timeout=120.0,
    )


def embedder_from_settings(settings: AgentSettings, client: Any | None = None) -> Embedder:
    """Titan v2 when Bedrock embeddings are configured, otherwise the packaged MiniLM."""
    if use_bedrock_embeddings(settings):
        return TitanEmbedder(
            client
            if client is not None
            else bedrock_runtime_client(settings, max_attempts=settings.bedrock_max_retries),
            settings.bedrock_embedding_model_id,
            settings.bedrock_embedding_dimensions,
        )
    return MiniLMEmbedder()

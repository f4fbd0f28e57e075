"""Who is using the console: the analyst the load balancer signed in, or nobody in local mode.

In production the console sits behind an AWS Application Load Balancer whose OIDC action signs the
analyst in (helm/fraudlake-ui: `auth.mode: alb-oidc`). On every request the ALB adds
`x-amzn-oidc-data`, a JWT it signs with ES256, whose header names the signing ALB (`signer`) and the
key (`kid`) published at `https://public-keys.auth.elb.<region>.amazonaws.com/<kid>`. Anything that
reaches the pod some other way could send that header too, so it is believed only when the
signature verifies with that key, the signer is this console's ALB and the token has not expired.

The analyst's name then travels to the API with every call (`X-Fraudlake-Analyst`), where it is
logged and stored with what they do (`fraudlake.api.deps.Caller`).

Settings (environment, set by the chart):
    FRAUDLAKE_UI_AUTH        none (default: local use, no sign-in) | alb-oidc
    FRAUDLAKE_UI_ALB_ARN     the ALB whose signature is accepted, or its ARN up to `<name>/` (alb-oidc)
    FRAUDLAKE_UI_AWS_REGION  where its public keys are published (alb-oidc)
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key

ALB_DATA_HEADER = "x-amzn-oidc-data"
MODES = ("none", "alb-oidc")
LOCAL = "local"  # the analyst of a console without sign-in
# A key id goes into a URL: accept what AWS issues (UUIDs) and nothing that could change the path.
_KID = re.compile(r"^[A-Za-z0-9-]{1,128}$")
_ES256_SIGNATURE_BYTES = 64  # r || s, 32 bytes each (JWS form, not DER)


class IdentityError(Exception):
    """The request does not prove who is asking; the console shows nothing but this message."""


@dataclass(frozen=True)
class Analyst:
    subject: str
    email: str | None = None
    signed_in: bool = True

    @property
    def name(self) -> str:
        """What audit records and the API's logs show: the e-mail when the IdP gives one."""
        return self.email or self.subject


NOBODY = Analyst(LOCAL, signed_in=False)


@dataclass(frozen=True)
class AuthSettings:
    mode: str = "none"
    alb_arn: str = ""
    region: str = ""

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise IdentityError(f"FRAUDLAKE_UI_AUTH must be one of {', '.join(MODES)}, not {self.mode!r}")
        if self.mode == "alb-oidc" and not (self.alb_arn and self.region):
            raise IdentityError(
                "FRAUDLAKE_UI_AUTH=alb-oidc needs FRAUDLAKE_UI_ALB_ARN and FRAUDLAKE_UI_AWS_REGION"
            )

    def signed_by_our_alb(self, signer: str) -> bool:
        """`alb_arn` is the ALB's ARN, or its prefix up to the name ending in '/' (an ALB the Ingress
        creates gets a random id after its name; a name is unique in an account and region)."""
        if self.alb_arn.endswith("/"):
            return signer.startswith(self.alb_arn) and "/" not in signer.removeprefix(self.alb_arn)
        return signer == self.alb_arn


def settings_from_env() -> AuthSettings:
    return AuthSettings(
        mode=os.environ.get("FRAUDLAKE_UI_AUTH", "none").strip() or "none",
        alb_arn=os.environ.get("FRAUDLAKE_UI_ALB_ARN", "").strip(),
        region=os.environ.get("FRAUDLAKE_UI_AWS_REGION", "").strip(),
    )


KeySource = Callable[[str], str]  # kid -> PEM public key


def analyst_from_headers(
    headers: Mapping[str, str],
    settings: AuthSettings,
    public_key: KeySource,
    now: Callable[[], float] = time.time,
) -> Analyst:
    """The analyst of this request, or IdentityError when sign-in is on and the request does not prove one."""
    if settings.mode == "none":
        return NOBODY
    token = _header(headers, ALB_DATA_HEADER)
    if not token:
        raise IdentityError("not signed in: the request did not come through the console's load balancer")
    return verify_alb_token(token, settings, public_key, now())


def verify_alb_token(token: str, settings: AuthSettings, public_key: KeySource, now: float) -> Analyst:
    """The analyst in an ALB `x-amzn-oidc-data` token, once its signer, signature and expiry check out."""
    parts = token.split(".")
    if len(parts) != 3:
        raise IdentityError("the sign-in token is not a JWT")
    header, claims = _json_part(parts[0]), _json_part(parts[1])
    if header.get("alg") != "ES256":
        raise IdentityError(f"the sign-in token is signed with {header.get('alg')!r}, not the ALB's ES256")
    if not settings.signed_by_our_alb(str(header.get("signer", ""))):
        raise IdentityError("the sign-in token was not signed by this console's load balancer")
    kid = str(header.get("kid", ""))
    if not _KID.match(kid):
        raise IdentityError("the sign-in token names no valid key id")
    _verify_es256(public_key(kid), f"{parts[0]}.{parts[1]}".encode(), _b64decode(parts[2]))
    expires = header.get("exp", claims.get("exp"))
    if not isinstance(expires, int | float) or expires <= now:
        raise IdentityError("the sign-in has expired: reload the page to sign in again")
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject:
        raise IdentityError("the sign-in token names no user")
    email = claims.get("email")
    return Analyst(subject, email if isinstance(email, str) and email else None)


def _verify_es256(pem: str, signed: bytes, signature: bytes) -> None:
    key = load_pem_public_key(pem.encode())
    if not isinstance(key, ec.EllipticCurvePublicKey) or len(signature) != _ES256_SIGNATURE_BYTES:
        raise IdentityError("the sign-in token's signature is not an ES256 signature")
    half = _ES256_SIGNATURE_BYTES // 2
    r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    try:
        key.verify(encode_dss_signature(r, s), signed, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise IdentityError("the sign-in token's signature does not verify") from None


def _json_part(part: str) -> dict[str, Any]:
    try:
        value = json.loads(_b64decode(part))
    except (ValueError, UnicodeDecodeError):
        raise IdentityError("the sign-in token is not a JWT") from None
    if not isinstance(value, dict):
        raise IdentityError("the sign-in token is not a JWT")
    return value


def _b64decode(part: str) -> bytes:
    # The ALB pads its base64url parts with '=' (plain JWT libraries reject that); accept both.
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise IdentityError("the sign-in token is not a JWT") from None


def _header(headers: Mapping[str, str], name: str) -> str | None:
    return next((value for key, value in headers.items() if key.lower() == name), None)


@functools.lru_cache(maxsize=16)
def alb_public_key(region: str, kid: str) -> str:
    """The ALB's public key `kid` (PEM), fetched once per process: keys are immutable per id."""
    url = f"https://public-keys.auth.elb.{region}.amazonaws.com/{kid}"
    try:
        response = httpx.get(url, timeout=5.0)
        response.raise_for_status()
    except httpx.HTTPError as exc:
        raise IdentityError(f"cannot fetch the load balancer's signing key {kid}: {exc}") from None
    return response.text


def current_analyst() -> Analyst:
    """The analyst of this Streamlit session's request (IdentityError when sign-in is on and fails)."""
    import streamlit as st

    settings = settings_from_env()
    return analyst_from_headers(
        dict(st.context.headers), settings, lambda kid: alb_public_key(settings.region, kid)
    )

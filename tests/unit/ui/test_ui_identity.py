"""The console believes an analyst's sign-in only from a token its own load balancer signed."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from fraudlake.api.models import ANALYST_HEADER, analyst_from_header
from fraudlake.ui.client import FraudlakeClient
from fraudlake.ui.identity import (
    ALB_DATA_HEADER,
    NOBODY,
    AuthSettings,
    IdentityError,
    analyst_from_headers,
    verify_alb_token,
)

pytestmark = pytest.mark.unit

ALB = "arn:aws:elasticloadbalancing:eu-west-1:123456789012:loadbalancer/app/fraudlake-ui/50dc6c495c0c9188"
KID = "7b4b7f1c-1d5e-4c3a-9a4f-2f0e8a6d2b11"
NOW = 1_800_000_000.0
SIGN_IN = AuthSettings(mode="alb-oidc", alb_arn=ALB, region="eu-west-1")


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()  # padded, as the ALB writes it


def alb_token(key: ec.EllipticCurvePrivateKey, header: dict[str, Any] | None = None, **claims: Any) -> str:
    """A token shaped like the ALB's x-amzn-oidc-data: ES256 over header.claims, signature r || s."""
    head = {"alg": "ES256", "kid": KID, "signer": ALB, "iss": "https://idp.example", "exp": NOW + 60}
    body = {"sub": "00u1a2b3", "email": "ana@bank.example", "exp": NOW + 60, **claims}
    signed = f"{_b64(json.dumps({**head, **(header or {})}).encode())}.{_b64(json.dumps(body).encode())}"
    r, s = decode_dss_signature(key.sign(signed.encode(), ec.ECDSA(hashes.SHA256())))
    return f"{signed}.{_b64(r.to_bytes(32, 'big') + s.to_bytes(32, 'big'))}"


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def pem_of(key: ec.EllipticCurvePrivateKey) -> str:
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return public.decode()


def keys_of(key: ec.EllipticCurvePrivateKey) -> Any:
    def public_key(kid: str) -> str:
        assert kid == KID
        return pem_of(key)

    return public_key


def test_a_token_the_alb_signed_names_the_analyst(key: ec.EllipticCurvePrivateKey) -> None:
    analyst = verify_alb_token(alb_token(key), SIGN_IN, keys_of(key), NOW)
    assert (analyst.subject, analyst.name, analyst.signed_in) == ("00u1a2b3", "ana@bank.example", True)
    # No e-mail from the IdP: the subject is the name.
    assert verify_alb_token(alb_token(key, email=None), SIGN_IN, keys_of(key), NOW).name == "00u1a2b3"


def test_an_alb_named_by_its_arn_prefix_is_this_consoles_alb(key: ec.EllipticCurvePrivateKey) -> None:
    by_name = AuthSettings(mode="alb-oidc", alb_arn=ALB.rsplit("/", 1)[0] + "/", region="eu-west-1")
    assert verify_alb_token(alb_token(key), by_name, keys_of(key), NOW).signed_in
    for signer in (ALB.replace("fraudlake-ui/", "fraudlake-ui-2/"), ALB + "/extra"):
        with pytest.raises(IdentityError, match="not signed by"):
            verify_alb_token(alb_token(key, {"signer": signer}), by_name, keys_of(key), NOW)


def tampered(token: str) -> str:
    head, claims, signature = token.split(".")
    forged = json.loads(base64.urlsafe_b64decode(claims))
    forged["email"] = "boss@bank.example"
    return f"{head}.{_b64(json.dumps(forged).encode())}.{signature}"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda key, other: tampered(alb_token(key)), "does not verify"),
        (lambda key, other: alb_token(other), "does not verify"),  # another key, same kid
        (
            lambda key, other: alb_token(key, {"signer": ALB.replace("fraudlake-ui", "other")}),
            "not signed by",
        ),
        (lambda key, other: alb_token(key, {"alg": "HS256"}), "not the ALB's ES256"),
        (lambda key, other: alb_token(key, {"alg": "none"}), "not the ALB's ES256"),
        (lambda key, other: alb_token(key, {"kid": "../../evil"}), "no valid key id"),
        (lambda key, other: alb_token(key, {"exp": NOW - 1}), "expired"),
        (lambda key, other: alb_token(key, sub=""), "names no user"),
        (lambda key, other: "not-a-jwt", "not a JWT"),
        (lambda key, other: "a.b.c", "not a JWT"),
    ],
)
def test_anything_else_is_refused(key: ec.EllipticCurvePrivateKey, make: Any, message: str) -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(IdentityError, match=message):
        verify_alb_token(make(key, other), SIGN_IN, keys_of(key), NOW)


def test_with_sign_in_on_a_request_without_the_albs_header_is_refused(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    with pytest.raises(IdentityError, match="not signed in"):
        analyst_from_headers({"host": "ui"}, SIGN_IN, keys_of(key), lambda: NOW)
    token = alb_token(key)
    assert analyst_from_headers({"X-Amzn-Oidc-Data": token}, SIGN_IN, keys_of(key), lambda: NOW).signed_in


def test_without_sign_in_nobody_is_signed_in_whatever_the_headers_say(
    key: ec.EllipticCurvePrivateKey,
) -> None:
    # Local mode ignores the header: a forged one must not turn into a name in audit records.
    headers = {ALB_DATA_HEADER: alb_token(key)}
    assert analyst_from_headers(headers, AuthSettings(), keys_of(key), lambda: NOW) == NOBODY
    assert NOBODY.name == "local"


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"mode": "oauth"}, "must be one of"),
        ({"mode": "alb-oidc", "region": "eu-west-1"}, "FRAUDLAKE_UI_ALB_ARN"),
        ({"mode": "alb-oidc", "alb_arn": ALB}, "FRAUDLAKE_UI_AWS_REGION"),
    ],
)
def test_incomplete_sign_in_settings_are_refused(settings: dict[str, str], message: str) -> None:
    with pytest.raises(IdentityError, match=message):
        AuthSettings(**settings)


def test_the_client_tells_the_api_which_analyst_it_acts_for() -> None:
    seen: list[str | None] = []

    def api(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get(ANALYST_HEADER))
        return httpx.Response(200, json={"status": "ok"})

    client = FraudlakeClient(
        "http://api", "k", transport=httpx.MockTransport(api), analyst="Renée Roe@bank.example"
    )
    client._http.get("/healthz")
    assert seen[0] is not None
    assert analyst_from_header(seen[0]) == "Renée Roe@bank.example"  # what the API reads back


def test_with_sign_in_on_the_console_shows_nothing_to_a_request_that_did_not_sign_in(
    app: Any, fake_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FRAUDLAKE_UI_AUTH", "alb-oidc")
    monkeypatch.setenv("FRAUDLAKE_UI_ALB_ARN", ALB)
    monkeypatch.setenv("FRAUDLAKE_UI_AWS_REGION", "eu-west-1")
    app.run()
    assert not app.exception
    assert any("Sign-in required" in error.value for error in app.error)
    assert not app.tabs
    assert fake_client.calls == []  # nothing was asked of the API


def test_without_sign_in_the_console_says_so(app: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FRAUDLAKE_UI_AUTH", raising=False)
    app.run()
    assert not app.exception
    assert any("no sign-in" in caption.value for caption in app.sidebar.caption)

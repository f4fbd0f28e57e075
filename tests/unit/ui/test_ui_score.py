"""Score tab: form → request body → rendered result; API failures as readable messages."""

from __future__ import annotations

import random

import pytest
from conftest import FakeClient
from streamlit.testing.v1 import AppTest

from fraudlake.api.models import FieldError
from fraudlake.ui.client import ApiError, ApiUnreachableError
from fraudlake.ui.score_tab import DEFAULTS, random_transaction, transaction_from_form

pytestmark = pytest.mark.unit


def _submit(app: AppTest, first_run: bool = True) -> AppTest:
    if first_run:
        app.run()
        assert not app.exception
    app.button(key="FormSubmitter:score_form-Score").click().run()
    assert not app.exception
    return app


def _texts(app: AppTest) -> str:
    parts = [m.value for m in app.markdown] + [c.value for c in app.caption]
    parts += [e.value for e in app.error] + [w.value for w in app.warning] + [i.value for i in app.info]
    return "\n".join(str(p) for p in parts)


def test_form_defaults_build_a_valid_request_body() -> None:
    body = transaction_from_form(DEFAULTS)
    assert body["event_ts"] == "2019-03-14T18:52:00Z"
    assert body["use_chip"] == "Online Transaction"
    assert body["amount"] == 812.4
    assert body["zip"] is None
    assert body["merchant_state"] is None
    assert body["errors"] is None
    assert len(body["txn_id"]) == 32


def test_random_transactions_look_real() -> None:
    rng = random.Random(7)
    for _ in range(50):
        body = transaction_from_form(random_transaction(rng))
        assert 0 < body["amount"] <= 2500
        assert 0 <= body["mcc"] <= 9999
        assert body["use_chip"] != "Online Transaction" or body["merchant_city"] == "ONLINE"
        assert body["zip"] is None or (len(body["zip"]) == 5 and body["zip"].isdigit())


def test_score_form_renders_gauge_decision_reasons_and_rules(app: AppTest, fake_client: FakeClient) -> None:
    _submit(app)
    sent = [arg for name, arg in fake_client.calls if name == "score"]
    assert len(sent) == 1
    assert sent[0]["amount"] == 812.4
    assert sent[0]["mcc"] == 5311
    assert [m.value for m in app.metric] == ["91.0%"]
    assert any("badge[Decline]" in m.value for m in app.markdown)
    assert len(app.get("vega_lite_chart")) >= 2  # gauge + reasons
    assert "burst" in _texts(app)
    assert "SpendBurst" in _texts(app)
    assert not app.error


def test_changed_form_values_are_sent(app: AppTest, fake_client: FakeClient) -> None:
    app.run()
    app.number_input(key="score_amount").set_value(23.5)
    app.selectbox(key="score_use_chip").set_value("Chip Transaction")
    app.text_input(key="score_zip").set_value("91750")
    _submit(app, first_run=False)
    sent = [arg for name, arg in fake_client.calls if name == "score"][-1]
    assert sent["amount"] == 23.5
    assert sent["use_chip"] == "Chip Transaction"
    assert sent["zip"] == "91750"


def test_random_button_fills_the_form(app: AppTest) -> None:
    app.run()
    app.button(key="score_random").click().run()
    assert not app.exception
    assert app.session_state["score_merchant_id"] != DEFAULTS["score_merchant_id"]


@pytest.mark.parametrize(
    ("failure", "expected"),
    [
        (ApiError(401, "unauthorized", "invalid API key"), "Set FRAUDLAKE_API_KEY"),
        (
            ApiError(
                422,
                "validation_error",
                "invalid request",
                fields=[FieldError(field="zip", message="String should match pattern")],
            ),
            "zip",
        ),
        (
            ApiUnreachableError("cannot reach the API at http://127.0.0.1:1: Connection refused"),
            "unreachable",
        ),
    ],
)
def test_api_failures_are_readable_messages(
    app: AppTest, fake_client: FakeClient, failure: Exception, expected: str
) -> None:
    fake_client.failures["score"] = failure
    _submit(app)
    errors = "\n".join(e.value for e in app.error)
    assert expected in errors
    assert "Traceback" not in errors
    assert not app.exception
    assert not app.metric

"""JSON Schema integers in the transaction contract: 7.0 is an integer, "7", true and 7.5 are not,
and 64-bit values are exact at both ends."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import ValidationError

from fraudlake.scoring.models import EXAMPLE_TRANSACTION, TransactionIn

pytestmark = pytest.mark.unit

INT64_MAX = 2**63 - 1


def parse(**fields: Any) -> TransactionIn:
    return TransactionIn.model_validate_json(json.dumps(EXAMPLE_TRANSACTION | fields))


def parse_raw(field: str, literal: str) -> TransactionIn:
    """`field` set to a JSON literal exactly as written (json.dumps would re-spell floats)."""
    body = json.dumps(EXAMPLE_TRANSACTION | {field: 0}).replace(f'"{field}": 0', f'"{field}": {literal}')
    return TransactionIn.model_validate_json(body)


def test_integral_floats_are_integers() -> None:
    assert parse(mcc=5411.0).mcc == 5411


@pytest.mark.parametrize("value", ["5411", True, 5411.5])
def test_strings_booleans_and_fractions_are_not(value: Any) -> None:
    with pytest.raises(ValidationError, match="must be an integer"):
        parse(mcc=value)


def test_int64_bounds_are_exact() -> None:
    assert parse_raw("merchant_name", str(INT64_MAX)).merchant_name == INT64_MAX
    assert parse_raw("merchant_name", "-9223372036854775808").merchant_name == -(2**63)


@pytest.mark.parametrize(
    # The last two are the maximum written with a fraction: as a double that is 2**63, out of range.
    "literal",
    [str(INT64_MAX + 1), "9.3e18", "9223372036854775807.0", "9.223372036854775807e18"],
)
def test_beyond_int64_is_refused(literal: str) -> None:
    with pytest.raises(ValidationError, match="merchant_name"):
        parse_raw("merchant_name", literal)


def test_the_int64_minimum_is_exact() -> None:
    assert parse_raw("merchant_name", "-9223372036854775808.0").merchant_name == -(2**63)

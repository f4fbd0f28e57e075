"""The platform's records: users, cards, transactions (TabFormer/Kaggle columns + platform fields).

Kaggle columns keep their meaning under snake_case names (`Errors?` → `errors`, `Is Fraud?` →
`is_fraud`); CSV quirks are decoded into types (`$12.30` → 12.3, `91750.0` → "91750", `Yes` → true).
Platform identifiers are strings so that every consumer (ClickHouse, the graph, the API) can use
them as opaque keys:

- `user_id` = the TabFormer user number ("0"), `card_id` = "<user>-<card index>" ("0-3"),
  `merchant_id` = the TabFormer 64-bit merchant id in decimal;
- `txn_id` = 32 hex characters, a deterministic hash of (card, minute, position within that minute
  on the card, amount, merchant), so a replay of the same source yields the same ids;
- `event_ts` = the CSV's local date and minute interpreted as UTC;
- `card_token` = HMAC of the card number (`fraudlake.common.card_token`). The card number itself
  and the CVV are never part of any record.
"""

from __future__ import annotations

from fraudlake.schemas.fields import Field, FieldType, RecordSchema

S, I32, I64, F64, B, TS = (
    FieldType.STRING,
    FieldType.INT32,
    FieldType.INT64,
    FieldType.FLOAT64,
    FieldType.BOOL,
    FieldType.TIMESTAMP_MS,
)

_USER_ID = Field("user_id", S, "Platform user id: the TabFormer user number in decimal.")
_CARD_ID = Field("card_id", S, "Platform card id: '<user>-<card index>'.")
_CARD_TOKEN = Field("card_token", S, "HMAC-SHA256 token of the card number ('tok_' + 32 hex); never the PAN.")

TRANSACTIONS = RecordSchema(
    name="transactions",
    record_name="Transaction",
    version=1,
    doc="One card transaction (TabFormer/Kaggle columns plus platform identifiers).",
    key_field="card_id",
    fields=(
        Field("txn_id", S, "Deterministic transaction id (32 hex characters)."),
        Field("event_ts", TS, "Transaction time, UTC, millisecond precision (the source has minutes)."),
        _USER_ID,
        _CARD_ID,
        Field("merchant_id", S, "Platform merchant id: the TabFormer merchant id in decimal."),
        _CARD_TOKEN,
        Field("user", I32, "TabFormer user number.", kaggle="User"),
        Field("card", I32, "Card index within the user.", kaggle="Card"),
        Field("year", I32, "Local calendar year.", kaggle="Year"),
        Field("month", I32, "Local calendar month 1-12.", kaggle="Month"),
        Field("day", I32, "Local day of month.", kaggle="Day"),
        Field("time", S, "Local time of day 'HH:MM'.", kaggle="Time"),
        Field("amount", F64, "Amount in dollars; negative for refunds/reversals.", kaggle="Amount"),
        Field(
            "use_chip",
            S,
            "'Swipe Transaction', 'Chip Transaction' or 'Online Transaction'.",
            kaggle="Use Chip",
        ),
        Field(
            "merchant_name", I64, "TabFormer merchant id (an opaque 64-bit number).", kaggle="Merchant Name"
        ),
        Field("merchant_city", S, "Merchant city, or 'ONLINE'.", kaggle="Merchant City"),
        Field(
            "merchant_state",
            S,
            "US state code or country name; null for online merchants.",
            nullable=True,
            kaggle="Merchant State",
        ),
        Field(
            "zip",
            S,
            "Merchant ZIP code, 5 digits; null outside the US and online.",
            nullable=True,
            kaggle="Zip",
        ),
        Field("mcc", I32, "Merchant category code.", kaggle="MCC"),
        Field(
            "errors",
            S,
            "Comma-separated authorization errors, e.g. 'Bad PIN'; null when none.",
            nullable=True,
            kaggle="Errors?",
        ),
        Field("is_fraud", B, "Fraud label.", kaggle="Is Fraud?"),
    ),
)

CARDS = RecordSchema(
    name="cards",
    record_name="Card",
    version=1,
    doc="A payment card (TabFormer sd254_cards; card number tokenized, CVV dropped).",
    key_field="card_id",
    fields=(
        _CARD_ID,
        _USER_ID,
        _CARD_TOKEN,
        Field("card_last4", S, "Last four digits of the card number (PCI DSS masking)."),
        Field("user", I32, "TabFormer user number.", kaggle="User"),
        Field("card_index", I32, "Card index within the user.", kaggle="CARD INDEX"),
        Field("card_brand", S, "Visa, Mastercard, Amex or Discover.", kaggle="Card Brand"),
        Field("card_type", S, "Credit, Debit or 'Debit (Prepaid)'.", kaggle="Card Type"),
        Field("expires", S, "Expiry 'MM/YYYY'.", kaggle="Expires"),
        Field("has_chip", B, "Whether the card has an EMV chip.", kaggle="Has Chip"),
        Field("cards_issued", I32, "Number of cards issued on the account.", kaggle="Cards Issued"),
        Field("credit_limit", F64, "Credit limit in dollars.", kaggle="Credit Limit"),
        Field("acct_open_date", S, "Account opening month 'MM/YYYY'.", kaggle="Acct Open Date"),
        Field("year_pin_last_changed", I32, "Year the PIN was last changed.", kaggle="Year PIN last Changed"),
        Field("card_on_dark_web", B, "Whether the card was seen on the dark web.", kaggle="Card on Dark Web"),
    ),
)

USERS = RecordSchema(
    name="users",
    record_name="User",
    version=1,
    doc="A card holder (TabFormer sd254_users; the user number is the 0-based row number).",
    key_field="user_id",
    fields=(
        _USER_ID,
        Field("user", I32, "TabFormer user number (row number in sd254_users.csv)."),
        Field("person", S, "Full name (synthetic).", kaggle="Person"),
        Field("current_age", I32, "Age in years.", kaggle="Current Age"),
        Field("retirement_age", I32, "Planned retirement age.", kaggle="Retirement Age"),
        Field("birth_year", I32, "Birth year.", kaggle="Birth Year"),
        Field("birth_month", I32, "Birth month 1-12.", kaggle="Birth Month"),
        Field("gender", S, "Gender.", kaggle="Gender"),
        Field("address", S, "Street address (synthetic).", kaggle="Address"),
        Field("apartment", I32, "Apartment number; null when none.", nullable=True, kaggle="Apartment"),
        Field("city", S, "Home city.", kaggle="City"),
        Field("state", S, "Home state code.", kaggle="State"),
        Field("zipcode", S, "Home ZIP code, 5 digits.", kaggle="Zipcode"),
        Field("latitude", F64, "Home latitude.", kaggle="Latitude"),
        Field("longitude", F64, "Home longitude.", kaggle="Longitude"),
        Field(
            "per_capita_income_zipcode",
            F64,
            "Per-capita income of the ZIP code, dollars.",
            kaggle="Per Capita Income - Zipcode",
        ),
        Field("yearly_income_person", F64, "Yearly income, dollars.", kaggle="Yearly Income - Person"),
        Field("total_debt", F64, "Total debt, dollars.", kaggle="Total Debt"),
        Field("fico_score", I32, "FICO credit score.", kaggle="FICO Score"),
        Field("num_credit_cards", I32, "Number of cards the user holds.", kaggle="Num Credit Cards"),
    ),
)

ALL_RECORDS: dict[str, RecordSchema] = {rec.name: rec for rec in (USERS, CARDS, TRANSACTIONS)}

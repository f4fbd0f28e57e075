-- Cards (TabFormer sd254_cards; fields of fraudlake.schemas.records.CARDS): one row per card, the
-- newest version wins. The card number is kept only as a token and the CVV is never stored.
CREATE TABLE IF NOT EXISTS {{ database }}.cards
(
    card_id               String COMMENT 'Card key: <user>-<card index>',
    user_id               String,
    card_token            String COMMENT 'Tokenized card number',
    card_last4            String COMMENT 'Last four digits (PCI DSS masking)',
    user                  UInt32,
    card_index            UInt16,
    card_brand            LowCardinality(String),
    card_type             LowCardinality(String),
    expires               String COMMENT 'MM/YYYY',
    has_chip              Bool,
    cards_issued          UInt8,
    credit_limit          Float64,
    acct_open_date        String COMMENT 'MM/YYYY',
    year_pin_last_changed UInt16,
    card_on_dark_web      Bool,
    version               UInt64 DEFAULT toUnixTimestamp64Milli(now64(3))
                          COMMENT 'ReplacingMergeTree keeps the highest; default: load time in ms'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY card_id;

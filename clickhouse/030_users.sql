-- Users (TabFormer sd254_users; fields of fraudlake.schemas.records.USERS): one row per user, the
-- newest version wins.
CREATE TABLE IF NOT EXISTS {{ database }}.users
(
    user_id                    String COMMENT 'User key (0-based row of sd254_users)',
    user                       UInt32,
    person                     String,
    current_age                UInt8,
    retirement_age             UInt8,
    birth_year                 UInt16,
    birth_month                UInt8,
    gender                     LowCardinality(String),
    address                    String,
    apartment                  Nullable(UInt32),
    city                       String,
    state                      LowCardinality(String),
    zipcode                    String,
    latitude                   Float64,
    longitude                  Float64,
    per_capita_income_zipcode  Float64,
    yearly_income_person       Float64,
    total_debt                 Float64,
    fico_score                 UInt16,
    num_credit_cards           UInt8,
    version                    UInt64 DEFAULT toUnixTimestamp64Milli(now64(3))
                               COMMENT 'ReplacingMergeTree keeps the highest; default: load time in ms'
)
ENGINE = ReplacingMergeTree(version)
ORDER BY user_id;

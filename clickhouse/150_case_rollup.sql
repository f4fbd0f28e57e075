-- Cases: every flagged transaction (an alert, or a review / decline / rule-fired decision) of a card
-- within one UTC day belongs to one case, `case-<yyyymmdd>-<card_id>` (fraudlake.cases.logic). A
-- tumbling window keyed by (card_id, day) stays correct however late or often alerts arrive: a new
-- alert only adds to its case's aggregate states, nothing is ever moved between cases, and a status
-- update of an alert (a newer row of the same alert) changes no aggregate (uniqExact, max, min, sets).
-- The materialized views fill the rollup as rows are inserted; a queue query merges a few rows per
-- case instead of scanning the alerts. Ordered by day first: the queue reads the recent days only. Rows inserted before this migration are not rolled up
-- (backfill: INSERT INTO case_rollup SELECT … as the views do).
CREATE TABLE IF NOT EXISTS {{ database }}.case_rollup
(
    card_id      String,
    window_start DateTime('UTC') COMMENT 'UTC day the case covers',
    alert_txns   AggregateFunction(uniqExact, String) COMMENT 'Distinct flagged transactions',
    max_score    SimpleAggregateFunction(max, Float32),
    max_amount   SimpleAggregateFunction(max, Float64) COMMENT 'Largest flagged amount known (decisions)',
    first_at     SimpleAggregateFunction(min, DateTime64(3, 'UTC')),
    last_at      SimpleAggregateFunction(max, DateTime64(3, 'UTC')),
    merchants    SimpleAggregateFunction(groupUniqArrayArray, Array(String)),
    sources      SimpleAggregateFunction(groupUniqArrayArray, Array(String)) COMMENT 'model / rule:<name>'
)
ENGINE = AggregatingMergeTree
ORDER BY (window_start, card_id);

-- Alerts from the API and the stream scorer (both write the `alerts` table).
CREATE MATERIALIZED VIEW IF NOT EXISTS {{ database }}.case_rollup_alerts_mv TO {{ database }}.case_rollup AS
SELECT
    card_id,
    toDateTime(toStartOfDay(event_ts, 'UTC'), 'UTC') AS window_start,
    uniqExactState(txn_id) AS alert_txns,
    max(score) AS max_score,
    max(toFloat64(0)) AS max_amount,
    min(event_ts) AS first_at,
    max(event_ts) AS last_at,
    groupUniqArray(merchant_id) AS merchants,
    groupUniqArray(source) AS sources
FROM {{ database }}.alerts
GROUP BY card_id, window_start;

-- The stream scorer's flagged decisions carry the amount the alerts lack (the priority weighs it).
CREATE MATERIALIZED VIEW IF NOT EXISTS {{ database }}.case_rollup_decisions_mv TO {{ database }}.case_rollup AS
SELECT
    card_id,
    toDateTime(toStartOfDay(event_ts, 'UTC'), 'UTC') AS window_start,
    uniqExactState(txn_id) AS alert_txns,
    max(score) AS max_score,
    max(amount) AS max_amount,
    min(event_ts) AS first_at,
    max(event_ts) AS last_at,
    groupUniqArray(merchant_id) AS merchants,
    CAST([], 'Array(String)') AS sources
FROM {{ database }}.decisions
WHERE decision != 'approve' OR rules_fired NOT IN ('', '[]')
GROUP BY card_id, window_start;

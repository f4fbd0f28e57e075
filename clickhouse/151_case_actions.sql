-- The analysts' actions on cases: append-only audit (never updated or deleted). A case's status is
-- its latest action's `status` (no action yet: open).
CREATE TABLE IF NOT EXISTS {{ database }}.case_actions
(
    case_id      String,
    card_id      String,
    window_start DateTime('UTC'),
    action       LowCardinality(String) COMMENT 'confirm_fraud / not_fraud / escalate',
    status       LowCardinality(String) COMMENT 'The case status the action left',
    note         String,
    actor        String COMMENT 'The analyst (or API key identity) who acted',
    at           DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
ORDER BY (case_id, at);

-- A challenger model scores every transaction in shadow beside the champion (fraudlake.stream.engine):
-- its score and decision ride on the champion's decision record and land here, never in `decision`.
-- Empty / NULL when no challenger was being shadowed. The promotion gate
-- (fraudlake.model_monitoring.promotion) compares the two on these rows once their labels are known.
ALTER TABLE {{ database }}.decisions
    ADD COLUMN IF NOT EXISTS shadow_model_version LowCardinality(String) DEFAULT ''
        COMMENT 'The challenger scored in shadow; empty: none',
    ADD COLUMN IF NOT EXISTS shadow_score Nullable(Float32) COMMENT 'The challenger''s calibrated probability',
    ADD COLUMN IF NOT EXISTS shadow_decision LowCardinality(String) DEFAULT ''
        COMMENT 'What the challenger would have decided (not acted on)';

-- The API records the challenger's verdicts as predictions of their own (keyed by txn_id and version),
-- computed off the response path; `role` tells them from the answers it gave.
ALTER TABLE {{ database }}.predictions
    ADD COLUMN IF NOT EXISTS role LowCardinality(String) DEFAULT 'champion'
        COMMENT 'champion: the answer given; shadow: the challenger''s verdict, not acted on';

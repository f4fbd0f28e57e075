-- Whether the scorer's loader of the bank's changes (fraudlake.stream.loader, `--cdc-topics`) is loading:
-- it writes a row when it starts failing (a change ClickHouse cannot follow, e.g. a column renamed in the
-- bank's database: the loader stops at it and loads nothing of it or after it) and when it loads again.
-- The operator turns the latest row into the FraudPipeline condition SourcesLoaded. Only for a pipeline
-- with spec.sources.
{%- if change_data_capture %}
CREATE TABLE IF NOT EXISTS {{ database }}.cdc_load_state
(
    loader  LowCardinality(String) COMMENT 'Which loader: cdc-loader',
    healthy Bool COMMENT 'Its last batch loaded',
    error   String COMMENT 'Why its last batch was refused; empty when healthy',
    at      DateTime64(3, 'UTC') COMMENT 'When the state changed'
)
ENGINE = ReplacingMergeTree(at)
ORDER BY loader;
{%- endif %}

"""Rule backtests: what a candidate set of window rules (`FraudPipeline.spec.rules`) would have done
over the history in a pipeline's ClickHouse database, with the online evaluation's window semantics.

`sql` builds the queries (pure); `runner` sends them through a clickhouse-connect client.
"""

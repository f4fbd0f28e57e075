"""The lake round trip on the local stack: produce → Kafka Connect → MinIO Parquet → the
lake_to_clickhouse DAG → ClickHouse, checked for exactly-once (`fraudlake lake run`, the demo's
lake stages, bench/lake.py)."""

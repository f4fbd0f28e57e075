"""The lake: Kafka → S3/MinIO Parquet (Kafka Connect + Aiven S3 sink) and its layout."""

-- One database per FraudPipeline (spec.clickhouse.database).
CREATE DATABASE IF NOT EXISTS {{ database }};

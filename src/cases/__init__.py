"""Fraud cases: flagged transactions grouped per card and day, the analysts' actions, and the labels
their dispositions produce. `logic` is pure; `store` reads and writes ClickHouse."""

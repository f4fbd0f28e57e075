"""The stream scorer: every transaction on a pipeline's topic decided once, in Kafka transactions.

A Quix Streams application (`engine`) reads the transactions topic in a consumer group, scores each
transaction through the scoring core (`fraudlake.scoring`, the API's code path), and writes one
decision per transaction to the pipeline's decisions topic, an alert for flagged ones and a
dead-letter record for inputs it cannot read (`records`). `cli` is `fraudlake scorer run`.
"""

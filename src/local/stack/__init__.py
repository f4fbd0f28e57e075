"""The local embedded stack: real Kafka, Kafka Connect, MinIO, kube-apiserver, Airflow, ChromaDB
and chDB-backed ClickHouse, run as plain processes on free loopback ports.

`fraudlake stack up` installs what is missing into ``~/.cache/fraudlake/<name>-<version>`` (built
from the package registries by the project's own recipes), starts the services, waits until each
answers, and writes a state file other commands and the tests read their endpoints from.
"""

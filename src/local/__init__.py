"""Everything that exists only to run the platform on one machine.

The local stack's supervision (`stack`), the demo (`demo`), the ClickHouse HTTP server over chDB
(`chdb_http`), the local Strimzi stand-in (`stack.local_strimzi`), the in-process Airflow set-up
(`stack.airflow_home`), the lake round-trip harness (`lake`) and the deploy checks (`deploy`).
Product packages never import it (import-linter contract in pyproject.toml, run by the tests),
and the service images do not ship it (.dockerignore). Its commands join the `fraudlake` CLI
through the `fraudlake.cli` entry-point group (`fraudlake.local.cli:register`).
"""

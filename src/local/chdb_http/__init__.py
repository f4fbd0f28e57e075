"""ClickHouse's HTTP interface in front of the one chDB engine a process may own (`fraudlake
clickhouse serve`): the engine (`engine`), the HTTP server (`server`), the wire details
(`protocol`) and the child process tests and benchmarks start (`process`)."""

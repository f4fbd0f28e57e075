"""ClickHouse access: one client factory for the server (http/https DSN) and in-process chDB."""

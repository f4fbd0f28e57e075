"""`fraudlake clickhouse serve`: the local ClickHouse server (HTTP interface in front of chDB)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

clickhouse_app = typer.Typer(help="ClickHouse: the local server in front of chDB.", no_args_is_help=True)


@clickhouse_app.command()
def serve(
    path: Annotated[Path, typer.Option(help="chDB data directory this process owns (created if missing).")],
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port; 0 picks a free one (printed at start).")] = 8123,
    user: Annotated[str, typer.Option(envvar="FRAUDLAKE_CLICKHOUSE_USER", help="The one user.")] = "default",
    password: Annotated[
        str, typer.Option(envvar="FRAUDLAKE_CLICKHOUSE_PASSWORD", help="Its password.", show_default=False)
    ] = "",
    users_file: Annotated[
        Path | None,
        typer.Option(
            help="ClickHouse users.xml whose `default` user (settings profile, grants) every request runs as."
        ),
    ] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log every request.")] = False,
) -> None:
    """Serve ClickHouse's HTTP interface on one chDB data directory until SIGTERM/SIGINT.

    Locally exactly one process owns a chDB data directory; this is that process, and everything
    else connects with an http://user:password@host:port DSN as to a real ClickHouse server.
    """
    from fraudlake.local.chdb_http.server import serve as serve_http

    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    serve_http(path, host, port, user, password, users_file)

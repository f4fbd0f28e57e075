"""`fraudlake api serve`: the scoring API under uvicorn, one worker.

Nothing of the API is imported at module level, so `fraudlake --help` stays fast.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

api_app = typer.Typer(
    help="Scoring API (FastAPI): real-time fraud scores with reasons.", no_args_is_help=True
)
console = Console(stderr=True)


@api_app.command()
def serve(
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 in a container).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
) -> None:
    """Serve the API with one uvicorn worker (settings from FRAUDLAKE_* environment variables).

    One worker by design: the online feature state lives in the process; scale out with replicas.
    """
    import uvicorn

    from fraudlake.api.logs import configure_logging
    from fraudlake.api.main import create_app
    from fraudlake.api.settings import SettingsError, load_settings

    try:
        settings = load_settings()
    except SettingsError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=2) from None
    configure_logging(settings.log_level)
    uvicorn.run(create_app(settings), host=host, port=port, workers=1, log_config=None, access_log=False,
                server_header=False, proxy_headers=True)  # fmt: skip

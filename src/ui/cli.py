"""`fraudlake ui serve`: the analyst console under `streamlit run`, themed, headless.

Nothing of the UI is imported at module level: `fraudlake` runs in images without the `ui` extra.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

APP_PATH = Path(__file__).with_name("app.py")
ui_app = typer.Typer(help="Analyst console (Streamlit) over the scoring API.", no_args_is_help=True)


def streamlit_command(port: int, address: str) -> list[str]:
    """The `streamlit run` argv for the console: headless, no usage stats, the project's theme.

    It runs through `fraudlake.ui.server`, which starts the console's /metrics before Streamlit.
    """
    from fraudlake.ui.theme import STREAMLIT_THEME

    flags = {
        "server.port": str(port),
        "server.address": address,
        "server.headless": "true",
        "browser.gatherUsageStats": "false",
        **STREAMLIT_THEME,
    }
    return [
        sys.executable,
        "-m",
        "fraudlake.ui.server",
        "run",
        str(APP_PATH),
        *(f"--{k}={v}" for k, v in flags.items()),
    ]


@ui_app.command()
def serve(
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8501,
    address: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
    api_url: Annotated[
        str | None, typer.Option(help="Scoring API base URL (default: $FRAUDLAKE_API_URL or localhost:8000).")
    ] = None,
) -> None:
    """Run the console until interrupted; the API key comes from $FRAUDLAKE_API_KEY."""
    from fraudlake.ui.client import DEFAULT_API_URL

    env = dict(os.environ)
    env["FRAUDLAKE_API_URL"] = api_url or env.get("FRAUDLAKE_API_URL", DEFAULT_API_URL)
    # exec: Ctrl-C and signals go straight to Streamlit, no wrapper process left behind.
    os.execve(sys.executable, streamlit_command(port, address), env)  # noqa: S606 - fixed argv, no shell

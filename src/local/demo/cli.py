"""`fraudlake demo`: the README's first command."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from fraudlake.local.stack.paths import default_stack_dir


def demo(
    rows: Annotated[int, typer.Option(help="Transactions to generate and stream.")] = 200_000,
    seed: Annotated[int, typer.Option(help="Generator seed (same seed, same data).")] = 42,
    clean: Annotated[bool, typer.Option(help="Stop the stack and delete its data first.")] = False,
    serve: Annotated[bool, typer.Option(help="Keep the API and UI running until Ctrl-C.")] = True,
    live: Annotated[int, typer.Option(help="Live transactions to score through the API.")] = 200,
    keep_stack: Annotated[bool, typer.Option(help="Leave the services running at the end.")] = False,
    stack_dir: Annotated[
        Path | None,
        typer.Option(envvar="FRAUDLAKE_STACK_DIR", help="Run folder [default: ./.fraudlake/stack]."),
    ] = None,
) -> None:
    """Run the whole platform end to end on the local stack of real services."""
    from fraudlake.local.demo.runner import DemoOptions, run_demo
    from fraudlake.local.demo.stages import StageError
    from fraudlake.local.stack.errors import StackError

    console = Console()
    options = DemoOptions(stack_dir or default_stack_dir(), rows, seed, clean, serve, live, keep_stack)
    try:
        run_demo(options, console)
    except StageError as exc:
        console.print(f"[red]error:[/] {exc}")
        raise typer.Exit(code=1) from None
    except StackError as exc:
        console.print(f"[red]error:[/] stage '1. stack' failed: {exc}")
        raise typer.Exit(code=1) from None
